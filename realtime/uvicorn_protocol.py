"""uvicorn's sans-I/O WebSocket transport, telling a vanished client apart.

uvicorn's `websockets-sansio` transport keeps no task per connection (its pings
run on timers), so an idle session costs several KiB less than under its older
`websockets` transport, and it stops reading a client until the application
has taken its last message (backpressure towards a slow provider).

But when a client's TCP connection is lost without a close frame, it tells the
application 1005 ("no status received"), the code it also reports for a close
frame that carries no code (uvicorn#1753). RFC 6455 §7.1.5 says a connection
closed with no close frame received has the close code 1006
(https://www.rfc-editor.org/rfc/rfc6455#section-7.1.5), and the gateway
records that on the row ("client vanished without a close frame"). This
transport reports 1006 then, and is what `rungateway` and the README's plain
uvicorn command run (`--ws realtime.uvicorn_protocol:GatewayWebSocketProtocol`).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol,
)


class Inbox:
    """A connection's messages for its application: what uvicorn uses of an
    `asyncio.Queue` (`put_nowait`, `get`, `empty`) for one reader at a time (an
    ASGI application's `receive`), with no deque nor Event of its own: an
    `asyncio.Queue` allocates four deques, ~2.8 KiB an idle connection."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: list[Any] = []  # a message or two: uvicorn stops reading
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        """Queue a message and wake the reader."""
        self._items.append(item)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def empty(self) -> bool:
        """Whether no message waits."""
        return not self._items

    async def get(self) -> Any:
        """The oldest message, once there is one."""
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("Inbox.get: one reader at a time")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        return self._items.pop(0)


class Writable:
    """Whether the client's socket takes more (uvicorn's `asyncio.Event` for
    it, which allocates a deque per connection): waiters are kept only while
    the transport has paused writing."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] = []

    def is_set(self) -> bool:
        """Whether a send may write now."""
        return self._set

    def set(self) -> None:
        """Writable again (or the connection is gone): wake every waiter."""
        self._set = True
        waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        """The transport's buffer is over its high-water mark."""
        self._set = False

    async def wait(self) -> bool:
        """Return at once while writable, else once `set` is called."""
        if self._set:
            return True
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if waiter in self._waiters:  # cancelled before `set`
                self._waiters.remove(waiter)
        return True


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O transport; a connection lost with no close frame
    received reaches the application as 1006 (a close the application sent, a
    shutdown's 1012 or a protocol error was queued for it first, and stands).
    Lighter per connection: an `Inbox` and a `Writable` for uvicorn's queue
    and event, and the handshake's request and response dropped once sent."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue: Inbox = Inbox()  # type: ignore[assignment]
        self.writable: Writable = Writable()  # type: ignore[assignment]

    def start_keepalive(self) -> None:
        """uvicorn's, called once, when the handshake's response is written:
        its request and response (headers, ~2.5 KiB) are not read again."""
        # websockets' parser keeps the request in its generator's frame for
        # the connection's life: empty its headers (the scope has a copy).
        self.request.headers.clear()
        self.request = None  # type: ignore[assignment]
        self.response = None  # type: ignore[assignment]
        super().start_keepalive()

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, with 1006 for a client that vanished."""
        if self.handshake_complete and self.conn.close_rcvd is None:
            # uvicorn reports 1006 for a connection lost before the handshake
            # completed and 1005 after (also on a keepalive timeout); it sets
            # the flag back itself.
            self.handshake_complete = False
        super().connection_lost(exc)
