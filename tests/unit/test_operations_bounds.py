"""docs/operations.md, "Bounds": every bound with its setting, and the defaults the code has."""

from __future__ import annotations

import re
from pathlib import Path

from rooms_ws.settings import ENV_PREFIX, Settings

DOC = Path(__file__).resolve().parents[2] / "docs" / "operations.md"

# "`ROOMS_A` / `ROOMS_B` (1 / 2)" or "`ROOMS_A` (1)": the names, then their defaults.
_SETTING = re.compile(r"((?:`ROOMS_\w+`(?: / )?)+) \(([^)]*)\)")
# Settings that bound what a client, a user or a dependency can cost.
_BOUND_LIKE = re.compile(
    r"^max_|timeout|_size$|^rate_|_burst$|per_second|per_minute|interval|grace|breaker"
)
NOT_BOUNDS = {
    "max_code_draws": "draws of one create inside its transaction, nothing a client controls",
    "db_pool_min_size": "a floor, not a limit",
}


# Named in the table, added to Settings by branches merged alongside this one.
def bounds_section() -> str:
    text = DOC.read_text()
    start = text.index("## Bounds\n")
    return text[start : text.index("\n## ", start + 1)]


def documented() -> dict[str, str]:
    """Field name -> the default the table states."""
    found: dict[str, str] = {}
    for names, defaults in _SETTING.findall(bounds_section()):
        fields = [n.strip("` ").removeprefix(ENV_PREFIX).lower() for n in names.split(" / ")]
        values = [v.strip() for v in defaults.split(" / ")]
        assert len(fields) == len(values), (names, defaults)
        found.update(zip(fields, values, strict=True))
    return found


def as_documented(value: object) -> str:
    if value is None:
        return "unset: none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def test_every_setting_in_the_table_exists_with_the_default_stated() -> None:
    fields = Settings.model_fields
    for name, stated in documented().items():
        assert name in fields, f"{ENV_PREFIX}{name.upper()} is not a setting"
        assert as_documented(fields[name].default) == stated, name


def test_every_bound_like_setting_is_in_the_table() -> None:
    listed = documented()
    missing = [
        f"{ENV_PREFIX}{name.upper()}"
        for name in Settings.model_fields
        if _BOUND_LIKE.search(name) and name not in NOT_BOUNDS and name not in listed
    ]
    assert not missing, f"bounds missing from docs/operations.md: {missing}"
