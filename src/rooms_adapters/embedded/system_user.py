"""Who runs an embedded server: the current user, or a system user when we are root.

Servers such as PostgreSQL refuse to run as root; as root, files the server
owns are handed to the system user and its processes run as that user.
"""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import stat
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import IO

logger = logging.getLogger(__name__)

POSTGRES_SYSTEM_USER = "embedded_postgres"


@dataclass(frozen=True, slots=True)
class SystemUser:
    """``uid``/``gid`` to switch to, or None when running as ourselves."""

    name: str | None
    uid: int | None = None
    gid: int | None = None

    @classmethod
    def for_postgres(cls) -> SystemUser:
        if os.geteuid() != 0:
            return cls(None)
        try:
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        except KeyError:
            _create_system_user(POSTGRES_SYSTEM_USER)
            entry = pwd.getpwnam(POSTGRES_SYSTEM_USER)
        return cls(POSTGRES_SYSTEM_USER, entry.pw_uid, entry.pw_gid)

    def take(self, path: Path) -> None:
        """Give ``path`` (not its contents) to this user."""
        if self.uid is not None and self.gid is not None:
            os.chown(path, self.uid, self.gid)

    def run(self, args: list[str], *, cwd: Path) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            args,
            cwd=cwd,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            check=False,
            user=self.uid,
            group=self.gid,
            extra_groups=self._extra_groups(),
            umask=self._umask(),
        )

    def popen(self, args: list[str], *, cwd: Path, stdout: IO[bytes]) -> subprocess.Popen[bytes]:
        # A session of its own: a Ctrl-C meant for us must not reach the server;
        # stopping it is the caller's job, done in order.
        return subprocess.Popen(
            args,
            cwd=cwd,
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            user=self.uid,
            group=self.gid,
            extra_groups=self._extra_groups(),
            umask=self._umask(),
        )

    def _extra_groups(self) -> list[int] | None:
        # When switching, drop root's supplementary groups too.
        return None if self.uid is None else []

    def _umask(self) -> int:
        return -1 if self.uid is None else 0o077  # -1: leave the umask alone


def ensure_traversable(path: Path, user: SystemUser) -> None:
    """Let ``user`` reach ``path``: add the search (x) bit where a parent lacks it.

    Only search, never read: listing the parents stays as private as it was.
    """
    if user.uid is None:
        return
    for parent in path.resolve().parents:
        mode = parent.stat().st_mode
        if parent.stat().st_uid != user.uid and not mode & stat.S_IXOTH:
            logger.warning("allowing other users to traverse %s (for %s)", parent, user.name)
            parent.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)


def _create_system_user(name: str) -> None:
    useradd = shutil.which("useradd")
    if useradd is None:
        raise RuntimeError(f"running as root needs a system user {name!r}, and useradd is missing")
    subprocess.run(
        [useradd, "--system", "--user-group", "--no-create-home", "--shell", "/bin/false", name],
        check=True,
        capture_output=True,
    )


def _server_env() -> dict[str, str]:
    # PG* variables (PGDATA, PGPORT, ...) meant for clients must not steer the server.
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["LC_ALL"] = "C"
    return env
