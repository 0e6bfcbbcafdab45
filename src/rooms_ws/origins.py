"""The browser Origin allow-list (docs/protocol.md §2): exact origins, or any port with ``:*``."""

from __future__ import annotations

from collections.abc import Iterable


class OriginPolicy:
    """``http://localhost:*`` allows ``http://localhost`` on any port (or none).

    Native clients send no Origin and are not a CSRF risk, so a missing header
    passes; a present one must be listed (``*`` alone lists every origin).
    """

    def __init__(self, allowed: Iterable[str]) -> None:
        self._exact: set[str] = set()
        self._any_port: set[str] = set()
        self._everything = False
        for origin in allowed:
            origin = origin.rstrip("/").lower()
            if origin == "*":
                self._everything = True
            elif origin.endswith(":*"):
                self._any_port.add(origin[:-2])
            else:
                self._exact.add(origin)

    def allows(self, origin: str | None) -> bool:
        if origin is None or self._everything:
            return True
        origin = origin.strip().rstrip("/").lower()
        if origin in self._exact:
            return True
        base, colon, port = origin.rpartition(":")
        if colon and port.isdigit() and "//" in base and base in self._any_port:
            return True
        return origin in self._any_port  # no port at all
