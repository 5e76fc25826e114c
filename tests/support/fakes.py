"""Clients of the fakes in realtime.testing: frames, waits and opening messages."""

from __future__ import annotations

import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

KEY = "test-provider-key"
Event = dict[str, Any]

GEMINI_SETUP = {
    "setup": {
        "model": "models/gemini-live-2.5-flash-preview",
        "generationConfig": {"responseModalities": ["TEXT"]},
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
}

ELEVEN_INIT = {
    "text": " ",
    "voice_settings": {"stability": 0.5, "similarity_boost": 0.8},
    "generation_config": {"chunk_length_schedule": [50]},
}


async def receive(ws: ClientConnection) -> Event:
    return json.loads(await ws.recv())


async def send(ws: ClientConnection, event: Event) -> None:
    await ws.send(json.dumps(event))


async def close_code(ws: ClientConnection) -> tuple[int | None, str]:
    """Read until the server closes; return the close code and reason."""
    with pytest.raises(ConnectionClosed):
        while True:
            await ws.recv()
    assert ws.close_code is not None
    return ws.close_code, ws.close_reason or ""
