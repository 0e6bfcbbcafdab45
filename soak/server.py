"""The ``rooms serve`` under soak: started, watched for crashes (and restarted), stopped.

Its log goes to a file in the run's directory; its peak resident memory is
read from /proc (``VmHWM``) just before each stop or after each crash, so
the report shows the worst over every process the run started.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOMS = str(Path(sys.executable).with_name("rooms"))
READY_WAIT_S = 60.0
STOP_WAIT_S = 60.0


class SoakServer:
    def __init__(self, env: dict[str, str], work_dir: Path, port: int) -> None:
        self._env = env
        self._work_dir = work_dir
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.log_path = work_dir / "server.log"
        self._process: subprocess.Popen[bytes] | None = None
        self.crashes = 0
        self.peak_rss_bytes = 0
        self.exit_codes: list[int] = []

    async def start(self) -> None:
        await asyncio.to_thread(self._spawn)

    def _spawn(self) -> None:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [ROOMS, "serve", "--port", str(self.port)],
                env=self._env,
                cwd=self._work_dir,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + READY_WAIT_S
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"rooms serve did not start; see {self.log_path}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"rooms serve did not listen within {READY_WAIT_S}s")

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a server that died is a crash, counted and started again."""
        while not stop.is_set():
            process = self._process
            if process is not None and process.poll() is not None:
                self.crashes += 1
                self.exit_codes.append(process.returncode)
                await self.start()
            else:
                self._sample_peak()
            await asyncio.sleep(0.5)

    async def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL past the wait); the exit code, None if it was gone."""
        process, self._process = self._process, None
        if process is None:
            return None
        self._sample_peak()
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                await asyncio.to_thread(process.wait, STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                await asyncio.to_thread(process.wait)
        self.exit_codes.append(process.returncode)
        return process.returncode

    def _sample_peak(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        peak = _vm_hwm(process.pid)
        self.peak_rss_bytes = max(self.peak_rss_bytes, peak)


def _vm_hwm(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass  # gone between the check and the read
    return 0


def log_summary(path: Path) -> tuple[Counter[str], list[str]]:
    """Lines of a JSON-lines log by level, and one summary per line with a traceback."""
    levels: Counter[str] = Counter()
    tracebacks = []
    with path.open(errors="replace") as log:
        for line in log:
            try:
                record = json.loads(line)
            except ValueError:
                levels["not json"] += 1
                continue
            levels[str(record.get("level"))] += 1
            if "traceback" in record:
                last = str(record["traceback"]).strip().splitlines()[-1]
                tracebacks.append(f"{record.get('logger')}: {record.get('msg')} | {last}")
    return levels, tracebacks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(dsn: str, redis_url: str, data_dir: Path, secret: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROOMS_")}
    env.update(
        ROOMS_DATABASE_URL=dsn,
        ROOMS_REDIS_URL=redis_url,
        ROOMS_JWT_SECRET=secret,
        ROOMS_DATA_DIR=str(data_dir),
        # Each soak client creates rooms far faster than a person would.
        ROOMS_USER_CREATES_PER_MINUTE="1000000",
    )
    return env
