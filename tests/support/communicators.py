"""In-process clients of the ASGI application (Channels' WebsocketCommunicator)."""

from __future__ import annotations

import json

from channels.testing import WebsocketCommunicator

from gateway_project.asgi import application
from realtime.models import RealtimeSession
from tests.support.openai_types import parse_error_body, parse_error_event

PATH = "/v1/realtime?model=gpt-realtime"


def _communicator(token, *, path, headers, subprotocols=None, peer=None):
    if headers is None:
        headers = [(b"authorization", f"Bearer {token}".encode())] if token else []
    app = application if peer is None else _from_peer(peer)
    return WebsocketCommunicator(app, path, headers=headers, subprotocols=subprotocols)


async def open_session(
    token=None, *, path=PATH, headers=None, subprotocols=None, peer=None
):
    """Connect to the gateway in-process, with a bearer token unless told otherwise.

    `peer`: the TCP peer's address the gateway sees (none by default).
    """
    communicator = _communicator(
        token, path=path, headers=headers, subprotocols=subprotocols, peer=peer
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
    """The gateway's error event (one the SDK parses), then its close with `code`."""
    event = await communicator.receive_json_from(timeout=5)
    parse_error_event(event)
    assert event["error"]["code"] == error_code
    assert event["error"]["type"] in ("invalid_request_error", "server_error")
    closing = await communicator.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": code}
    await communicator.disconnect()
    return event


async def expect_denial(
    token=None, *, path=PATH, headers=None, status: int, error_code: str
) -> dict:
    """A handshake refused with an HTTP response, as under a server with the ASGI
    denial-response extension (uvicorn); returns its JSON body."""
    communicator = _communicator(token, path=path, headers=headers)
    communicator.scope["extensions"] = {"websocket.http.response": {}}
    await communicator.send_input({"type": "websocket.connect"})
    start = await communicator.receive_output(timeout=5)
    assert start["type"] == "websocket.http.response.start", start
    assert start["status"] == status
    assert (b"content-type", b"application/json") in start["headers"]
    message = await communicator.receive_output(timeout=5)
    assert message["type"] == "websocket.http.response.body", message
    assert not message.get("more_body", False)
    body = json.loads(message["body"])
    assert parse_error_body(body).code == error_code
    # The server then reports the connection gone, as uvicorn does.
    await communicator.send_input({"type": "websocket.disconnect", "code": 1006})
    await communicator.wait(timeout=5)
    return body


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
