"""What the kernel says about a process tree: CPU seconds and resident memory.

Read from /proc, so the figures need no extra package and cover every process
of a server (``--workers N`` forks children).
"""

from __future__ import annotations

import os
import resource
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")
# A process that exits while its /proc files are read: either error may come.
_GONE = (FileNotFoundError, ProcessLookupError)


def raise_open_file_limit() -> int:
    """Raise this process's soft RLIMIT_NOFILE to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # The command name (field 2) may hold spaces and parentheses: split after the last ")".
    return raw[raw.rindex(")") + 2 :].split()


def _parents() -> dict[int, list[int]]:
    """Children of every process, from each one's parent id (field 4 of /proc/PID/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            parent = int(_stat_fields(int(entry.name))[1])
        except (*_GONE, ValueError):
            continue
        children.setdefault(parent, []).append(int(entry.name))
    return children


def process_tree(pid: int) -> list[int]:
    """``pid`` and all its living descendants."""
    children = _parents()
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children.get(current, []))
    return tree


def cpu_split(pid: int) -> tuple[float, float]:
    """User and system CPU seconds of the whole tree rooted at ``pid``.

    A member's reaped children count too (``cutime``/``cstime``): PostgreSQL
    backends that exit during a window must not take their CPU time with them.
    """
    user = system = 0
    for member in process_tree(pid):
        try:
            fields = _stat_fields(member)
        except _GONE:
            continue
        # After the name, state (field 3) is index 0: utime, stime, cutime and
        # cstime (fields 14 to 17) are indices 11 to 14.
        user += int(fields[11]) + int(fields[13])
        system += int(fields[12]) + int(fields[14])
    return user / _TICKS, system / _TICKS


def cpu_seconds(pid: int) -> float:
    """User plus system CPU seconds of the whole tree rooted at ``pid``."""
    return sum(cpu_split(pid))


def rss_bytes(pid: int) -> int:
    """Resident set size of the whole tree rooted at ``pid``."""
    total = 0
    for member in process_tree(pid):
        try:
            resident = Path(f"/proc/{member}/statm").read_text().split()[1]
        except _GONE:
            continue
        total += int(resident) * _PAGE
    return total
