"""Typed settings from ``ROOMS_*`` environment variables (and a ``.env`` file).

The first block is the public contract (README, Settings): names and defaults
are relied upon by operators and tests. The second block holds internal
tunables; they are settable the same way but carry no promise.

:func:`load_settings` is the one entry point: it turns pydantic's errors into
lines that name the environment variable an operator has to fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

ENV_PREFIX = "ROOMS_"

# Origins browsers may connect from when the service runs on embedded services,
# i.e. on a developer's machine.
DEVELOPMENT_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*")

_ORIGIN_PATTERN = re.compile(r"^(https?)://[^/\s:]+(:(\d{1,5}|\*))?$", re.IGNORECASE)


class SettingsError(ValueError):
    """The environment holds an invalid setting; the message names each variable."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_file=".env",
        env_file_encoding="utf-8",
        # `ROOMS_DATABASE_URL=` in a .env file means "not set", not "the empty DSN".
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    # --- public: README, Settings -----------------------------------------------
    database_url: str | None = None
    redis_url: str | None = None
    data_dir: Path = Path("./.rooms-data")
    jwt_secret: SecretStr | None = None
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    # NoDecode: a comma-separated list, not the JSON pydantic-settings expects.
    allowed_origins: Annotated[tuple[str, ...] | None, NoDecode] = None
    max_message_bytes: int = Field(default=65536, ge=1024, le=16 * 1024 * 1024)
    rate_per_second: float = Field(default=20.0, gt=0, le=1_000_000)
    rate_burst: int = Field(default=40, ge=1, le=1_000_000)
    max_connections_per_user: int = Field(default=8, ge=1)
    max_connections: int = Field(default=10000, ge=1)
    metrics_port: int | None = Field(default=None, ge=1, le=65535)
    # Not ROOMS_HOST: a server exposed on 0.0.0.0 keeps its metrics private.
    metrics_host: str = "127.0.0.1"
    # create_room requests one user may make per minute on one process (any sockets).
    user_creates_per_minute: int = Field(default=30, ge=1, le=1_000_000)
    # Clock skew allowed between the token issuer and this server, on exp, iat and nbf.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=3600)
    # The upgrade request's line and headers together, and the time from
    # accepting the TCP connection to the handshake's answer.
    max_handshake_bytes: int = Field(default=16384, ge=1024, le=1024 * 1024)
    handshake_timeout_seconds: float = Field(default=10.0, gt=0, le=600)
    # WebSocket keepalive (lobby): a ping every interval, no pong within the
    # same interval and the connection is dropped.
    ping_interval_seconds: float = Field(default=15.0, gt=0, le=3600)
    # Housekeeping (docs/operations.md): a sweep round every interval; closed
    # rooms and finished idempotency rows deleted after their retention.
    sweep_interval_seconds: float = Field(default=5.0, gt=0, le=3600)
    closed_room_retention_seconds: int = Field(default=86400, ge=1, le=366 * 86400)
    idempotency_retention_seconds: int = Field(default=86400, ge=1, le=366 * 86400)
    # Presence (lobby): a disconnected player's seat is held this long; a
    # dead instance's users count as disconnected within the timeout.
    seat_hold_seconds: float = Field(default=60.0, ge=1, le=86400)
    presence_timeout_seconds: float = Field(default=30.0, ge=1, le=3600)

    # --- internal tunables ------------------------------------------------
    max_code_draws: int = Field(default=8, ge=1, le=1000)
    # The Redis time bound: each call of the live-state cache and of the event
    # bus (a create's cache write, its subscription's confirmation, a publish).
    redis_timeout_s: float = Field(default=0.5, gt=0, le=30)
    # How long the cache, or the event bus (each has its own breaker), leaves
    # Redis alone after a failure before one trial call.
    redis_breaker_open_s: float = Field(default=5.0, gt=0, le=600)
    db_pool_min_size: int = Field(default=1, ge=0, le=1000)
    db_pool_max_size: int = Field(default=10, ge=1, le=1000)
    # Bound on acquiring a connection and on each statement: past it, `unavailable`.
    db_timeout_s: float = Field(default=5.0, gt=0, le=300)
    # SIGTERM: how long requests in flight may take before sockets are closed anyway.
    shutdown_grace_s: float = Field(default=10.0, ge=0, le=600)
    # A client that does not take a frame within this time is a slow consumer (4009).
    send_timeout_s: float = Field(default=5.0, gt=0, le=300)
    outbox_size: int = Field(default=256, ge=1, le=100_000)
    # Consecutive rate-limited frames after which the connection is closed (4008).
    rate_abuse_strikes: int = Field(default=100, ge=1)
    # Pings and pongs a client may send (token bucket): generous, since a client
    # needs a few a minute; past it the connection is closed with 4008.
    control_frames_per_second: float = Field(default=10.0, gt=0, le=1_000_000)
    control_frames_burst: int = Field(default=50, ge=1, le=1_000_000)
    # Frames one fragmented message may span (1009 past it).
    max_fragments: int = Field(default=128, ge=1, le=1_000_000)
    log_level: str = Field(default="info", pattern=r"(?i)^(debug|info|warning|error|critical)$")
    log_format: str = Field(default="json", pattern=r"^(json|text)$")
    # The floor of the per-request lines (rooms_ws.requests, at info) when it
    # differs from log_level: `warning` keeps every other line and drops them.
    request_log_level: str | None = Field(
        default=None, pattern=r"(?i)^(debug|info|warning|error|critical)$"
    )
    # gc.freeze() and higher thresholds once the app is loaded (rooms_ws/gc_tuning.py).
    gc_freeze: bool = True

    # Rows one sweep batch examines, and batches per task per round: the
    # bound on one round's work, whatever the backlog.
    sweep_batch_size: int = Field(default=1000, ge=1, le=100_000)
    sweep_batches_per_round: int = Field(default=10, ge=1, le=10_000)
    # The live-view repair starts a pass over every room at most this often
    # (``rooms sweep`` makes a whole pass every time).
    sweep_view_pass_interval_seconds: float = Field(default=60.0, gt=0, le=86400)

    # The prefix of the presence keys every room shares (two deployments, or
    # test runs, on one Redis each pick their own).
    presence_key_prefix: str = Field(default="presence", pattern=r"^[A-Za-z0-9_.-]{1,64}$")

    # --- followed rooms (lobby) -------------------------------------------
    # Rooms one connection follows at most; one more drops the least recently followed.
    max_followed_rooms: int = Field(default=64, ge=1, le=100_000)

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(part for part in re.split(r"[,\s]+", value) if part)
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _check_origins(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if value is None:
            return None
        for origin in value:
            if origin != "*" and not _ORIGIN_PATTERN.match(origin):
                raise ValueError(
                    f"{origin!r} is not an origin like https://example.com or http://localhost:*"
                )
        return tuple(origin.rstrip("/").lower() for origin in value)

    @field_validator("database_url")
    @classmethod
    def _check_dsn(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("postgres://", "postgresql://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @field_validator("redis_url")
    @classmethod
    def _check_redis_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a redis://, rediss:// or unix:// URL")
        return value

    @field_validator("jwt_secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            raise ValueError("must not be blank")
        return value

    @property
    def embedded_database(self) -> bool:
        return self.database_url is None

    @property
    def embedded_redis(self) -> bool:
        return self.redis_url is None

    @property
    def live_state_backstop_s(self) -> float:
        # The Redis cache bounds itself by redis_timeout_s; the use case's outer
        # bound only catches a cache that does not, so it must fire later.
        return self.redis_timeout_s * 2

    @property
    def effective_allowed_origins(self) -> tuple[str, ...]:
        """The allow-list in force: explicit, or the development one on embedded services."""
        if self.allowed_origins is not None:
            return self.allowed_origins
        return DEVELOPMENT_ORIGINS if self.embedded_database else ()

    def env_name(self, field: str) -> str:
        return ENV_PREFIX + field.upper()


def load_settings(**overrides: Any) -> Settings:
    """Read the environment (and ``.env``); raise :class:`SettingsError` naming each variable."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False):
        field = str(error["loc"][0]) if error["loc"] else "?"
        message = str(error["msg"]).removeprefix("Value error, ")
        # Never echo the value of the secret back into a log.
        shown = "" if field == "jwt_secret" else f" (got {error.get('input')!r})"
        lines.append(f"{ENV_PREFIX}{field.upper()}: {message}{shown}")
    return "invalid settings:\n  " + "\n  ".join(lines)
