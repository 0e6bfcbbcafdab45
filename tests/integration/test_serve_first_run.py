"""The first hour: ``rooms serve`` as ``make run`` invokes it (no settings, embedded services).

A busy port is one line naming the setting to change (the README's Quick
start shows the same line); Ctrl-C (SIGINT to the whole process group, as a
terminal sends it) stops the server first and the embedded services after,
without a false alarm about Redis in between.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from harness.ports import free_port
from harness.server import ROOMS, clean_env
from harness.services import scratch_dir
from tests.integration.server_process import run_cli

pytestmark = pytest.mark.integration

README = Path(__file__).resolve().parents[2] / "README.md"


def test_a_busy_port_is_one_line_naming_the_setting_and_no_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = clean_env(ROOMS_DATA_DIR=str(tmp_path / "data"), ROOMS_PORT=str(port))
        done = run_cli("serve", env=env, cwd=tmp_path, timeout_s=60)
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.splitlines() == [
        f"rooms: port {port} is already in use; set ROOMS_PORT to a free one,"
        f" e.g. ROOMS_PORT={port + 1} make run"
    ]
    # Refused before the embedded servers took their time: neither was set up.
    assert not (tmp_path / "data" / "postgres").exists()
    assert not (tmp_path / "data" / "redis").exists()


def test_the_quick_start_shows_how_to_change_the_port() -> None:
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    assert "ROOMS_PORT=8001 make run" in quick_start


def test_ctrl_c_stops_the_server_before_the_embedded_services(tmp_path: Path) -> None:
    # Outside pytest's tmp tree: pytest makes it 0700 again whenever a session
    # starts, and the embedded PostgreSQL runs as another user when we are root.
    with scratch_dir("rooms-first-run-") as data:
        _ctrl_c_on_embedded_services(data, tmp_path / "serve.log")


def _ctrl_c_on_embedded_services(data: Path, log_path: Path) -> None:
    port = free_port()
    env = clean_env(ROOMS_DATA_DIR=str(data), ROOMS_PORT=str(port))
    with log_path.open("wb") as log:
        # A process group of its own, as a shell gives ``make run``: the
        # SIGINT below goes to that group, never to the test runner.
        process = subprocess.Popen(
            [ROOMS, "serve"],
            env=env,
            cwd=log_path.parent,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        _wait_for(log_path, "rooms is serving", process)
        os.killpg(process.pid, signal.SIGINT)
        status = process.wait(120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            _kill_left_over_services(data)
    log = log_path.read_text(errors="replace")
    assert status == 0, log
    assert "Redis unavailable" not in log
    assert "Traceback" not in log
    # Both embedded servers were stopped by the server, after it had finished.
    assert not (data / "redis" / "redis.pid").exists()
    assert not (data / "postgres" / "pgdata" / "postmaster.pid").exists()


def _wait_for(log_path: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 180  # the first start runs initdb
    while text not in log_path.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} in the log:\n{log_path.read_text()}")
        time.sleep(0.1)


def _kill_left_over_services(data: Path) -> None:
    """After a failed run: the embedded servers (sessions of their own) by their PID files."""
    for pid_file in (data / "redis" / "redis.pid", data / "postgres" / "pgdata" / "postmaster.pid"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGKILL)
