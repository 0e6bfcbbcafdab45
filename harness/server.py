"""A server under test in a subprocess of its own: started, waited for, stopped by its PID.

Its output goes to a log file; the tail is shown when it dies or never
listens. Used for ``rooms serve`` by the tests, the benchmark and the soak,
and for the benchmark's bare uvicorn endpoint.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Self

from harness.ports import HOST, free_port

ROOMS = str(Path(sys.executable).with_name("rooms"))  # the console script beside this Python


def clean_env(**settings: str) -> dict[str, str]:
    """This process's environment without any ROOMS_* variable, plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMS_")}
    env.update(settings)
    return env


def server_env(
    database_url: str, redis_url: str, data_dir: Path, secret: str, **extra: str
) -> dict[str, str]:
    """What a ``rooms serve`` of a test, benchmark or soak runs with: its servers, its secret."""
    return clean_env(
        ROOMS_DATABASE_URL=database_url,
        ROOMS_REDIS_URL=redis_url,
        ROOMS_JWT_SECRET=secret,
        ROOMS_DATA_DIR=str(data_dir),
        **extra,
    )


def rooms_serve(port: int, *args: str, wrapper: Sequence[str] = ()) -> list[str]:
    """The command line of ``rooms serve`` on 127.0.0.1:``port`` (``wrapper``: a profiler...)."""
    return [*wrapper, ROOMS, "serve", "--host", HOST, "--port", str(port), *args]


class ServerProcess:
    """``argv`` listening on ``port`` of 127.0.0.1, until :meth:`stop`."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        env: Mapping[str, str],
        cwd: Path,
        log_path: Path,
        port: int | None = None,
        name: str = "rooms serve",
    ) -> None:
        self.name = name
        self.port = port if port is not None else free_port()
        self.url = f"ws://{HOST}:{self.port}/ws"
        self.log_path = log_path
        with log_path.open("ab") as sink:  # the child keeps its own descriptor
            self.process = subprocess.Popen(
                list(argv), env=dict(env), cwd=cwd, stdout=sink, stderr=subprocess.STDOUT
            )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 30) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    def wait_listening(self, timeout_s: float = 120.0) -> Self:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"{self.name} exited with {self.process.returncode}:\n{self.tail()}"
                )
            try:
                with socket.create_connection((HOST, self.port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not listen on {self.port} in time:\n{self.tail()}")

    def wait_exit(self, timeout_s: float = 60.0) -> int:
        return self.process.wait(timeout_s)

    def terminate(self, timeout_s: float = 60.0) -> int:
        """SIGTERM (the server drains and closes its sockets) and its exit status;
        SIGKILL and ``TimeoutExpired`` if it does not exit in time."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise

    def stop(self, timeout_s: float = 60.0) -> int:
        """Teardown: SIGTERM, SIGKILL if it will not go; the exit status."""
        try:
            return self.terminate(timeout_s)
        except subprocess.TimeoutExpired:
            return self.process.returncode

    def peak_rss_bytes(self) -> int:
        """The process's peak resident memory so far (0 once it is gone)."""
        try:
            return rss_bytes(self.pid, "VmHWM")
        except (OSError, LookupError):
            return 0

    def __enter__(self) -> Self:
        try:
            return self.wait_listening()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def rss_bytes(pid: int, field: str = "VmRSS") -> int:
    """Resident memory of a process (``VmHWM``: its peak so far), from /proc."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise LookupError(f"no {field} for pid {pid}")
