"""Translation and transcription sessions through the real ASGI application,
against the fake upstream: their rows' interface, units and cost."""

from __future__ import annotations

import base64
import datetime
from decimal import Decimal

import pytest

from realtime.models import ModelPrice
from tests.support.clients import wait_for_row
from tests.support.communicators import (
    expect_error_and_close,
    open_session,
    read_until,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

TRANSLATE = "/v1/realtime/translations?model=gpt-realtime-translate"
HALF_SECOND = base64.b64encode(b"\0" * 24_000).decode()


async def test_a_translation_session_is_metered_in_source_audio_seconds(
    fake_upstream, issue
):
    await ModelPrice.objects.acreate(
        provider_kind="openai",
        model="gpt-realtime-translate",
        effective_from=datetime.date(2020, 1, 1),
        translation_per_minute=Decimal("0.034"),
    )
    issued = await issue(fake_upstream.url, models=("gpt-realtime-translate",))
    session = await open_session(issued.token, path=TRANSLATE)
    assert (await session.receive_json_from(timeout=5))["type"] == "session.created"
    append = {"type": "session.input_audio_buffer.append", "audio": HALF_SECOND}
    for _ in range(4):
        await session.send_json_to(append)
        await read_until(session, "session.output_transcript.delta")
    await session.send_json_to({"type": "session.close"})
    await read_until(session, "session.closed")
    row = await wait_for_row(virtual_key_name=issued.name)
    [handshake] = fake_upstream.handshakes
    assert handshake.path == "/v1/realtime/translations"
    assert handshake.query == {"model": "gpt-realtime-translate"}
    assert fake_upstream.translated_bytes == [24_000] * 4
    assert (row.interface, row.model) == ("translation", "gpt-realtime-translate")
    assert row.translation_seconds == 2.0
    assert row.cost_usd == Decimal("0.001133")  # 2 s at $0.034 a minute


async def test_a_translation_model_outside_the_allow_list_is_refused(
    fake_upstream, issue
):
    issued = await issue(fake_upstream.url, models=("gpt-realtime-translate",))
    path = "/v1/realtime/translations?model=gpt-realtime-other"
    session = await open_session(issued.token, path=path)
    await expect_error_and_close(session, code=4403, error_code="model_not_allowed")
    assert fake_upstream.handshakes == []


async def test_an_intent_of_transcription_marks_the_row(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    path = "/v1/realtime?intent=transcription&model=gpt-realtime"
    session = await open_session(issued.token, path=path)
    assert (await session.receive_json_from(timeout=5))["type"] == "session.created"
    await session.disconnect()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.interface == "transcription"
    assert fake_upstream.handshakes[0].query["intent"] == "transcription"
