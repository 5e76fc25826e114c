"""Handshakes refused with an HTTP response (the ASGI denial-response extension,
as uvicorn offers it), through the real ASGI application: the status and body
change, nothing else does (no upstream, rows, metrics)."""

from __future__ import annotations

import json

import pytest

from realtime.models import RealtimeSession
from realtime.testing import FakeRealtimeServer
from tests.support import metrics
from tests.support.communicators import expect_denial, only_session, open_session
from tests.support.keys import REFUSED_KEY_CASES, UPSTREAM_SECRET, refused_key
from tests.support.processes import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(20)]


async def test_unknown_key_is_a_401_without_a_row_or_upstream(
    fake_upstream, issue, process, caplog
):
    await issue(fake_upstream.url)
    body = await expect_denial(
        "vk_" + "Z" * 43, status=401, error_code="invalid_api_key"
    )
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"] == "Invalid virtual key."
    assert await RealtimeSession.objects.acount() == 0
    assert fake_upstream.handshakes == []
    text = metrics.exposition(process)
    assert (
        metrics.value(text, "gateway_handshakes_refused_total", code="invalid_api_key")
        == 1
    )
    assert "refused a handshake" in caplog.text
    assert process.metrics.live_sessions() == 0


async def test_missing_key_is_a_401(fake_upstream):
    body = await expect_denial(headers=[], status=401, error_code="missing_api_key")
    assert "virtual key" in body["error"]["message"]


@pytest.mark.parametrize(("case", "error_code"), REFUSED_KEY_CASES)
async def test_known_keys_are_a_403_and_still_leave_a_rejected_row(
    fake_upstream, issue, case, error_code
):
    issued = await refused_key(issue, fake_upstream.url, case)

    await expect_denial(issued.token, status=403, error_code=error_code)

    row = await only_session()
    assert (row.status, row.close_code, row.virtual_key_name) == (
        "rejected",
        4403,
        issued.name,
    )
    assert row.ended_at is not None
    assert fake_upstream.handshakes == []


async def test_over_the_session_limit_is_a_429(fake_upstream, issue):
    issued = await issue(fake_upstream.url, max_sessions=1)
    first = await open_session(issued.token)
    assert (await first.receive_json_from())["type"] == "session.created"
    await expect_denial(
        issued.token, status=429, error_code="concurrent_sessions_exceeded"
    )
    await first.disconnect()
    statuses = [
        s async for s in RealtimeSession.objects.values_list("status", flat=True)
    ]
    assert sorted(statuses) == ["finished", "rejected"]
    assert len(fake_upstream.handshakes) == 1


async def test_upstream_refusals_are_502_429_and_504_and_rows_fail(issue, settings):
    settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT = 0.3
    cases = [
        ({"api_key": "sk-other"}, 502, "upstream_auth_failed"),
        ({"reject_status": 429}, 429, "upstream_rate_limited"),
        ({"reject_status": 500}, 502, "upstream_refused"),
        ({"handshake_delay": 3}, 504, "upstream_timeout"),
    ]
    for n, (fake_options, status, error_code) in enumerate(cases):
        async with FakeRealtimeServer(**fake_options) as upstream:
            issued = await issue(upstream.url, name=f"key-{n}")
            body = await expect_denial(
                issued.token, status=status, error_code=error_code
            )
        assert UPSTREAM_SECRET not in json.dumps(body)
        row = await RealtimeSession.objects.aget(virtual_key_name=issued.name)
        assert (row.status, row.close_code) == ("failed", 4000 + status)
        assert row.ended_at is not None


async def test_upstream_unreachable_is_a_502(issue):
    issued = await issue(f"ws://127.0.0.1:{free_port()}/v1/realtime")
    await expect_denial(issued.token, status=502, error_code="upstream_unavailable")
    assert (await only_session()).status == "failed"
