"""In-process clients of the ASGI application (Channels' WebsocketCommunicator)."""

from __future__ import annotations

from channels.testing import WebsocketCommunicator

from gateway_project.asgi import application
from realtime.models import RealtimeSession

PATH = "/v1/realtime?model=gpt-realtime"


async def open_session(
    token=None, *, path=PATH, headers=None, subprotocols=None, peer=None
):
    """Connect to the gateway in-process, with a bearer token unless told otherwise.

    `peer`: the TCP peer's address the gateway sees (none by default).
    """
    if headers is None:
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    app = application if peer is None else _from_peer(peer)
    communicator = WebsocketCommunicator(
        app, path, headers=headers, subprotocols=subprotocols
    )
    connected, subprotocol = await communicator.connect(timeout=5)
    assert connected
    communicator.subprotocol = subprotocol
    return communicator


def _from_peer(address: str):
    async def app(scope, receive, send):
        await application({**scope, "client": (address, 50000)}, receive, send)

    return app


async def expect_error_and_close(communicator, *, code: int, error_code: str) -> dict:
    """The gateway's error event, then its close with `code`."""
    event = await communicator.receive_json_from(timeout=5)
    assert event["type"] == "error"
    assert event["error"]["code"] == error_code
    assert event["error"]["type"] in ("invalid_request_error", "server_error")
    closing = await communicator.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": code}
    await communicator.disconnect()
    return event


async def read_until(communicator, event_type: str) -> list[dict]:
    """The events received up to and including the first of `event_type`."""
    events = []
    while True:
        event = await communicator.receive_json_from(timeout=5)
        events.append(event)
        if event["type"] == event_type:
            return events


async def only_session() -> RealtimeSession:
    """The one session row."""
    return await RealtimeSession.objects.aget()
