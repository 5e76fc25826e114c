"""Which WebSocket clients may connect, by the `Origin` header browsers send.

The check exists for browsers: it stops another site's page from opening a
session with credentials the browser holds. Programs (every SDK, pipecat,
LiveKit, curl) send no `Origin` at all, and the gateway's keys are never
ambient browser credentials, so a handshake without `Origin` is always let
through; a browser's `Origin` must match `GATEWAY_ALLOWED_ORIGINS`.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import ParseResult

from channels.security.websocket import OriginValidator


class BrowserOriginValidator(OriginValidator):
    """Channels' origin check, for browsers only."""

    def valid_origin(self, parsed_origin: ParseResult | None) -> Any:
        """A handshake with no `Origin` is a program's, not a browser's."""
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)
