"""The shipped in-memory adapters satisfy the ports for a type checker, not only at run time.

Other services wire ``CreateRoom`` with ``rooms_adapters.memory`` in their tests and run
``mypy --strict`` on them: an adapter that is not structurally a port breaks their build.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def mypy_strict(tmp_path: Path, source: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "mypy.ini").write_text("[mypy]\n")
    (tmp_path / "snippet.py").write_text(textwrap.dedent(source))
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--strict",
            "--config-file=mypy.ini",
            "--cache-dir=.mypy_cache",
            # Only the snippet's own errors: files being edited elsewhere must not leak in.
            "--follow-imports=silent",
            "snippet.py",
        ],
        cwd=tmp_path,
        env={"MYPYPATH": str(ROOT / "src"), "PATH": str(Path(sys.executable).parent)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_memory_cache_events_codes_and_clock_satisfy_their_ports(tmp_path: Path) -> None:
    checked = mypy_strict(
        tmp_path,
        """
        from rooms_adapters.memory import MemoryLiveStateCache, MemoryRoomEvents
        from rooms_domain import (
            Clock, CodeGenerator, LiveStateCache, RoomEvents, ScriptedCodeGenerator,
            SecureCodeGenerator, SystemClock,
        )

        cache: LiveStateCache = MemoryLiveStateCache()
        events: RoomEvents = MemoryRoomEvents()
        secure: CodeGenerator = SecureCodeGenerator()
        scripted: CodeGenerator = ScriptedCodeGenerator([])
        clock: Clock = SystemClock()
        """,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_memory_unit_of_work_satisfies_its_port(tmp_path: Path) -> None:
    checked = mypy_strict(
        tmp_path,
        """
        from rooms_adapters.memory import MemoryDatabase, MemoryUnitOfWork, MemoryUnitOfWorkFactory
        from rooms_domain import UnitOfWork, UnitOfWorkFactory

        factory: UnitOfWorkFactory = MemoryUnitOfWorkFactory()
        uow: UnitOfWork = MemoryUnitOfWork(MemoryDatabase())
        """,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
