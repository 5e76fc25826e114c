"""The cyclic garbage collector, settled for a server once it has started.

A session allocates thousands of short-lived objects (tasks, futures, frames,
handshake headers), so CPython's collector runs its youngest generation every
few sessions, and now and then a full collection, which walks every object the
process holds: Django's, the providers' and the settings' (~100,000 objects
after startup). Measured on the bench's session setups (10 in flight), the
collector took ~0.33 ms of each session's ~2.8 ms of CPU, full collections
~0.16 ms of it.

Objects that exist once the server has started live as long as the process, so
they are frozen out of every collection (`gc.freeze`, as CPython's docs suggest
for long-lived startup state: https://docs.python.org/3/library/gc.html#gc.freeze):
a full collection then walks only what sessions hold (~0.21 ms a session in
all). The thresholds stay CPython's: raising them made fewer but longer
pauses, which a voice session's tail latency feels more than the CPU saved.
"""

from __future__ import annotations

import gc


def settle_for_serving() -> None:
    """Collect once, then freeze what the started process holds. Call once,
    when the server has started."""
    gc.collect()
    gc.freeze()
