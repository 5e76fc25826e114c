"""The client's side of a session: accept once, tell it why, close once.

A handshake refused before it is accepted is answered the way the provider
itself refuses one, where the server allows it: with the HTTP status and a JSON
body (the ASGI "WebSocket Denial Response" extension, which uvicorn and
Hypercorn list in `scope["extensions"]`: `websocket.http.response.start`, then
`websocket.http.response.body`, instead of `websocket.accept`). Elsewhere
(Daphne), and always once the WebSocket is open, the client gets an error event
and then the close. See asgi.readthedocs.io, "Extensions: WebSocket Denial
Response".
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from realtime.endings import Ending
from realtime.exceptions import GatewayError

Message = dict[str, Any]  # an ASGI message
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]

DENIAL_RESPONSE = "websocket.http.response"  # the ASGI extension's name
_JSON = [(b"content-type", b"application/json")]


def can_deny(scope: Mapping[str, Any]) -> bool:
    """True when the server can answer a handshake with an HTTP response."""
    return DENIAL_RESPONSE in (scope.get("extensions") or {})


class ClientSide:
    """Sends the ASGI messages that open and close the client's WebSocket."""

    __slots__ = ("_send", "accepted", "can_deny", "open", "subprotocol")

    def __init__(self, send: Send, *, can_deny: bool = False) -> None:
        self._send = send
        self.can_deny = can_deny  # the server offers the denial response
        self.subprotocol: str | None = None  # the offered protocol we select
        self.accepted = False
        self.open = True  # False once closed, or once the client is gone

    async def accept(self) -> None:
        """Complete the WebSocket handshake."""
        await self._send({"type": "websocket.accept", "subprotocol": self.subprotocol})
        self.accepted = True

    async def close(self, ending: Ending) -> None:
        """Tell the client why (an HTTP refusal, else an error event); close once."""
        if not self.open:
            return
        self.open = False
        try:
            if not self.accepted and self.can_deny and ending.error is not None:
                await self._deny(ending.error)
                return
            if not self.accepted:
                # Accept first: a close before accept is an HTTP 403 with no reason.
                await self.accept()
            if ending.error is not None:
                text = json.dumps(ending.error.event())
                await self._send({"type": "websocket.send", "text": text})
            message: dict[str, Any] = {"type": "websocket.close"}
            if ending.close_code is not None:
                message["code"] = ending.close_code
            if ending.reason:
                message["reason"] = ending.reason
            await self._send(message)
        except OSError:
            pass  # the client is already gone

    async def _deny(self, error: GatewayError) -> None:
        """Refuse the handshake with the error's HTTP status and JSON body."""
        body = json.dumps(error.response_body()).encode()
        await self._send(
            {
                "type": "websocket.http.response.start",
                "status": error.http_status,
                "headers": _JSON,
            }
        )
        await self._send({"type": "websocket.http.response.body", "body": body})
