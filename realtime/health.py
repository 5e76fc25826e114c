"""Health probes that hold constant resources however often they are called.

A load balancer probes `/healthz` every few seconds, on every process. A new
channel per probe would leave one channel-layer subscription behind each time
on Redis (a pub/sub channel is only unsubscribed when its reader is cancelled),
so each process probes the layer through one channel of its own, one probe at
a time.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import Any

logger = logging.getLogger(__name__)

PROBE_TIMEOUT = 2.0
_PROBE_EVENT = "health.check"


class LayerProbe:
    """Sends a message to this process's probe channel and reads it back."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._channel: str | None = None
        self._lock = asyncio.Lock()

    async def ok(self) -> bool:
        """True when the layer carried a message there and back in time."""
        try:
            async with asyncio.timeout(PROBE_TIMEOUT), self._lock:
                if self._channel is None:
                    self._channel = await self.layer.new_channel()
                nonce = uuid.uuid4().hex
                await self.layer.send(
                    self._channel, {"type": _PROBE_EVENT, "nonce": nonce}
                )
                # A probe that timed out may have left its message behind.
                while (await self.layer.receive(self._channel)).get("nonce") != nonce:
                    pass
            return True
        except Exception:  # any failure means "not healthy"; the reason is logged
            logger.warning("health check: channel layer unreachable", exc_info=True)
            return False
