"""GPT-Live sessions through the real ASGI application, against the fake upstream
(`/v1/live/sessions` on FakeRealtimeServer's origin)."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from realtime.models import RealtimeSession
from realtime.testing import FakeAzureRealtime
from tests.support.communicators import (
    expect_denial,
    expect_error_and_close,
    open_session,
    read_until,
)
from tests.support.keys import UPSTREAM_SECRET
from tests.support.prices import gpt_live_list_price

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

LIVE = "/v1/live/sessions"
START = {"type": "session.start", "event_id": "c1", "session": {"model": "gpt-live-1"}}


@pytest.fixture
async def live_price():
    await gpt_live_list_price()


async def start(session) -> dict:
    await session.send_json_to(START)
    [started] = await read_until(session, "session.started")
    return started


async def final_row() -> RealtimeSession:
    async with asyncio.timeout(10):
        while True:
            row = await RealtimeSession.objects.afirst()
            if row is not None and row.ended_at is not None:
                return row
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("path", [LIVE, "/openai/v1/live/sessions"])
async def test_a_live_session_is_metered_from_its_final_usage(
    fake_upstream, issue, live_price, path
):
    issued = await issue(fake_upstream.url, models=("gpt-live-1",))
    session = await open_session(issued.token, path=path)
    started = await start(session)
    assert started["client_event_id"] == "c1"
    await session.send_json_to({"type": "fake.delegate", "input_tokens": 30})
    await read_until(session, "response.event")
    await session.send_json_to({"type": "session.close"})
    closed = (await read_until(session, "session.closed"))[-1]
    assert (await session.receive_output(timeout=5))["type"] == "websocket.close"

    row = await final_row()
    [handshake] = fake_upstream.handshakes
    assert (handshake.path, handshake.query_items) == (LIVE, ())
    assert handshake.header("authorization") == f"Bearer {UPSTREAM_SECRET}"
    assert (row.interface, row.model, row.status) == ("live", "gpt-live-1", "finished")
    assert row.active_seconds == closed["usage"]["seconds"] > 0
    assert (row.responses, row.input_tokens) == (1, 30)
    expected = Decimal(str(row.active_seconds)) / 60 * Decimal("0.05")
    assert row.cost_usd == expected.quantize(Decimal("0.000001"))


async def test_a_model_outside_the_allow_list_never_reaches_the_provider(
    fake_upstream, issue
):
    issued = await issue(fake_upstream.url, models=("gpt-live-1",))
    session = await open_session(issued.token, path=LIVE)
    await session.send_json_to(
        {"type": "session.start", "session": {"model": "gpt-live-9"}}
    )
    event = await expect_error_and_close(
        session, code=4403, error_code="model_not_allowed"
    )
    assert event["event_id"].startswith("event_")
    row = await final_row()
    assert (row.interface, row.model, row.status) == ("live", "gpt-live-9", "rejected")
    assert "session.start" not in fake_upstream.client_events


async def test_a_frame_before_session_start_is_refused(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token, path=LIVE)
    await session.send_json_to({"type": "session.input_audio.append", "audio": ""})
    await expect_error_and_close(
        session, code=4400, error_code="session_start_required"
    )
    assert fake_upstream.client_events == []


async def test_a_provider_without_gpt_live_refuses_it(issue):
    issued = await issue("ws://127.0.0.1:9/ws", kind="google", slug="gemini")
    session = await open_session(issued.token, path=LIVE)
    await expect_error_and_close(session, code=4400, error_code="interface_not_served")
    await expect_denial(
        issued.token, path=LIVE, status=400, error_code="interface_not_served"
    )


async def test_a_vanished_client_leaves_the_final_usage_on_the_row(
    fake_upstream, issue, live_price
):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token, path=LIVE)
    await start(session)
    await session.send_input({"type": "websocket.disconnect", "code": 1006})
    row = await final_row()
    await fake_upstream.wait_closed_count(1)
    assert fake_upstream.client_events == ["session.start", "session.close"]
    [billed] = fake_upstream.usage_sent
    assert row.active_seconds == billed["seconds"]
    assert (row.close_code, row.interface) == (1006, "live")
    assert row.cost_usd is not None


async def test_a_budget_stops_a_live_session_by_its_running_time(
    fake_upstream, issue, live_price, settings
):
    """GPT-Live reports time at the end: the budget is checked against the time
    elapsed at the active rate ($0.05 a minute: $0.001 is 1.2 s)."""
    settings.GATEWAY_BUDGET_REFRESH_SECONDS = 0.1
    issued = await issue(fake_upstream.url, limits={"budget_usd_day": Decimal("0.001")})
    session = await open_session(issued.token, path=LIVE)
    await start(session)
    event = await session.receive_json_from(timeout=10)
    assert event["error"]["code"] == "budget_exceeded"
    row = await final_row()
    assert (row.close_code, row.end_reason) == (4402, "budget_exceeded")
    assert "session.close" in fake_upstream.client_events
    [billed] = fake_upstream.usage_sent
    assert row.active_seconds == billed["seconds"] >= 1.2
    assert row.cost_usd >= Decimal("0.001")


async def test_azure_serves_gpt_live_under_its_v1_base(issue, live_price):
    async with FakeAzureRealtime(api_key=UPSTREAM_SECRET) as azure:
        issued = await issue(f"{azure.url}?model=rt", kind="azure", slug="azure")
        session = await open_session(issued.token, path="/openai/v1/live/sessions")
        await start(session)
        await session.send_json_to({"type": "session.close"})
        await read_until(session, "session.closed")
        row = await final_row()
        [handshake] = azure.handshakes
    assert (handshake.path, handshake.query_items) == ("/openai/v1/live/sessions", ())
    assert handshake.header("api-key") == UPSTREAM_SECRET
    assert (row.interface, row.provider_slug, row.model) == (
        "live",
        "azure",
        "gpt-live-1",
    )
