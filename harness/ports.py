"""A port for a server of our own: the embedded Redis's picker, shared."""

from __future__ import annotations

from rooms_adapters.embedded import free_port

__all__ = ["HOST", "free_port"]

HOST = "127.0.0.1"  # every server under test binds here only
