"""rooms_ws.gc_tuning: what ``rooms serve`` does to the collector, on and off.

Each case runs in a fresh interpreter: freezing this test process would change
every test after it.
"""

from __future__ import annotations

import json
import subprocess
import sys

_PROBE = """
import gc, json, sys
from rooms_ws import gc_tuning
done = gc_tuning.tune(sys.argv[1] == "on")
print(json.dumps([done, gc.get_freeze_count(), list(gc.get_threshold())]))
"""


def _probe(mode: str) -> tuple[bool, int, list[int]]:
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, mode], capture_output=True, text=True, check=True
    ).stdout
    done, frozen, thresholds = json.loads(out)
    return done, frozen, thresholds


def test_on_freezes_what_is_loaded_and_raises_the_thresholds() -> None:
    from rooms_ws.gc_tuning import THRESHOLDS

    done, frozen, thresholds = _probe("on")
    assert done
    assert frozen > 1000  # the interpreter's and the module's objects at least
    assert tuple(thresholds) == THRESHOLDS


def test_off_leaves_the_collector_as_python_sets_it() -> None:
    done, frozen, thresholds = _probe("off")
    assert not done
    assert frozen == 0
    assert thresholds == [700, 10, 10]
