"""Daphne, with a graceful shutdown and flow control the gateway can rely on.

Shutdown: Daphne's own trigger raises KeyError for a connection whose
application has already finished (an HTTP request, say), and then waits for
nothing, so live sessions die without their rows being finalised. Here, on
SIGTERM/SIGINT, the server stops accepting connections, cancels every live
application (each session then sends its client an error event and 4001, closes
its upstream and finalises its row) and waits for them, at most `drain_timeout`.

Flow control: Daphne's `send` never waits, so a client that does not read would
make Twisted buffer everything the upstream streams, without bound. Here a send
waits while the client's socket buffer is over `client_buffer_bytes`; the
session's upstream pump stops reading, and TCP pushes back on the provider. A
client that reads nothing for `slow_client_timeout` seconds is dropped.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from daphne.server import Server
from twisted.internet import defer

from realtime.exceptions import SlowClient

logger = logging.getLogger(__name__)

_DRAIN_POLL = 0.01  # only while a client's buffer is over the mark


def _buffered(protocol: Any) -> int:
    """Bytes Twisted holds for the client socket, not yet written (0: unknown)."""
    transport = getattr(protocol, "transport", None)
    buffer = getattr(transport, "dataBuffer", None)
    if transport is None or buffer is None:
        return 0
    return len(buffer) - getattr(transport, "offset", 0) + transport._tempDataLen


class GatewayServer(Server):
    """Daphne with a bounded, complete drain on shutdown."""

    def __init__(
        self,
        *args: Any,
        drain_timeout: float = 10.0,
        client_buffer_bytes: int = 4 * 1024 * 1024,
        slow_client_timeout: float = 10.0,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.drain_timeout = drain_timeout
        self.client_buffer_bytes = client_buffer_bytes
        self.slow_client_timeout = slow_client_timeout
        self._ports: list[Any] = []

    async def handle_reply(self, protocol: Any, message: dict[str, Any]) -> None:
        """Send to the client, waiting while its socket buffer is too full."""
        await super().handle_reply(protocol, message)
        if message["type"] != "websocket.send":
            return
        if _buffered(protocol) <= self.client_buffer_bytes:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.slow_client_timeout
        while _buffered(protocol) > self.client_buffer_bytes // 2:
            if loop.time() >= deadline:
                logger.warning("dropping a client that stopped reading")
                protocol.transport.abortConnection()
                raise SlowClient("the client stopped reading")
            await asyncio.sleep(_DRAIN_POLL)

    def listen_success(self, port: Any) -> None:
        """Remember each listening port, so shutdown can close it first."""
        self._ports.append(port)
        super().listen_success(port)

    def kill_all_applications(self) -> defer.Deferred | None:
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
