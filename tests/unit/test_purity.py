"""The domain stays pure: importing it loads no framework, and the import linter says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The project's own .venv (what `make lint` runs), else the one running these tests.
LINT_IMPORTS = next(
    (
        path
        for path in (
            ROOT / ".venv" / "bin" / "lint-imports",
            Path(sys.executable).parent / "lint-imports",
        )
        if path.exists()
    ),
    ROOT / ".venv" / "bin" / "lint-imports",
)
FORBIDDEN = ["fastapi", "starlette", "asyncpg", "redis", "pydantic", "dependency_injector"]

_PROBE = """
import json, sys
before = set(sys.modules)
import rooms_domain
print(json.dumps({"all": sorted(sys.modules), "new": sorted(set(sys.modules) - before)}))
"""


def _env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    env["PYTHONPATH"] = str(pythonpath)
    return env


def _modules_after_importing_the_domain() -> dict[str, list[str]]:
    """What a fresh interpreter holds after ``import rooms_domain``: all, and the new ones."""
    probe = subprocess.run(
        [sys.executable, "-c", _PROBE],
        env=_env(ROOT / "src"),
        capture_output=True,
        text=True,
        check=True,
    )
    modules: dict[str, list[str]] = json.loads(probe.stdout)
    return modules


def test_importing_the_domain_loads_no_framework_driver_or_container() -> None:
    modules = _modules_after_importing_the_domain()
    loaded_roots = {name.partition(".")[0] for name in modules["all"]}

    assert "rooms_domain" in loaded_roots
    assert [name for name in FORBIDDEN if name in loaded_roots] == []


def test_importing_the_domain_loads_only_the_standard_library() -> None:
    new_roots = {name.partition(".")[0] for name in _modules_after_importing_the_domain()["new"]}

    assert new_roots - set(sys.stdlib_module_names) == {"rooms_domain"}


@pytest.fixture
def project_copy(tmp_path: Path) -> Path:
    """pyproject.toml and src/ copied to a scratch directory, as the import linter sees them."""
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "src",
        tmp_path / "src",
        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"),
    )
    return tmp_path


def _lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=project,
        env=_env(project / "src"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_the_import_linter_fails_once_the_domain_imports_a_driver(project_copy: Path) -> None:
    untouched = _lint_imports(project_copy)
    assert untouched.returncode == 0, untouched.stdout + untouched.stderr

    model = project_copy / "src" / "rooms_domain" / "model.py"
    model.write_text(model.read_text() + "\nimport asyncpg  # noqa: E402, F401\n")
    broken = _lint_imports(project_copy)

    assert broken.returncode != 0
    assert "The domain is pure" in broken.stdout
    assert "BROKEN" in broken.stdout
    assert "rooms_domain.model -> asyncpg" in broken.stdout
