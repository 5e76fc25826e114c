"""The client's side of a session: accept once, tell it why, close once."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from realtime.endings import Ending

Message = dict[str, Any]  # an ASGI message
Send = Callable[[Message], Awaitable[None]]
Receive = Callable[[], Awaitable[Message]]


class ClientSide:
    """Sends the ASGI messages that open and close the client's WebSocket."""

    __slots__ = ("_send", "accepted", "open", "subprotocol")

    def __init__(self, send: Send) -> None:
        self._send = send
        self.subprotocol: str | None = None  # the offered protocol we select
        self.accepted = False
        self.open = True  # False once closed, or once the client is gone

    async def accept(self) -> None:
        """Complete the WebSocket handshake."""
        await self._send({"type": "websocket.accept", "subprotocol": self.subprotocol})
        self.accepted = True

    async def close(self, ending: Ending) -> None:
        """Tell the client why (an error event) and close it, once."""
        if not self.open:
            return
        self.open = False
        try:
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
