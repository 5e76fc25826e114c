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

The other way, Daphne reads a client's socket into an unbounded queue for the
application, so a client that streams to a slow provider (while the bridge
waits on the upstream send) would fill memory. Here a WebSocket's queue stops
reading the client's socket while over `client_receive_bytes` wait in it, and
reads again once the application has taken half of that: TCP pushes back on the
client.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, cast

from daphne.server import Server
from twisted.internet import defer, reactor

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


def _payload_size(message: dict[str, Any]) -> int:
    return len(message.get("bytes") or message.get("text") or "")


class ClientQueue(asyncio.Queue):
    """A WebSocket's messages for its application, read from the client's
    socket only while at most `limit` bytes of them wait here."""

    def __init__(self, protocol: Any, *, limit: int) -> None:
        super().__init__()
        self._protocol = protocol
        self._limit = limit
        self._bytes = 0
        self._paused = False

    def put_nowait(self, item: dict[str, Any]) -> None:
        """Queue a message; over the mark, stop reading the client."""
        super().put_nowait(item)
        self._bytes += _payload_size(item)
        if self._bytes > self._limit:
            # On every message over the mark: Twisted resumes reading by itself
            # when the client's write buffer drains (its own flow control).
            self._paused = True
            self._producer("pauseProducing")

    def get_nowait(self) -> dict[str, Any]:
        """Take a message (`get` calls this); read the client again once drained."""
        item = super().get_nowait()
        self._bytes -= _payload_size(item)
        if self._paused and self._bytes <= self._limit // 2:
            self._paused = False
            self._producer("resumeProducing")
        return item

    def _producer(self, action: str) -> None:
        # The TCP transport, or a TLS wrapper that passes the call on to it.
        method = getattr(getattr(self._protocol, "transport", None), action, None)
        if method is not None:
            method()


@dataclass(frozen=True, slots=True)
class Background:
    """What the process runs besides its connections: start and stop."""

    start: Callable[[], Awaitable[None]]
    stop: Callable[[], Awaitable[None]]


class GatewayServer(Server):
    """Daphne with a bounded, complete drain on shutdown and flow control both ways."""

    def __init__(
        self,
        *args: Any,
        drain_timeout: float = 10.0,
        client_buffer_bytes: int = 4 * 1024 * 1024,
        slow_client_timeout: float = 10.0,
        client_receive_bytes: int = 1024 * 1024,
        background: Background | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.background = background
        self.drain_timeout = drain_timeout
        self.client_buffer_bytes = client_buffer_bytes
        self.slow_client_timeout = slow_client_timeout
        self.client_receive_bytes = client_receive_bytes
        self._ports: list[Any] = []
        self._background_scheduled = False
        self._background_started: asyncio.Future[None] | None = None

    def create_application(
        self, protocol: Any, scope: dict[str, Any]
    ) -> asyncio.Queue | None:
        """Daphne's (4.2), but a WebSocket's input queue is a `ClientQueue`."""
        if scope["type"] != "websocket":
            return super().create_application(protocol, scope)
        assert "application_instance" not in self.connections[protocol]
        queue = ClientQueue(protocol, limit=self.client_receive_bytes)
        scope.setdefault("asgi", {"version": "3.0"})
        instance = self.application(
            scope=scope, receive=queue.get, send=partial(self.handle_reply, protocol)
        )
        if protocol not in self.connections:
            return None
        self.connections[protocol]["application_instance"] = asyncio.ensure_future(
            instance
        )
        return queue

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
        # Daphne speaks no ASGI lifespan: start the process's background work
        # once the server listens, on the reactor's event loop (from a reactor
        # call: the loop is not yet running when a listen succeeds).
        if self.background is not None and not self._background_scheduled:
            self._background_scheduled = True
            cast(Any, reactor).callLater(0, self._start_background)

    def _start_background(self) -> None:
        assert self.background is not None
        self._background_started = asyncio.ensure_future(self.background.start())

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
        stopped = asyncio.ensure_future(self._stop(running))
        return defer.Deferred.fromFuture(stopped)

    async def _stop(self, running: list[asyncio.Future]) -> None:
        if running:
            await self._drain(running)
        if self.background is not None and self._background_started is not None:
            await self._background_started
            await self.background.stop()

    async def _drain(self, running: list[asyncio.Future]) -> None:
        _, pending = await asyncio.wait(running, timeout=self.drain_timeout)
        if pending:
            logger.warning(
                "%d connection(s) did not finish within %s s",
                len(pending),
                self.drain_timeout,
            )
