"""The provider fakes, driven by a plain websockets client."""

from __future__ import annotations

import base64
import contextlib
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.fakes.providers import (
    FakeAzureRealtime,
    FakeCartesiaTTS,
    FakeElevenLabs,
    FakeGeminiLive,
)

KEY = "test-provider-key"
Event = dict[str, Any]


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


# ----------------------------------------------------------------- Gemini Live

GEMINI_SETUP = {
    "setup": {
        "model": "models/gemini-live-2.5-flash-preview",
        "generationConfig": {"responseModalities": ["TEXT"]},
        "systemInstruction": {"parts": [{"text": "Be brief."}]},
    }
}


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


# -------------------------------------------------------------------- Cartesia

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


# ------------------------------------------------------------------ ElevenLabs

ELEVEN_INIT = {
    "text": " ",
    "voice_settings": {"stability": 0.5, "similarity_boost": 0.8},
    "generation_config": {"chunk_length_schedule": [50]},
}


@pytest.mark.timeout(10)
async def test_elevenlabs_tts_streams_audio_then_final() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        url = fake.tts_url(
            "voice-1", model_id="eleven_flash_v2_5", output_format="pcm_16000"
        )
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            await send(ws, ELEVEN_INIT)
            await send(ws, {"text": "Hello "})
            await send(ws, {"text": "world. ", "flush": True})
            flushed = await receive(ws)
            await send(ws, {"text": "Bye"})
            await send(ws, {"text": ""})
            last = await receive(ws)
            final = await receive(ws)
            assert await close_code(ws) == (1000, "")

    assert base64.b64decode(flushed["audio"]) == bytes(13 * 1600)
    assert flushed["isFinal"] is False
    assert flushed["alignment"]["chars"] == list("Hello world. ")
    assert flushed["alignment"]["charStartTimesMs"][:3] == [0, 50, 100]
    assert flushed["normalizedAlignment"]["charsDurationsMs"] == [50] * 13
    assert len(base64.b64decode(last["audio"])) == 3 * 1600
    assert final == {"isFinal": True}
    assert fake.characters_received == 16
    assert fake.audio_bytes_sent == 16 * 1600
    assert fake.audio_seconds_sent == pytest.approx(0.8)
    assert fake.handshakes[0].query["model_id"] == "eleven_flash_v2_5"


@pytest.mark.timeout(10)
async def test_elevenlabs_tts_key_in_first_message_and_default_mp3() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        url = fake.tts_url("voice-1")  # no output_format: mp3_44100_128
        async with connect(url) as ws:
            await send(ws, {**ELEVEN_INIT, "xi_api_key": KEY})
            await send(ws, {"text": "Hi", "try_trigger_generation": True})
            audio = await receive(ws)
    # mp3_44100_128 is 16,000 bytes a second: 800 bytes per character.
    assert len(base64.b64decode(audio["audio"])) == 1600


@pytest.mark.timeout(10)
@pytest.mark.parametrize("headers", [{"xi-api-key": "wrong"}, {}])
async def test_elevenlabs_tts_wrong_key_closes_1008(headers: dict[str, str]) -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        url = fake.tts_url("voice-1")
        async with connect(url, additional_headers=headers) as ws:
            with contextlib.suppress(ConnectionClosed):  # a wrong header: at once
                await send(ws, ELEVEN_INIT)
            assert (await close_code(ws))[0] == 1008
    assert fake.characters_received == 0


@pytest.mark.timeout(10)
async def test_elevenlabs_tts_inactivity_and_voice_settings_close_1008() -> None:
    async with FakeElevenLabs(api_key=KEY, inactivity_timeout=0.2) as fake:
        headers = {"xi-api-key": KEY}
        async with connect(fake.tts_url("v"), additional_headers=headers) as ws:
            await send(ws, ELEVEN_INIT)
            code, reason = await close_code(ws)
            assert code == 1008
            assert reason.startswith("Have not received a new text input")
        async with connect(fake.tts_url("v"), additional_headers=headers) as ws:
            await send(ws, ELEVEN_INIT)
            await send(ws, {"text": "Hi ", "voice_settings": {"stability": 1.0}})
            code, reason = await close_code(ws)
            assert code == 1008
            assert reason.startswith("voice_settings field must be provided")


@pytest.mark.timeout(10)
async def test_elevenlabs_agent_metadata_ping_pong_and_replies() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        url = fake.agent_url("agent-1")
        async with connect(url, additional_headers={"xi-api-key": KEY}) as ws:
            metadata = await receive(ws)
            ping = await receive(ws)
            await send(ws, {"type": "pong", "event_id": ping["ping_event"]["event_id"]})

            await send(ws, {"type": "user_message", "text": "hi agent"})
            response = await receive(ws)
            audio_events = []
            while (event := await receive(ws))["type"] == "audio":
                audio_events.append(event)
            assert event["type"] == "ping"

            chunk = base64.b64encode(bytes(16000)).decode()  # 0.5 s at 16 kHz
            await send(ws, {"user_audio_chunk": chunk})
            await send(ws, {"user_audio_chunk": chunk})
            transcript = await receive(ws)
            while (event := await receive(ws))["type"] != "ping":
                pass  # drain the reply, so that closing is not held up

    assert metadata == {
        "type": "conversation_initiation_metadata",
        "conversation_initiation_metadata_event": {
            "conversation_id": "conv_0001",
            "agent_output_audio_format": "pcm_16000",
            "user_input_audio_format": "pcm_16000",
        },
    }
    assert ping == {"type": "ping", "ping_event": {"event_id": 1, "ping_ms": 20}}
    assert fake.pongs == [1]
    assert response == {
        "type": "agent_response",
        "agent_response_event": {"agent_response": "You said: hi agent"},
    }
    ids = [e["audio_event"]["event_id"] for e in audio_events]
    assert ids == sorted(ids) and ids[0] > 1
    audio = b"".join(
        base64.b64decode(e["audio_event"]["audio_base_64"]) for e in audio_events
    )
    assert len(audio) == 18 * 1600  # "You said: hi agent" at 0.05 s a character
    assert transcript == {
        "type": "user_transcript",
        "user_transcription_event": {"user_transcript": "(1000 ms of audio)"},
    }
    assert fake.agent_meter.audio_bytes_received == 32000
    assert fake.agent_meter.characters_sent >= 18


@pytest.mark.timeout(10)
async def test_elevenlabs_agent_wrong_key_closes_1008() -> None:
    async with FakeElevenLabs(api_key=KEY) as fake:
        url = fake.agent_url("agent-1")
        async with connect(url, additional_headers={"xi-api-key": "wrong"}) as ws:
            assert (await close_code(ws))[0] == 1008
        with pytest.raises(InvalidStatus) as refused:
            await connect(f"{fake.base_url}/v1/elsewhere")
    assert refused.value.response.status_code == 404


# ----------------------------------------------------------------------- Azure


@pytest.mark.timeout(10)
async def test_azure_ga_path_runs_the_openai_conversation() -> None:
    async with FakeAzureRealtime(api_key=KEY) as fake:
        url = f"{fake.url}?model=my-realtime"
        async with connect(url, additional_headers={"api-key": KEY}) as ws:
            created = await receive(ws)
            await send(ws, {"type": "response.create"})
            while (event := await receive(ws))["type"] != "response.done":
                pass
    assert created["type"] == "session.created"
    assert created["session"]["model"] == "my-realtime"
    assert event["response"]["usage"]["total_tokens"] > 0
    assert fake.usage_sent == [event["response"]["usage"]]
    assert fake.deployments_used == ["my-realtime"]
    assert fake.handshakes[0].path == "/openai/v1/realtime"


@pytest.mark.timeout(10)
async def test_azure_preview_path_with_bearer_token() -> None:
    async with FakeAzureRealtime(api_key=KEY, entra_token="entra") as fake:
        url = f"{fake.preview_url}?api-version=2025-04-01-preview&deployment=dep"
        headers = {"Authorization": "Bearer entra"}
        async with connect(url, additional_headers=headers) as ws:
            assert (await receive(ws))["type"] == "session.created"
        async with connect(f"{url}&api-key={KEY}") as ws:
            assert (await receive(ws))["type"] == "session.created"
    assert fake.deployments_used == ["dep", "dep"]


@pytest.mark.timeout(10)
@pytest.mark.parametrize(
    ("path", "query", "headers", "status"),
    [
        ("/openai/v1/realtime", "?model=dep", {"api-key": "wrong"}, 401),
        ("/openai/v1/realtime", "?model=dep", {}, 401),
        (
            "/openai/v1/realtime",
            "?model=dep&api-version=2025-04-01-preview",
            {"api-key": KEY},
            400,
        ),
        ("/openai/v1/realtime", "", {"api-key": KEY}, 400),
        ("/openai/v1/realtime", "?model=missing", {"api-key": KEY}, 404),
        ("/openai/realtime", "?deployment=dep", {"api-key": KEY}, 404),
        ("/v1/realtime", "?model=dep", {"api-key": KEY}, 404),
    ],
)
async def test_azure_refuses_bad_handshakes(
    path: str, query: str, headers: dict[str, str], status: int
) -> None:
    async with FakeAzureRealtime(api_key=KEY, deployments={"dep"}) as fake:
        with pytest.raises(InvalidStatus) as refused:
            await connect(fake.base_url + path + query, additional_headers=headers)
    assert refused.value.response.status_code == status
    assert json.loads(refused.value.response.body)["error"]["message"]
    assert fake.deployments_used == []


# --------------------------------------------------------------- bad input

JUNK = [
    b"\xff\xfe",
    "[]",
    "null",
    '{"setup": []}',
    '{"text": [], "voice_settings": [], "generation_config": []}',
    '{"transcript": "x", "model_id": [], "output_format": {"encoding": []}}',
    '{"transcript": [], "context_id": 5, "cancel": []}',
    '{"user_audio_chunk": 5, "type": "pong", "event_id": []}',
    '{"realtimeInput": {"mediaChunks": [{"data": []}], "audio": "x"}}',
    '{"clientContent": {"turns": [{"parts": [5]}, 7], "turnComplete": true}}',
    '{"type": "user_message", "text": 5}',
]


@pytest.mark.timeout(10)
async def test_bad_input_never_crashes_a_fake(caplog: pytest.LogCaptureFixture) -> None:
    gemini, cartesia = FakeGeminiLive(api_key=KEY), FakeCartesiaTTS(api_key=KEY)
    eleven, azure = FakeElevenLabs(api_key=KEY), FakeAzureRealtime(api_key=KEY)
    async with gemini, cartesia, eleven, azure:
        targets = [
            (f"{gemini.url}?key={KEY}", {}, [json.dumps(GEMINI_SETUP)]),
            (f"{cartesia.url}?cartesia_version=2025-04-16&api_key={KEY}", {}, []),
            (eleven.tts_url("v"), {"xi-api-key": KEY}, [json.dumps(ELEVEN_INIT)]),
            (eleven.agent_url("a"), {"xi-api-key": KEY}, []),
            (f"{azure.url}?model=dep", {"api-key": KEY}, []),
        ]
        for url, headers, opening in targets:
            for frame in JUNK:
                async with connect(url, additional_headers=headers) as ws:
                    with contextlib.suppress(ConnectionClosed):
                        for message in [*opening, frame]:
                            await ws.send(message)
                assert ws.close_code != 1011
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
