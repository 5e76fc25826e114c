"""Throttle clients whose handshakes keep failing authentication.

A token bucket per client address, in this process: each failed handshake takes
a token; a client with none left is refused at once (4429), before any database
or upstream work, until the bucket refills. Memory is bounded: past
`_MAX_CLIENTS` addresses the table starts over (a flood of addresses costs only
forgotten buckets).
"""

from __future__ import annotations

import time

from django.conf import settings

_MAX_CLIENTS = 50_000
_buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)


def _refilled(address: str, now: float) -> float:
    rate = settings.GATEWAY_AUTH_FAILURES_PER_SECOND
    burst = settings.GATEWAY_AUTH_FAILURE_BURST
    tokens, when = _buckets.get(address, (burst, now))
    return min(burst, tokens + (now - when) * rate)


def blocked(address: str) -> bool:
    """True when `address` has used up its failed handshakes for now."""
    if settings.GATEWAY_AUTH_FAILURES_PER_SECOND <= 0 or address not in _buckets:
        return False
    return _refilled(address, time.monotonic()) < 1


def failed(address: str) -> None:
    """Take a token for one failed handshake from `address`."""
    if settings.GATEWAY_AUTH_FAILURES_PER_SECOND <= 0:
        return
    now = time.monotonic()
    if len(_buckets) >= _MAX_CLIENTS and address not in _buckets:
        _buckets.clear()
    _buckets[address] = (max(_refilled(address, now) - 1, 0.0), now)


def reset() -> None:
    """Forget every bucket (tests)."""
    _buckets.clear()
