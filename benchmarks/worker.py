"""A load generator in a process of its own, steered over a pipe.

The measuring process and the load generator never share an interpreter: the
generator's CPU would otherwise be charged to whoever measures, and its event
loop would compete with the one it measures. ``spawn`` starts a clean
interpreter (no forked event loop, no inherited sockets).

The protocol is a handful of plain tuples: the worker sends ``("mark", name)``
at the instants the parent must sample the server (start and end of a
measured window, "all connections open" ...), ``("data", value)`` when the
parent needs something from it, may receive ``("go", value)`` back when the
parent has done its part, and ends with ``("result", value)`` or
``("failed", traceback)``.
"""

from __future__ import annotations

import multiprocessing
import traceback
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any

_CONTEXT = multiprocessing.get_context("spawn")


class WorkerFailed(RuntimeError):
    """The load generator raised; its traceback is the message."""


class Worker:
    """One load-generator process running ``target(channel, *args)``."""

    def __init__(self, target: Callable[..., Any], *args: Any) -> None:
        self._parent, child = _CONTEXT.Pipe(duplex=True)
        self._process = _CONTEXT.Process(
            target=_run, args=(target, child, *args), daemon=True, name=target.__name__
        )
        self._process.start()
        child.close()

    def expect(self, kind: str, timeout_s: float) -> Any:
        """Wait for the next message, which must be of ``kind``; return its value."""
        if not self._parent.poll(timeout_s):
            raise TimeoutError(f"worker sent no {kind!r} within {timeout_s:.0f} s")
        try:
            got, value = self._parent.recv()
        except EOFError:
            self._process.join(timeout=5)
            raise WorkerFailed(f"worker died (exit code {self._process.exitcode})") from None
        if got == "failed":
            raise WorkerFailed(value)
        if got != kind:
            raise RuntimeError(f"worker sent {got!r} ({value!r}) while {kind!r} was expected")
        return value

    def mark(self, name: str, timeout_s: float) -> None:
        """Wait for the worker to reach the instant called ``name``."""
        got = self.expect("mark", timeout_s)
        if got != name:
            raise RuntimeError(f"worker reached {got!r} while {name!r} was expected")

    def send(self, value: Any) -> None:
        self._parent.send(("go", value))

    def close(self) -> None:
        self._process.join(timeout=10)
        if self._process.is_alive():
            self._process.terminate()
            self._process.join(timeout=5)
        self._parent.close()

    def __enter__(self) -> Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _run(target: Callable[..., Any], channel: Connection, *args: Any) -> None:
    try:
        result = target(channel, *args)
    except BaseException:
        channel.send(("failed", traceback.format_exc()))
    else:
        channel.send(("result", result))
    finally:
        channel.close()


def mark(channel: Connection, name: str) -> None:
    """From inside a worker: tell the parent that instant ``name`` is reached."""
    channel.send(("mark", name))


def report(channel: Connection, value: Any) -> None:
    """From inside a worker: hand the parent data it needs before the end."""
    channel.send(("data", value))


def wait_go(channel: Connection) -> Any:
    """From inside a worker: block until the parent sends ``go``; return its data."""
    kind, value = channel.recv()
    if kind != "go":
        raise RuntimeError(f"parent sent {kind!r} while 'go' was expected")
    return value
