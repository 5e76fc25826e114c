"""What one gateway process keeps between sessions, in one object.

The key cache, the failed-handshake throttle, the metrics, the instance name,
the sweep of dead processes' rows, the revocation hubs and the live WebRTC
calls live here rather than
in module globals, so a test (or an embedding server) can swap the whole
process state with `replace_process_state`.
"""

from __future__ import annotations

import asyncio
import os
import socket
from typing import Any

from django.conf import settings

from realtime.call_registry import CallRegistry
from realtime.health import LayerProbe
from realtime.keycache import KeyCache
from realtime.metrics import ListPrices, Metrics
from realtime.revocations import RevocationHub
from realtime.sweeper import Sweeper
from realtime.throttle import FailureThrottle


class ProcessState:
    """The per-process state of the gateway."""

    def __init__(self) -> None:
        self.key_cache = KeyCache()
        self.throttle = FailureThrottle()
        self.metrics = Metrics(instance=lambda: self.instance, pricer=ListPrices())
        # Each sweep also prices finished sessions for the metrics.
        self.sweeper = Sweeper(after_sweep=self.metrics.price_finished)
        self.calls = CallRegistry()  # live WebRTC calls' sideband monitors
        self._instance: str | None = None
        self._hubs: dict[asyncio.AbstractEventLoop, RevocationHub] = {}
        self._probes: dict[asyncio.AbstractEventLoop, LayerProbe] = {}

    @property
    def instance(self) -> str:
        """GATEWAY_INSTANCE, else what `rungateway` named it, else host:pid."""
        if self._instance is None:
            self._instance = (
                settings.GATEWAY_INSTANCE or f"{socket.gethostname()}:{os.getpid()}"
            )
        return self._instance

    def name_instance(self, name: str) -> None:
        """Name this process (rungateway: host:port, stable across restarts)."""
        self._instance = settings.GATEWAY_INSTANCE or name

    def revocation_hub(self, layer: Any) -> RevocationHub:
        """The revocation hub of the running event loop (one under a server)."""
        loop = asyncio.get_running_loop()
        hub = self._hubs.get(loop)
        if hub is None or hub.layer is not layer:
            for stale in [other for other in self._hubs if other.is_closed()]:
                del self._hubs[stale]
            hub = self._hubs[loop] = RevocationHub(layer, key_cache=self.key_cache)
        return hub

    async def stop_hubs(self) -> None:
        """Stop the running loop's revocation hub (the server is stopping)."""
        hub = self._hubs.get(asyncio.get_running_loop())
        if hub is not None:
            await hub.stop()

    def layer_probe(self, layer: Any) -> LayerProbe:
        """The channel-layer health probe of the running event loop."""
        loop = asyncio.get_running_loop()
        probe = self._probes.get(loop)
        if probe is None or probe.layer is not layer:
            for stale in [other for other in self._probes if other.is_closed()]:
                del self._probes[stale]
            probe = self._probes[loop] = LayerProbe(layer)
        return probe


_current = ProcessState()


def process_state() -> ProcessState:
    """This process's state."""
    return _current


def replace_process_state(state: ProcessState) -> ProcessState:
    """Install `state` as this process's state; returns the one it replaces."""
    global _current
    previous, _current = _current, state
    return previous
