"""The server under test: the launcher shared with the tests and the soak (``harness``)."""

from __future__ import annotations

from harness.ports import HOST, free_port
from harness.server import ServerProcess, clean_env, rooms_serve

__all__ = ["HOST", "ServerProcess", "clean_env", "free_port", "rooms_serve"]
