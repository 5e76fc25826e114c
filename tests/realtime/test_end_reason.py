"""Rows say why a session ended; `usage` filters by it and writes CSV."""

from __future__ import annotations

import csv
import io
import json

import pytest
from asgiref.sync import sync_to_async
from django.core.management import call_command

from keys import services as key_services
from keys.models import VirtualKey
from realtime import selectors
from realtime.models import RealtimeSession
from tests.support.communicators import (
    expect_error_and_close,
    only_session,
    open_session,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


async def started(token: str):
    session = await open_session(token)
    assert (await session.receive_json_from(timeout=5))["type"] == "session.created"
    return session


async def test_a_client_close_and_an_upstream_close(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await started(issued.token)
    await session.disconnect()
    assert (await only_session()).end_reason == "client_closed"
    await RealtimeSession.objects.all().adelete()

    session = await started(issued.token)
    await session.send_json_to({"type": "fake.close", "code": 1000, "reason": "bye"})
    assert (await session.receive_output(timeout=5))["type"] == "websocket.close"
    row = await RealtimeSession.objects.aget()
    assert (row.status, row.end_reason) == ("finished", "upstream_closed")


async def test_a_revocation_is_recorded_as_such(fake_upstream, issue, settings):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.2
    issued = await issue(fake_upstream.url)
    session = await started(issued.token)
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await expect_error_and_close(session, code=4403, error_code="key_revoked")
    row = await only_session()
    assert (row.status, row.end_reason) == ("finished", "key_revoked")


async def test_a_refused_handshake_row_carries_its_error_code(fake_upstream, issue):
    issued = await issue(fake_upstream.url, models=("gpt-realtime",))
    session = await open_session(issued.token, path="/v1/realtime?model=other")
    await expect_error_and_close(session, code=4403, error_code="model_not_allowed")
    row = await only_session()
    assert (row.status, row.end_reason) == ("rejected", "model_not_allowed")


def _usage(*args: str) -> str:
    out = io.StringIO()
    call_command("usage", *args, stdout=out)
    return out.getvalue()


async def test_usage_filters_by_end_reason_and_writes_csv(fake_upstream, issue):
    issued = await issue(fake_upstream.url, models=("gpt-realtime",))
    await (await started(issued.token)).disconnect()
    refused = await open_session(issued.token, path="/v1/realtime?model=other")
    await expect_error_and_close(refused, code=4403, error_code="model_not_allowed")

    rows = json.loads(await sync_to_async(_usage)("--json"))
    assert sorted(row["end_reason"] for row in rows) == [
        "client_closed",
        "model_not_allowed",
    ]
    only = json.loads(
        await sync_to_async(_usage)("--json", "--end-reason", "model_not_allowed")
    )
    assert [row["status"] for row in only] == ["rejected"]

    table = list(csv.DictReader(io.StringIO(await sync_to_async(_usage)("--csv"))))
    assert len(table) == 2
    assert tuple(table[0]) == selectors.SESSION_COLUMNS
    assert {row["end_reason"] for row in table} == {
        "client_closed",
        "model_not_allowed",
    }
    assert all(row["virtual_key"] == issued.name for row in table)


def test_the_csv_columns_are_the_json_keys(db):
    from realtime.models import RealtimeSession as Row

    row = Row(provider_slug="p")
    assert tuple(selectors.session_as_dict(row)) == selectors.SESSION_COLUMNS
    empty = list(csv.reader(io.StringIO(_usage("--csv"))))
    assert tuple(empty[0]) == selectors.SESSION_COLUMNS and len(empty) == 1
