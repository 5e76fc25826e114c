"""The Gemini Live fake, driven by a plain websockets client."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus

from realtime.testing import FakeGeminiLive
from tests.support.fakes import GEMINI_SETUP, KEY, Event, close_code, receive, send


def user_turn(text: str) -> Event:
    turn = {"role": "user", "parts": [{"text": text}]}
    return {"clientContent": {"turns": [turn], "turnComplete": True}}


async def gemini_turn(ws: ClientConnection) -> list[Event]:
    """Collect server messages up to the one with turnComplete."""
    messages = [await receive(ws)]
    while not messages[-1].get("serverContent", {}).get("turnComplete"):
        messages.append(await receive(ws))
    return messages


@pytest.mark.timeout(10)
async def test_gemini_text_turns_report_per_turn_usage() -> None:
    async with FakeGeminiLive(api_key=KEY) as fake:
        headers = {"x-goog-api-key": KEY}
        async with connect(fake.url, additional_headers=headers) as ws:
            await send(ws, GEMINI_SETUP)
            frame = await ws.recv()
            assert isinstance(frame, bytes)  # the real server sends binary frames
            assert json.loads(frame) == {"setupComplete": {}}

            await send(ws, user_turn("hello there"))
            first = await gemini_turn(ws)
            # Snake case, as the Python SDK sends it, works too.
            turn = {"role": "user", "parts": [{"text": "again"}]}
            await send(ws, {"client_content": {"turns": [turn], "turn_complete": True}})
            second = await gemini_turn(ws)

    texts = [
        part["text"]
        for message in first
        for part in message["serverContent"].get("modelTurn", {}).get("parts", [])
    ]
    assert "".join(texts) == "You said: hello there"
    assert first[-2] == {"serverContent": {"generationComplete": True}}
    # Usage rides on the turnComplete message, counted per turn.
    assert first[-1]["usageMetadata"] == {
        "promptTokenCount": 4,  # "Be brief." + "hello there"
        "responseTokenCount": 4,
        "totalTokenCount": 8,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
        "responseTokensDetails": [{"modality": "TEXT", "tokenCount": 4}],
    }
    # The history (with the first reply) is in the prompt; half of it cached.
    assert second[-1]["usageMetadata"] == {
        "promptTokenCount": 9,
        "cachedContentTokenCount": 2,
        "responseTokenCount": 3,
        "totalTokenCount": 12,
        "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 9}],
        "responseTokensDetails": [{"modality": "TEXT", "tokenCount": 3}],
    }
    assert fake.usage_sent == [first[-1]["usageMetadata"], second[-1]["usageMetadata"]]
    assert fake.setups[0]["model"] == "models/gemini-live-2.5-flash-preview"
    assert fake.handshakes[0].header("x-goog-api-key") == KEY


@pytest.mark.timeout(10)
async def test_gemini_audio_turn_in_text_frames_with_query_key() -> None:
    async with FakeGeminiLive(api_key=KEY, binary_frames=False) as fake:
        url = f"{fake.url}?key={KEY}"  # the key as a query parameter
        async with connect(url) as ws:
            setup = {
                "setup": {
                    "model": "models/gemini-2.5-flash-native-audio",
                    "generationConfig": {"responseModalities": ["AUDIO"]},
                }
            }
            await send(ws, setup)
            assert isinstance(await ws.recv(), str)
            second = base64.b64encode(bytes(32000)).decode()  # 1 s at 16 kHz
            audio = {"data": second, "mimeType": "audio/pcm;rate=16000"}
            await send(ws, {"realtimeInput": {"audio": audio}})
            await send(ws, {"realtimeInput": {"audioStreamEnd": True}})
            messages = await gemini_turn(ws)

    inline = [
        part["inlineData"]
        for message in messages
        for part in message["serverContent"].get("modelTurn", {}).get("parts", [])
    ]
    assert [blob["mimeType"] for blob in inline] == ["audio/pcm;rate=24000"] * 3
    assert sum(len(base64.b64decode(blob["data"])) for blob in inline) == 36000
    assert messages[-1]["usageMetadata"] == {
        "promptTokenCount": 32,
        "responseTokenCount": 24,
        "totalTokenCount": 56,
        "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 32}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 24}],
    }


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("query", "headers", "code"),
    [
        ("", {"x-goog-api-key": "wrong"}, 1007),
        ("?key=wrong", {}, 1007),
        ("", {}, 1008),
        ("?model=models/gemini-2.0-flash", {"x-goog-api-key": KEY}, 1007),
    ],
)
async def test_gemini_refusals_close_after_the_upgrade(
    query: str, headers: dict[str, str], code: int
) -> None:
    async with FakeGeminiLive(api_key=KEY) as fake:
        async with connect(fake.url + query, additional_headers=headers) as ws:
            received, reason = await close_code(ws)
        await fake.wait_closed_count(1)
    assert received == code
    assert reason
    assert fake.usage_sent == []


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    "first", [b"not json", user_turn("too early"), {"setup": {"model": "nope"}}]
)
async def test_gemini_bad_first_message_closes_1007(first: Any) -> None:
    async with FakeGeminiLive(api_key=KEY) as fake:
        headers = {"x-goog-api-key": KEY}
        async with connect(fake.url, additional_headers=headers) as ws:
            await ws.send(first if isinstance(first, bytes) else json.dumps(first))
            assert await close_code(ws) == (
                1007,
                "Request contains an invalid argument.",
            )


@pytest.mark.timeout(10)
async def test_gemini_unknown_path_is_404() -> None:
    async with FakeGeminiLive(api_key=KEY) as fake:
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{fake.base_url}/ws/elsewhere?key={KEY}")
    assert refused.value.response.status_code == 404
