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


class FailureThrottle:
    """Failed-handshake buckets of client addresses."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> tokens, when

    def blocked(self, address: str) -> bool:
        """True when `address` has used up its failed handshakes for now."""
        if settings.GATEWAY_AUTH_FAILURES_PER_SECOND <= 0:
            return False
        if address not in self._buckets:
            return False
        return self._refilled(address, time.monotonic()) < 1

    def failed(self, address: str) -> None:
        """Take a token for one failed handshake from `address`."""
        if settings.GATEWAY_AUTH_FAILURES_PER_SECOND <= 0:
            return
        now = time.monotonic()
        if len(self._buckets) >= _MAX_CLIENTS and address not in self._buckets:
            self._buckets.clear()
        self._buckets[address] = (max(self._refilled(address, now) - 1, 0.0), now)

    def _refilled(self, address: str, now: float) -> float:
        rate = settings.GATEWAY_AUTH_FAILURES_PER_SECOND
        burst = settings.GATEWAY_AUTH_FAILURE_BURST
        tokens, when = self._buckets.get(address, (burst, now))
        return float(min(burst, tokens + (now - when) * rate))
