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

from uvicorn.protocols.websockets.websockets_sansio_impl import (
    WebSocketsSansIOProtocol,
)


class GatewayWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O transport; a connection lost with no close frame
    received reaches the application as 1006 (a close the application sent, a
    shutdown's 1012 or a protocol error was queued for it first, and stands)."""

    def connection_lost(self, exc: Exception | None) -> None:
        """uvicorn's, with 1006 for a client that vanished."""
        if self.handshake_complete and self.conn.close_rcvd is None:
            # uvicorn reports 1006 for a connection lost before the handshake
            # completed and 1005 after (also on a keepalive timeout); it sets
            # the flag back itself.
            self.handshake_complete = False
        super().connection_lost(exc)
