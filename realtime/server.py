"""Daphne, with a graceful shutdown the gateway can rely on.

Daphne's own shutdown trigger raises KeyError for a connection whose application
has already finished (an HTTP request, say), and then waits for nothing, so live
sessions die without their rows being finalised. Here, on SIGTERM/SIGINT, the
server stops accepting connections, cancels every live application (each session
then sends its client an error event and 4001, closes its upstream and finalises
its row) and waits for them, at most `drain_timeout` seconds.
"""

from __future__ import annotations

import asyncio
import logging

from daphne.server import Server
from twisted.internet import defer

logger = logging.getLogger(__name__)


class GatewayServer(Server):
    """Daphne with a bounded, complete drain on shutdown."""

    def __init__(self, *args, drain_timeout: float = 10.0, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.drain_timeout = drain_timeout
        self._ports: list = []

    def listen_success(self, port) -> None:
        """Remember each listening port, so shutdown can close it first."""
        self._ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self):
        """Stop accepting, cancel live applications, wait for them (bounded)."""
        for port in self._ports:
            port.stopListening()
        running = [
            details["application_instance"]
            for details in list(self.connections.values())
            if details.get("application_instance") is not None
            and not details["application_instance"].done()
        ]
        logger.info("draining %d live connection(s)", len(running))
        for instance in running:
            instance.cancel()
        if not running:
            return None
        drained = asyncio.ensure_future(self._drain(running))
        return defer.Deferred.fromFuture(drained)

    async def _drain(self, running: list[asyncio.Future]) -> None:
        _, pending = await asyncio.wait(running, timeout=self.drain_timeout)
        if pending:
            logger.warning(
                "%d connection(s) did not finish within %s s",
                len(pending),
                self.drain_timeout,
            )
