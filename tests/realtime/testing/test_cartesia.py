"""The Cartesia TTS fake, driven by a plain websockets client."""

from __future__ import annotations

import base64

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from realtime.testing import FakeCartesiaTTS
from tests.support.fakes import KEY, Event, receive, send

CARTESIA_REQUEST = {
    "model_id": "sonic-2",
    "transcript": "Hello world",
    "voice": {"mode": "id", "id": "a0e99841-438c-4a64-b679-ae501e7d6091"},
    "context_id": "ctx-1",
    "output_format": {
        "container": "raw",
        "encoding": "pcm_s16le",
        "sample_rate": 16000,
    },
    "add_timestamps": True,
    "continue": False,
}


async def cartesia_until_done(ws: ClientConnection) -> list[Event]:
    messages = [await receive(ws)]
    while messages[-1]["type"] not in ("done", "error"):
        messages.append(await receive(ws))
    return messages


@pytest.mark.timeout(10)
async def test_cartesia_generation_streams_chunks_then_done() -> None:
    async with FakeCartesiaTTS(api_key=KEY) as fake:
        url = f"{fake.url}?cartesia_version=2025-04-16"
        async with connect(url, additional_headers={"X-API-Key": KEY}) as ws:
            await send(ws, CARTESIA_REQUEST)
            messages = await cartesia_until_done(ws)

    chunks = [m for m in messages if m["type"] == "chunk"]
    audio = b"".join(base64.b64decode(m["data"]) for m in chunks)
    # 11 characters x 0.05 s at 16 kHz, 16-bit: 17,600 bytes in 100 ms chunks.
    assert len(audio) == 17600
    assert [len(base64.b64decode(m["data"])) for m in chunks] == [3200] * 5 + [1600]
    assert all(m["status_code"] == 206 and not m["done"] for m in chunks)
    assert all(m["context_id"] == "ctx-1" for m in messages)
    timestamps = next(m for m in messages if m["type"] == "timestamps")
    assert timestamps["word_timestamps"] == {
        "words": ["Hello", "world"],
        "start": [0.0, 0.3],
        "end": [0.25, 0.55],
    }
    assert messages[-1] == {
        "type": "done",
        "done": True,
        "status_code": 206,
        "context_id": "ctx-1",
    }
    assert fake.characters_received == 11
    assert fake.audio_bytes_sent == 17600
    assert fake.audio_seconds_sent == pytest.approx(0.55)
    assert fake.versions == ["2025-04-16"]


@pytest.mark.timeout(10)
async def test_cartesia_continued_context_and_errors() -> None:
    async with FakeCartesiaTTS(api_key=KEY) as fake:
        headers = {"Cartesia-Version": "2025-04-16"}
        async with connect(
            f"{fake.url}?api_key={KEY}", additional_headers=headers
        ) as ws:
            first = {**CARTESIA_REQUEST, "add_timestamps": False, "continue": True}
            await send(ws, first)
            chunk = await receive(ws)
            assert chunk["type"] == "chunk"
            await send(ws, {"context_id": "ctx-1", "transcript": "", "continue": False})
            rest = await cartesia_until_done(ws)
            assert rest[-1]["type"] == "done"

            bad = {**CARTESIA_REQUEST, "context_id": "ctx-2", "output_format": {}}
            await send(ws, bad)
            error = await receive(ws)
            await ws.send("not json")
            error_too = await receive(ws)
    assert (error["type"], error["status_code"], error["context_id"]) == (
        "error",
        400,
        "ctx-2",
    )
    assert error_too["type"] == "error"
    assert fake.characters_received == 11


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [
        ("?cartesia_version=2025-04-16", {"X-API-Key": "wrong"}, 401),
        ("?cartesia_version=2025-04-16", {}, 401),
        ("", {"X-API-Key": KEY}, 400),
        ("?cartesia_version=latest", {"X-API-Key": KEY}, 400),
    ],
)
async def test_cartesia_refuses_bad_handshakes(
    query: str, headers: dict[str, str], status: int
) -> None:
    async with FakeCartesiaTTS(api_key=KEY) as fake:
        with pytest.raises(InvalidStatus) as refused:
            await connect(fake.url + query, additional_headers=headers)
    assert refused.value.response.status_code == status
    assert len(fake.handshakes) == 1
