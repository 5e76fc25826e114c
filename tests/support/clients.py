"""Clients of real gateway processes (websockets), and waits for session rows."""

from __future__ import annotations

import asyncio
import json

from websockets.asyncio.client import ClientConnection, connect

from realtime.models import RealtimeSession
from tests.support.events import USER_TEXT
from tests.support.openai_types import parse_error_event

MODEL = "gpt-realtime"
BIG = 32 * 1024 * 1024


async def open_client(
    url: str,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    subprotocols: list[str] | None = None,
    query: str = f"model={MODEL}",
) -> ClientConnection:
    """A websockets client to the gateway, with a bearer token unless told otherwise."""
    if headers is None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
    return await connect(
        f"{url}?{query}",
        additional_headers=headers,
        subprotocols=subprotocols,
        max_size=BIG,
        open_timeout=10,
        compression=None,
    )


async def receive_event(ws: ClientConnection, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


async def converse(ws: ClientConnection) -> list[dict]:
    """One user turn and one response; the events up to response.done."""
    await ws.send(json.dumps(USER_TEXT))
    await ws.send(json.dumps({"type": "response.create"}))
    events = []
    while not events or events[-1]["type"] != "response.done":
        events.append(await receive_event(ws))
    return events


async def expect_refusal(ws: ClientConnection, *, code: int, error_code: str) -> dict:
    """The gateway's error event (one the SDK parses), then its close with `code`."""
    event = await receive_event(ws)
    parse_error_event(event)
    assert event["error"]["code"] == error_code
    async with asyncio.timeout(10):
        await ws.wait_closed()
    assert ws.close_code == code
    return event


async def wait_for_row(timeout: float = 10, **filters) -> RealtimeSession:
    """The one session row matching `filters` once it is final (polled, bounded)."""
    async with asyncio.timeout(timeout):
        while True:
            row = await RealtimeSession.objects.filter(**filters).afirst()
            if row is not None and row.ended_at is not None:
                return row
            await asyncio.sleep(0.05)
