"""What every phase shares: services, users, their tokens, and server launchers."""

from __future__ import annotations

import os
import secrets
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks.options import Options
from benchmarks.process import ServerProcess, clean_env, free_port, rooms_serve
from benchmarks.services import Services

# No client-side limit on the server's own knobs may shape the figures: the
# rate limit is for abusive clients, and each benchmark user opens one socket.
UNLIMITED_RATE = "1000000"
CONNECTION_HEADROOM = 1000


@dataclass(frozen=True, slots=True)
class Bench:
    options: Options
    scratch: Path
    services: Services
    secret: str
    user_ids: list[uuid.UUID]
    tokens: list[str]

    @staticmethod
    def new_secret() -> str:
        return secrets.token_urlsafe(32)

    def server_env(self) -> dict[str, str]:
        """The caller's environment without its ROOMS_* settings, plus the run's own."""
        env = clean_env()
        env.update(
            ROOMS_DATABASE_URL=self.services.dsn,
            ROOMS_REDIS_URL=self.services.redis_url,
            ROOMS_JWT_SECRET=self.secret,
            ROOMS_DATA_DIR=str(self.scratch / "rooms-data"),
            ROOMS_MAX_CONNECTIONS_PER_USER="16",
            ROOMS_MAX_CONNECTIONS=str(self._most_connections() + CONNECTION_HEADROOM),
            ROOMS_RATE_PER_SECOND=UNLIMITED_RATE,
            ROOMS_RATE_BURST=UNLIMITED_RATE,
            ROOMS_USER_CREATES_PER_MINUTE=UNLIMITED_RATE,
        )
        env.update(self.options.server_env)
        return env

    def _most_connections(self) -> int:
        opts = self.options
        return max(max(opts.idle_levels), opts.crowd_rooms * opts.crowd_members)

    def rooms_server(
        self, label: str, *, workers: int | None = None, env: dict[str, str] | None = None
    ) -> ServerProcess:
        """A fresh ``rooms serve`` (each phase starts from an empty process).

        ``workers`` overrides ``--workers``; ``env`` adds settings to the run's own.
        """
        port = free_port()
        count = self.options.workers if workers is None else workers
        args = ["--workers", str(count)] if count != 1 else []
        return ServerProcess(
            rooms_serve(port, *args, wrapper=self.options.server_wrapper),
            port=port,
            env={**self.server_env(), **(env or {})},
            cwd=self.scratch,  # no stray .env file from the caller's directory
            log_path=self.scratch / f"rooms-{label}.log",
            name=f"rooms serve ({label})",
        )

    def bare_server(self) -> ServerProcess:
        port = free_port()
        return ServerProcess(
            [sys.executable, "-m", "benchmarks.bare_app", "--port", str(port)],
            port=port,
            env={**os.environ, "PYTHONPATH": _with_repo_root(os.environ.get("PYTHONPATH"))},
            cwd=self.scratch,
            log_path=self.scratch / "bare.log",
            name="bare FastAPI/uvicorn endpoint",
        )


def _with_repo_root(pythonpath: str | None) -> str:
    """PYTHONPATH that finds ``benchmarks`` whatever the working directory."""
    root = str(Path(__file__).resolve().parent.parent)
    return f"{root}{os.pathsep}{pythonpath}" if pythonpath else root
