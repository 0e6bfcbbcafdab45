"""Optional: sample the server with py-spy during a window (``--profile FILE``).

py-spy is not a dependency of the project: ``pip install py-spy`` into the
venv first. By default it samples without pausing the server
(``--nonblocking``); ``--profile-native`` pauses it at each sample instead, to
see into C code and system calls (``write``, ``epoll_wait`` ...). It writes
collapsed stacks to FILE (for speedscope or flamegraph.pl) and a summary of
where the samples fall to FILE.txt.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

SAMPLE_RATE_HZ = 250
# Native sampling stops the server at every sample: sample less often.
NATIVE_SAMPLE_RATE_HZ = 100
_LOCATION = re.compile(r" \((?P<file>[^()]*?):\d+\)$")


class Profiler:
    """py-spy attached to ``pid`` (and its children) for one window."""

    def __init__(
        self, pid: int, output: Path, *, native: bool = False, subprocesses: bool = False
    ) -> None:
        self._pid = pid
        self._output = output
        self._native = native
        self._subprocesses = subprocesses
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, duration_s: float) -> None:
        py_spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
        if not Path(py_spy).exists():
            print("  (--profile: py-spy is not installed; pip install py-spy)")
            return
        rate = NATIVE_SAMPLE_RATE_HZ if self._native else SAMPLE_RATE_HZ
        argv = [py_spy, "record", "--pid", str(self._pid), "--rate", str(rate)]
        argv += ["--native"] if self._native else ["--nonblocking"]
        argv += ["--subprocesses"] if self._subprocesses else []
        argv += ["--duration", str(max(1, round(duration_s)))]
        argv += ["--format", "raw", "--output", str(self._output)]
        self._process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def finish(self) -> None:
        if self._process is None:
            return
        self._process.wait(timeout=60)
        if self._output.exists():
            summary = summarise(self._output.read_text())
            self._output.with_suffix(self._output.suffix + ".txt").write_text(summary)


def _frame_name(frame: str) -> str:
    """``func (path/to/module.py:12)`` -> ``module.py:func``; keeps the package for ours."""
    match = _LOCATION.search(frame)
    if not match:
        return frame
    path = match["file"]
    short = "/".join(path.split("/")[-2:]) if "rooms" in path else path.split("/")[-1]
    return f"{short}:{frame[: match.start()]}"


def _python_caller(frames: list[str]) -> str:
    """The innermost Python function of a stack (the one that made a C call)."""
    for frame in reversed(frames):
        if ".py:" in frame:
            return frame
    return "?"


_COMPONENTS = (
    ("rooms_domain", "rooms_domain"),
    ("rooms_adapters/postgres", "rooms_adapters.postgres"),
    ("rooms_adapters", "rooms_adapters (redis)"),
    ("rooms_ws", "rooms_ws"),
    ("asyncpg", "asyncpg"),
    ("redis", "redis-py"),
    ("uvicorn", "uvicorn + websockets"),
    ("websockets", "uvicorn + websockets"),
    ("starlette", "starlette + fastapi"),
    ("fastapi", "starlette + fastapi"),
    ("pydantic", "pydantic"),
    ("logging", "logging"),
    ("json", "json (stdlib)"),
    ("asyncio", "asyncio"),
)


def _component(frame: str) -> str:
    """Which library a frame's code belongs to, from its file's path."""
    match = _LOCATION.search(frame)
    if not match:
        return "C code / other"
    path = match["file"]
    for marker, name in _COMPONENTS:
        if f"/{marker}/" in f"/{path}" or f"/{path}".endswith(f"/{marker}.py"):
            return name
    return "other Python"


def summarise(collapsed: str, top: int = 40) -> str:
    """Inclusive and self share of samples per function, largest first.

    With native frames, the C functions that take most samples (a system call
    such as ``write``) are also broken down by the Python code that called them.
    """
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    callers: dict[str, Counter[str]] = {}
    components: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        raw = stack.split(";")
        python = [f for f in raw if ".py:" in f]
        components[_component(python[-1]) if python else "C code / other"] += count
        frames = [_frame_name(f) for f in raw]
        for name in set(frames):
            inclusive[name] += count
        own[frames[-1]] += count
        if ".py:" not in frames[-1]:
            callers.setdefault(frames[-1], Counter())[_python_caller(frames)] += count
    if total == 0:
        return "no samples\n"
    lines = [f"{total} samples", "", "self, by the library of the innermost Python frame:"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in components.most_common()]
    lines += ["", "inclusive (the function and what it calls):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    lines += ["", "self (the function's own code):"]
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    native = [(name, n) for name, n in own.most_common(5) if name in callers]
    for name, _ in native:
        lines += ["", f"{name} (C code) called from:"]
        lines += [
            f"  {100 * n / total:5.1f}%  {caller}" for caller, n in callers[name].most_common(8)
        ]
    return "\n".join(lines) + "\n"
