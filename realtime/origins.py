"""Which WebSocket clients may connect, by the `Origin` header browsers send.

The check exists for browsers: it stops another site's page from opening a
session with credentials the browser holds. Programs (every SDK, pipecat,
LiveKit, curl) send no `Origin` at all, and the gateway's keys are never
ambient browser credentials, so a handshake without `Origin` is always let
through; a browser's `Origin` must match `GATEWAY_ALLOWED_ORIGINS`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any
from urllib.parse import ParseResult, urlparse

from channels.security.websocket import OriginValidator, WebsocketDenier


def _origin(scope: dict[str, Any]) -> ParseResult | None:
    """The handshake's `Origin`, parsed as Channels' validator does (the last
    one, if several)."""
    origin = None
    for name, value in scope.get("headers", ()):
        if name == b"origin":
            origin = urlparse(value.decode("latin1"))
    return origin


class BrowserOriginValidator(OriginValidator):
    """Channels' origin check, for browsers only."""

    def __call__(
        self, scope: dict[str, Any], receive: Any, send: Any
    ) -> Awaitable[None]:
        """Channels' `__call__`, as a plain call returning the application's
        run (or the denial's) to await: no frame of its own lives as long as
        the connection."""
        if scope["type"] != "websocket":
            raise ValueError(
                "You cannot use OriginValidator on a non-WebSocket connection"
            )
        if self.valid_origin(_origin(scope)):
            return self.application(scope, receive, send)
        return WebsocketDenier()(scope, receive, send)

    def valid_origin(self, parsed_origin: ParseResult | None) -> Any:
        """A handshake with no `Origin` is a program's, not a browser's."""
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)
