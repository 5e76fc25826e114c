"""The session row's prepared INSERT and UPDATE write what the ORM would."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.utils import timezone

from keys.models import Provider
from realtime import rows
from realtime.models import RealtimeSession, SessionStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def provider():
    return Provider.objects.create(
        slug="fake", kind="openai", upstream_url="ws://127.0.0.1:9/v1/realtime"
    )


def test_an_inserted_row_has_the_models_defaults(provider):
    session_id = uuid.uuid4()
    before = timezone.now()
    rows.insert_session(
        {
            "id": session_id,
            "provider_id": provider.pk,
            "provider_slug": "fake",
            "model": "gpt-realtime",
            "client_address": "2001:db8::1",
        }
    )
    row = RealtimeSession.objects.get(pk=session_id)
    made = RealtimeSession(id=session_id, provider_id=provider.pk)
    assert row.status == SessionStatus.ACTIVE
    assert (row.provider_slug, row.model, row.client_address) == (
        "fake",
        "gpt-realtime",
        "2001:db8::1",
    )
    assert before <= row.started_at <= timezone.now()
    assert row.ended_at is None and row.cost_usd is None and row.virtual_key is None
    for name in ("attempts", "interface", "messages_from_client", "audio_seconds"):
        assert getattr(row, name) == getattr(made, name), name


def test_an_update_writes_unfinished_and_interrupted_rows_only(provider):
    ids = [uuid.uuid4() for _ in range(3)]
    for session_id in ids:
        rows.insert_session({"id": session_id, "provider_slug": "fake"})
    live, interrupted, ended = ids
    now = timezone.now()
    RealtimeSession.objects.filter(pk=interrupted).update(
        status=SessionStatus.INTERRUPTED, ended_at=now
    )
    RealtimeSession.objects.filter(pk=ended).update(
        status=SessionStatus.FINISHED, ended_at=now
    )
    final = {
        "status": SessionStatus.FINISHED,
        "ended_at": now + datetime.timedelta(seconds=1),
        "cost_usd": Decimal("0.001234"),
        "input_tokens": 7,
        "transcription_seconds": 1.5,
    }
    assert [rows.update_unfinished(session_id, final) for session_id in ids] == [
        1,
        1,
        0,
    ]
    for session_id in (live, interrupted):
        row = RealtimeSession.objects.get(pk=session_id)
        assert row.status == SessionStatus.FINISHED
        assert row.ended_at == final["ended_at"]
        assert row.cost_usd == Decimal("0.001234")
        assert (row.input_tokens, row.transcription_seconds) == (7, 1.5)
    assert RealtimeSession.objects.get(pk=ended).ended_at == now
