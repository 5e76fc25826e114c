"""The ElevenLabs fake (TTS and Agents), driven by a plain websockets client."""

from __future__ import annotations

import base64
import contextlib

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.testing import FakeElevenLabs
from tests.support.fakes import ELEVEN_INIT, KEY, close_code, receive, send


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
