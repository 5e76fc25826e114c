"""Realtime transcription through a real gateway process, against the fake
upstream: the transcription's usage reaches the row, priced at the
transcription model's rates, never the session model's."""

from __future__ import annotations

import base64
import datetime
import json
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect

from realtime.models import ModelPrice
from tests.support.clients import receive_event, wait_for_row

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

ONE_SECOND = base64.b64encode(b"\0" * 48_000).decode()  # 24 kHz PCM16 mono
SINCE = datetime.date(2020, 1, 1)


@pytest.fixture
async def prices():
    """The session model priced far above the transcription models, so a
    transcription priced at its rates would show."""
    await ModelPrice.objects.filter(provider_kind="openai").adelete()
    rows = (
        ModelPrice(
            model="gpt-realtime",
            transcription_per_mtok=Decimal(999),
            transcription_per_minute=Decimal(999),
        ),
        ModelPrice(model="gpt-4o-transcribe", transcription_per_mtok=Decimal(6)),
        ModelPrice(
            model="gpt-realtime-whisper", transcription_per_minute=Decimal("0.017")
        ),
    )
    for row in rows:
        row.provider_kind, row.effective_from = "openai", SINCE
    await ModelPrice.objects.abulk_create(rows)


async def transcribe(url: str, token: str, session: dict) -> dict:
    """A session.update, a committed second of audio; its `completed` event."""
    headers = {"Authorization": f"Bearer {token}"}
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        assert (await receive_event(ws))["type"] == "session.created"
        await ws.send(json.dumps({"type": "session.update", "session": session}))
        await ws.send(
            json.dumps({"type": "input_audio_buffer.append", "audio": ONE_SECOND})
        )
        await ws.send(json.dumps({"type": "input_audio_buffer.commit"}))
        event = await receive_event(ws)
        while event["type"] != "conversation.item.input_audio_transcription.completed":
            event = await receive_event(ws)
    return event


def transcription(model: str, session_type: str) -> dict:
    return {
        "type": session_type,
        "audio": {"input": {"transcription": {"model": model}}},
    }


async def test_a_transcription_session_is_billed_its_tokens(
    daphne, fake_upstream, issue, prices
):
    issued = await issue(fake_upstream.url, models=("gpt-4o-transcribe",))
    url = f"ws://127.0.0.1:{daphne.port}/v1/realtime?intent=transcription"
    completed = await transcribe(
        url, issued.token, transcription("gpt-4o-transcribe", "transcription")
    )
    usage = completed["usage"]
    assert usage["type"] == "tokens"
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.interface, row.model) == ("transcription", "gpt-4o-transcribe")
    assert row.transcription_tokens == usage["total_tokens"] == 70
    assert row.cost_usd == Decimal("0.000420")  # 70 tokens at $6 per million


async def test_a_duration_billed_transcription_session_is_billed_its_seconds(
    daphne, fake_upstream, issue, prices
):
    issued = await issue(fake_upstream.url)
    url = f"ws://127.0.0.1:{daphne.port}/v1/realtime?model=gpt-realtime"
    completed = await transcribe(
        url, issued.token, transcription("gpt-realtime-whisper", "transcription")
    )
    assert completed["usage"] == {"type": "duration", "seconds": 1.0}
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.interface, row.model) == ("transcription", "gpt-realtime-whisper")
    assert (row.transcription_seconds, row.transcription_tokens) == (1.0, 0)
    assert row.cost_usd == Decimal("0.000283")  # 1 s at $0.017 a minute


async def test_a_realtime_sessions_input_transcription_at_its_models_rates(
    daphne, fake_upstream, issue, prices
):
    issued = await issue(fake_upstream.url)
    url = f"ws://127.0.0.1:{daphne.port}/v1/realtime?model=gpt-realtime"
    await transcribe(url, issued.token, transcription("gpt-4o-transcribe", "realtime"))
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.interface, row.model) == ("realtime", "gpt-realtime")
    assert row.transcription_tokens == 70
    assert row.cost_usd == Decimal("0.000420")  # not gpt-realtime's $999
