"""The session row's prepared INSERT and UPDATE write what the ORM would."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from keys.models import Provider
from realtime import rows
from realtime.models import RealtimeSession, SessionInterface, SessionStatus

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


def _stored(session_id):
    """The row as the database holds it, column by column, but its id."""
    table = RealtimeSession._meta.db_table
    columns = [f.column for f in RealtimeSession._meta.local_concrete_fields]
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(columns)} FROM {table} WHERE id = %s",
            [RealtimeSession._meta.pk.get_db_prep_value(session_id, connection)],
        )
        row = cursor.fetchone()
    return {c: v for c, v in zip(columns, row, strict=True) if c != "id"}


def test_the_statements_write_exactly_what_the_orm_writes(provider):
    start = {
        "virtual_key_id": None,
        "virtual_key_name": "",
        "provider_id": provider.pk,
        "provider_slug": "fake",
        "model": "gpt-realtime",
        "interface": SessionInterface.TRANSCRIPTION,
        "client_address": "2001:db8::1",
        "gateway_instance": "host:8000",
        "started_at": timezone.now(),
    }
    ours, orms = uuid.uuid4(), uuid.uuid4()
    rows.insert_session({"id": ours, **start})
    RealtimeSession.objects.create(id=orms, **start)
    assert _stored(ours) == _stored(orms)
    final = {
        "messages_from_client": 3,
        "bytes_from_upstream": 2**40,
        "responses": 1,
        "audio_seconds": 1.25,
        "model": "gpt-realtime-2025",
        "cost_usd": Decimal("0.000123"),
        "status": SessionStatus.FINISHED,
        "ended_at": start["started_at"] + datetime.timedelta(seconds=3),
        "close_code": None,
        "close_reason": "bye",
        "end_reason": "client_closed",
        "error": "",
    }
    assert rows.update_unfinished(ours, final) == 1
    RealtimeSession.objects.filter(pk=orms).update(**final)
    assert _stored(ours) == _stored(orms)
    final |= {"close_code": 1000, "status": "failed", "transcription_seconds": 2.0}
    assert rows.update_unfinished(ours, final) == 0  # ended: left alone
    RealtimeSession.objects.filter(pk=ours).update(status=SessionStatus.INTERRUPTED)
    RealtimeSession.objects.filter(pk=orms).update(status=SessionStatus.INTERRUPTED)
    assert rows.update_unfinished(ours, final) == 1
    RealtimeSession.objects.filter(pk=orms).update(**final)
    assert _stored(ours) == _stored(orms)


@pytest.mark.parametrize(
    "samples", [("", "x", None), (0, 1, 2**62, None), (0.0, 1.5, None)]
)
def test_a_value_converted_without_its_field_is_what_its_field_gives(samples):
    dialect = rows._dialect_for(connection.alias)
    assert dialect.conversions  # the common types are converted here
    for name, (types, _) in dialect.conversions.items():
        field = RealtimeSession._meta.get_field(name)
        for value in samples:
            if type(value) in types:
                ours = rows._prepared(dialect, name, value, connection)
                orms = field.get_db_prep_save(value, connection)
                assert (type(ours), ours) == (type(orms), orms), name


def test_logged_queries_go_through_djangos_cursor(provider):
    with CaptureQueriesContext(connection) as queries:
        rows.insert_session({"id": uuid.uuid4(), "provider_slug": "fake"})
    [query] = queries.captured_queries
    assert query["sql"].startswith("INSERT INTO")


def test_a_failing_statement_raises_djangos_error(provider):
    session_id = uuid.uuid4()
    rows.insert_session({"id": session_id, "provider_slug": "fake"})
    with pytest.raises(IntegrityError):
        rows.insert_session({"id": session_id, "provider_slug": "fake"})
