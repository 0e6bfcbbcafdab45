"""Database servers started from Python wheels, for machines that have none installed.

The wheels come with the optional extra ``rooms[embedded]`` (``make run`` and
``make test`` install it; a production install, which sets the URLs, does
not). Without it, starting an embedded server raises
:class:`EmbeddedNotInstalled`, which says so in one line.
"""

from __future__ import annotations

import importlib.util
from importlib.machinery import ModuleSpec

EXTRA = "rooms[embedded]"


class EmbeddedNotInstalled(RuntimeError):
    """The package holding an embedded server's binaries is not installed."""

    def __init__(self, service: str, package: str) -> None:
        super().__init__(
            f"the embedded {service} is not installed"
            f" (the {package} package, from the extra {EXTRA})"
        )
        self.service = service


def installed(package: str, service: str) -> ModuleSpec:
    """Locate ``package`` without importing it; raise EmbeddedNotInstalled if absent."""
    spec = importlib.util.find_spec(package)
    if spec is None:
        raise EmbeddedNotInstalled(service, package.replace("_", "-"))
    return spec
