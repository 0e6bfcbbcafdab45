"""The ``rooms serve`` under soak: started, watched for crashes (and restarted), stopped.

Its log goes to a file in the run's directory; its peak resident memory is
read from /proc (``VmHWM``) just before each stop or after each crash, so
the report shows the worst over every process the run started.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

from harness.server import ServerProcess, rooms_serve

READY_WAIT_S = 60.0
STOP_WAIT_S = 60.0


class SoakServer:
    def __init__(self, env: dict[str, str], work_dir: Path, port: int) -> None:
        self._env = env
        self._work_dir = work_dir
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ws"
        self.log_path = work_dir / "server.log"
        self._process: ServerProcess | None = None
        self.crashes = 0
        self.peak_rss_bytes = 0
        self.exit_codes: list[int] = []

    async def start(self) -> None:
        await asyncio.to_thread(self._spawn)

    def _spawn(self) -> None:
        # Every start appends to the same log: the report reads the whole run.
        self._process = ServerProcess(
            rooms_serve(self.port),
            env=self._env,
            cwd=self._work_dir,
            log_path=self.log_path,
            port=self.port,
        )
        self._process.wait_listening(READY_WAIT_S)

    async def watch(self, stop: asyncio.Event) -> None:
        """Until ``stop``: a server that died is a crash, counted and started again."""
        while not stop.is_set():
            process = self._process
            if process is not None and process.process.poll() is not None:
                self.crashes += 1
                self.exit_codes.append(process.process.returncode)
                await self.start()
            else:
                self._sample_peak()
            await asyncio.sleep(0.5)

    async def stop(self) -> int | None:
        """SIGTERM and wait (SIGKILL past the wait); the exit code, None if it was gone."""
        process, self._process = self._process, None
        if process is None:
            return None
        self._sample_peak(process)
        code = await asyncio.to_thread(process.stop, STOP_WAIT_S)
        self.exit_codes.append(code)
        return code

    def _sample_peak(self, process: ServerProcess | None = None) -> None:
        process = process or self._process
        if process is not None:
            self.peak_rss_bytes = max(self.peak_rss_bytes, process.peak_rss_bytes())


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
