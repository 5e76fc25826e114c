"""The cyclic garbage collector, tuned for a server once it has started.

A session allocates thousands of short-lived objects (tasks, futures, frames,
handshake headers), so CPython's collector runs its youngest generation every
few sessions, and now and then a full collection, which walks every object the
process holds: Django's, the providers' and the settings' (~100,000 objects
after startup). Measured on the bench's session setups (10 in flight), the
collector took ~0.3 ms of each session's ~2.8 ms of CPU.

Objects that exist once the server has started live as long as the process, so
they are frozen out of every collection (`gc.freeze`, as CPython's docs suggest
for long-lived startup state: https://docs.python.org/3/library/gc.html#gc.freeze),
and the youngest generation is collected less often: each collection's cost
grows with what survives it, not with how much was allocated, so fewer of them
cost less in all; its garbage waits a little longer (bounded by the threshold).
"""

from __future__ import annotations

import gc

# Allocations between two collections of the youngest generation (CPython's
# default: 700), and the older generations' (default: 10 and 10).
YOUNG_THRESHOLD = 7000
OLDER_THRESHOLDS = (20, 20)


def settle_for_serving() -> None:
    """Collect once, freeze what the started process holds, and collect the
    youngest generation less often. Call once, when the server has started."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, *OLDER_THRESHOLDS)
