"""The cyclic garbage collector, tuned once a ``rooms serve`` process has loaded its app.

A full collection walks every tracked object; in a server most of them are
the modules, classes and functions loaded at start-up, which never die. Each
such walk stalls the event loop for every request in flight, and shows up as
the latency tail (docs/benchmarks.md, "GC freeze"). ``gc.freeze()`` moves
what exists after start-up out of the collector's sight, and a larger first
threshold makes young collections rarer. Reference counting still frees
almost everything at once; only cycles wait for a collection.

``ROOMS_GC_FREEZE=false`` leaves the collector as Python sets it, so the
benchmark can compare both within one run.
"""

from __future__ import annotations

import gc

# Python's default is (700, 10, 10): a young collection every 700 net
# allocations. A request allocates a few hundred tracked objects, so the
# default collects about every other request.
THRESHOLDS = (7000, 20, 20)


def tune(enabled: bool) -> bool:
    """Freeze what is alive now and raise the thresholds; returns whether it did."""
    if not enabled:
        return False
    gc.collect()  # what start-up left as garbage is not frozen with the rest
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    return True
