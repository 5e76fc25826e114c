"""The OpenAI fake's input transcription, driven by a plain websockets client;
every event checked against the `openai` SDK's own types."""

from __future__ import annotations

import base64
from typing import Annotated, Any

import pytest
from openai.types.realtime import RealtimeServerEvent
from pydantic import Field, TypeAdapter
from websockets.asyncio.client import connect

from realtime.testing import FakeRealtimeServer
from tests.support.fakes import KEY, receive, send

pytestmark = pytest.mark.timeout(10)

SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(
    Annotated[RealtimeServerEvent, Field(discriminator="type")]
)
ONE_SECOND = base64.b64encode(b"\0" * 48_000).decode()  # 24 kHz PCM16 mono
HALF_SECOND = base64.b64encode(b"\0" * 24_000).decode()


def transcribing(model: str, session_type: str) -> dict:
    audio = {"input": {"transcription": {"model": model}}}
    return {"type": "session.update", "session": {"type": session_type, "audio": audio}}


async def transcribe(query: str, update: dict) -> tuple[dict, list[dict]]:
    """session.created, then the events a committed second of audio brings."""
    async with FakeRealtimeServer(api_key=KEY) as fake:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with connect(f"{fake.url}?{query}", additional_headers=headers) as ws:
            created = await receive(ws)
            await send(ws, update)
            assert (await receive(ws))["type"] == "session.updated"
            for _ in range(2):  # two appends, one committed item
                await send(
                    ws, {"type": "input_audio_buffer.append", "audio": HALF_SECOND}
                )
            await send(ws, {"type": "input_audio_buffer.commit"})
            events = [await receive(ws)]
            while not events[-1]["type"].endswith("transcription.completed"):
                events.append(await receive(ws))
    for event in (created, *events):
        SERVER_EVENT.validate_python(event)  # as the SDKs parse it
    return created, events


async def test_a_transcription_session_bills_tokens_for_gpt_4o_transcribe():
    created, events = await transcribe(
        "intent=transcription", transcribing("gpt-4o-transcribe", "transcription")
    )
    assert created["session"]["type"] == "transcription"
    assert "model" not in created["session"]
    kinds = [event["type"] for event in events]
    assert kinds[:2] == ["input_audio_buffer.committed", "conversation.item.added"]
    deltas = [e for e in events if e["type"].endswith("transcription.delta")]
    completed = events[-1]
    assert "".join(d["delta"] for d in deltas) == completed["transcript"]
    assert completed["item_id"] == events[0]["item_id"]
    assert completed["transcript"] == " ".join(f"w{n}" for n in range(1, 11))
    assert completed["usage"] == {
        "type": "tokens",
        "input_tokens": 60,  # 48,000 bytes / 800
        "output_tokens": 10,  # a word per 100 ms
        "total_tokens": 70,
        "input_token_details": {"audio_tokens": 60, "text_tokens": 0},
    }


@pytest.mark.parametrize("model", ["whisper-1", "gpt-realtime-whisper"])
async def test_whisper_style_models_bill_the_audio_duration(model):
    created, events = await transcribe(
        "model=gpt-realtime", transcribing(model, "realtime")
    )
    assert created["session"]["type"] == "realtime"
    assert events[-1]["usage"] == {"type": "duration", "seconds": 1.0}


async def test_no_transcription_model_no_transcription():
    async with FakeRealtimeServer(api_key=KEY) as fake:
        headers = {"Authorization": f"Bearer {KEY}"}
        async with connect(f"{fake.url}?model=x", additional_headers=headers) as ws:
            await receive(ws)
            await send(ws, {"type": "input_audio_buffer.append", "audio": ONE_SECOND})
            await send(ws, {"type": "input_audio_buffer.commit"})
            await send(ws, {"type": "fake.echo", "marker": 1})
            kinds = [(await receive(ws))["type"] for _ in range(3)]
    assert kinds == [
        "input_audio_buffer.committed",
        "conversation.item.added",
        "fake.echo",
    ]
