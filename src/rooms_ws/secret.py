"""The JWT signing secret: from ROOMS_JWT_SECRET, or generated once for embedded mode.

With the embedded database the service is on a developer's machine; the
secret is generated on first use and kept in ``ROOMS_DATA_DIR/jwt-secret``
(mode 0600), so ``rooms token`` signs what a running ``rooms serve`` accepts
without any setting. Against an external database there is no such file to
trust: the secret must be given.

Only ``serve`` creates the file. ``rooms token`` run from another directory
(another ``./.rooms-data``) would otherwise invent a second secret and print
a token that the running server refuses, without a word.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from rooms_ws.settings import Settings

SECRET_FILE = "jwt-secret"
MIN_RECOMMENDED_BYTES = 32


class MissingSecret(RuntimeError):
    """ROOMS_JWT_SECRET is required with an external database."""


def jwt_secret(settings: Settings, *, create: bool = True) -> str:
    """The secret in force; ``create=False`` refuses rather than make a new one."""
    if settings.jwt_secret is not None:
        return settings.jwt_secret.get_secret_value()
    if not settings.embedded_database:
        raise MissingSecret(
            "ROOMS_JWT_SECRET is not set: it is required when ROOMS_DATABASE_URL is set "
            "(only the embedded database may use a generated secret)"
        )
    path = Path(settings.data_dir) / SECRET_FILE
    if not create and not path.exists():
        raise MissingSecret(
            f"no JWT secret at {path.absolute()}: it is made by the first `rooms serve` "
            "on embedded services. Run this command where the server runs, or set "
            "ROOMS_DATA_DIR to the server's data directory (or ROOMS_JWT_SECRET to its secret)"
        )
    return _stored_secret(path)


def _stored_secret(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        # Written aside, then linked into place: link() fails if the file
        # exists, so two processes starting at once agree on the first secret
        # and neither ever reads a half-written file.
        draft = path.with_name(f".{path.name}.{os.getpid()}")
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            file.write(secrets.token_urlsafe(48) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
    return path.read_text().strip()
