"""Budgets through the real ASGI application, against the fake upstream.

The fake's usage is deterministic (realtime.testing.conversation.FakeUsage):
each turn of USER_TEXT ("hello through the gateway") and the default reply
(six words) is 10 tokens (input 4, output 6; from the second on, 2 of the 4
input tokens cached). At the price seeded below ($0.10 a token in or out,
cached input free) the first response costs $1.00, each later one $0.80.
"""

from __future__ import annotations

import asyncio
import datetime
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from keys import services as key_services
from keys.models import Team, VirtualKey
from realtime.models import ModelPrice, RealtimeSession
from tests.support.communicators import (
    expect_denial,
    expect_error_and_close,
    open_session,
    read_until,
)
from tests.support.events import USER_TEXT

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

TOKENS_A_RESPONSE = 10


@pytest.fixture(autouse=True)
def fast_refresh(settings):
    settings.GATEWAY_BUDGET_REFRESH_SECONDS = 0.1


@pytest.fixture
async def priced():
    """gpt-realtime at $0.10 a token, in or out (cached input free)."""
    await ModelPrice.objects.filter(provider_kind="openai").adelete()
    await ModelPrice.objects.acreate(
        provider_kind="openai",
        model="gpt-realtime",
        effective_from=datetime.date(2020, 1, 1),
        input_text_per_mtok=Decimal(100_000),
        output_text_per_mtok=Decimal(100_000),
    )


async def started(token: str):
    session = await open_session(token)
    assert (await session.receive_json_from())["type"] == "session.created"
    return session


async def respond(session) -> dict:
    """One user turn and its response; the response.done event."""
    await session.send_json_to(USER_TEXT)
    await session.send_json_to({"type": "response.create"})
    return (await read_until(session, "response.done"))[-1]


async def refused_at_handshake(token: str, *, message: str = "") -> None:
    """Refused both ways a server can: an error event and 4402 (Daphne), HTTP
    402 (uvicorn)."""
    event = await expect_error_and_close(
        await open_session(token), code=4402, error_code="budget_exceeded"
    )
    assert message in event["error"]["message"]
    body = await expect_denial(token, status=402, error_code="budget_exceeded")
    assert body["error"]["type"] == "invalid_request_error"


async def join_team(key_id: int, team: Team) -> None:
    await VirtualKey.objects.filter(pk=key_id).aupdate(team=team)


# --- a response that crosses a budget, for each of the four ----------------


@pytest.mark.parametrize(
    ("budget", "value", "says"),
    [
        ("budget_tokens_day", 15, "daily token budget of this virtual key (15)"),
        ("budget_tokens_month", 15, "monthly token budget of this virtual key"),
        ("budget_usd_day", Decimal("1.5"), "daily USD budget of this virtual key"),
        ("budget_usd_month", Decimal("1.5"), "monthly USD budget"),
    ],
)
async def test_the_crossing_response_is_delivered_then_4402(
    fake_upstream, issue, priced, budget, value, says
):
    issued = await issue(fake_upstream.url, limits={budget: value})
    session = await started(issued.token)
    await respond(session)  # 10 tokens, $1.00: under every budget here

    done = await respond(session)  # 20 tokens, $1.80: crosses
    assert done["response"]["usage"]["total_tokens"] == TOKENS_A_RESPONSE
    event = await expect_error_and_close(
        session, code=4402, error_code="budget_exceeded"
    )
    assert says in event["error"]["message"]
    row = await RealtimeSession.objects.aget(status="finished")
    assert (row.close_code, row.end_reason) == (4402, "budget_exceeded")
    # The overshoot is what the crossing response took beyond the budget.
    assert row.total_tokens == 2 * TOKENS_A_RESPONSE
    assert row.cost_usd == Decimal("1.8")

    await refused_at_handshake(issued.token, message=says)
    rejected = await RealtimeSession.objects.aget(status="rejected")
    assert (rejected.close_code, rejected.attempts) == (4402, 2)
    assert rejected.end_reason == "budget_exceeded"
    assert len(fake_upstream.handshakes) == 1  # refusals never went upstream


async def test_a_key_under_its_budget_runs_on(fake_upstream, issue, priced):
    issued = await issue(
        fake_upstream.url,
        limits={"budget_tokens_day": 100, "budget_usd_month": Decimal(100)},
    )
    session = await started(issued.token)
    for _ in range(3):
        await respond(session)
    assert await session.receive_nothing(timeout=0.5)  # several refreshes
    await session.disconnect()
    row = await RealtimeSession.objects.aget()
    assert (row.status, row.close_code) == ("finished", 1000)


async def test_an_unpriced_model_counts_against_token_budgets_only(
    fake_upstream, issue
):
    await ModelPrice.objects.all().adelete()
    issued = await issue(
        fake_upstream.url,
        limits={"budget_usd_day": Decimal("0.01"), "budget_tokens_day": 25},
    )
    session = await started(issued.token)
    for _ in range(2):
        await respond(session)  # no price: $0, under the USD budget
    await respond(session)
    event = await expect_error_and_close(
        session, code=4402, error_code="budget_exceeded"
    )
    assert "daily token budget" in event["error"]["message"]


# --- live sessions count each other ------------------------------------------


async def test_a_live_sessions_usage_counts_before_it_ends(fake_upstream, issue):
    """A session's usage reaches the database within a refresh period, not at
    its next checkpoint (GATEWAY_CHECKPOINT_SECONDS, 30 s) or its end."""
    issued = await issue(fake_upstream.url, limits={"budget_tokens_day": 15})
    first = await started(issued.token)
    await respond(first)
    async with asyncio.timeout(5):
        while not await RealtimeSession.objects.filter(total_tokens=10).aexists():
            await asyncio.sleep(0.02)

    second = await started(issued.token)  # 10 < 15: may start
    await respond(second)  # 10 of its own + 10 of the first's: crosses
    await expect_error_and_close(second, code=4402, error_code="budget_exceeded")
    # The first, idle, sees the budget reached at its next refresh and ends
    # before it can start another response.
    await expect_error_and_close(first, code=4402, error_code="budget_exceeded")
    rows = RealtimeSession.objects.values_list("status", "close_code", "total_tokens")
    assert sorted([row async for row in rows]) == [("finished", 4402, 10)] * 2


async def test_a_team_budget_is_shared_by_its_keys(fake_upstream, issue):
    team = await sync_to_async(key_services.team_create)(
        name="crew", budgets={"budget_tokens_day": 25}
    )
    one = await issue(fake_upstream.url, name="one")
    two = await issue(fake_upstream.url, name="two")
    for issued in (one, two):
        await join_team(issued.key_id, team)

    session = await started(one.token)
    for _ in range(2):
        await respond(session)
    await session.disconnect()

    other = await started(two.token)  # the team spent 20 of 25
    await respond(other)  # 30: crosses
    event = await expect_error_and_close(other, code=4402, error_code="budget_exceeded")
    assert "budget of this virtual key's team (25)" in event["error"]["message"]
    for issued in (one, two):
        await refused_at_handshake(issued.token, message="virtual key's team")


async def test_a_keys_own_budget_applies_within_its_team(fake_upstream, issue):
    team = await sync_to_async(key_services.team_create)(
        name="crew", budgets={"budget_tokens_month": 1000}
    )
    issued = await issue(fake_upstream.url, limits={"budget_tokens_day": 5})
    await join_team(issued.key_id, team)
    session = await started(issued.token)
    await respond(session)
    event = await expect_error_and_close(
        session, code=4402, error_code="budget_exceeded"
    )
    assert "of this virtual key (5)" in event["error"]["message"]


# --- periods -----------------------------------------------------------------


async def spend(issued, responses: int) -> None:
    session = await started(issued.token)
    for _ in range(responses):
        await respond(session)
    await session.disconnect()


async def test_a_daily_budget_resets_with_the_utc_day(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"budget_tokens_day": 10})
    await spend(issued, 1)
    await refused_at_handshake(issued.token, message="resets at 00:00 UTC")

    # The same spend, a day earlier: today's budget is untouched (refusals
    # were never spend).
    await RealtimeSession.objects.aupdate(
        started_at=timezone.now() - datetime.timedelta(days=1)
    )
    await spend(issued, 0)


async def test_a_monthly_budget_resets_with_the_utc_month(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"budget_tokens_month": 10})
    await spend(issued, 1)
    await refused_at_handshake(issued.token, message="next UTC month")

    await RealtimeSession.objects.aupdate(
        started_at=timezone.now() - datetime.timedelta(days=32)
    )
    await spend(issued, 0)


async def test_a_changed_budget_applies_to_the_next_session(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"budget_tokens_day": 10})
    await spend(issued, 1)
    await refused_at_handshake(issued.token)
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_update)(
        key=key, changes={"budget_tokens_day": None}
    )
    await spend(issued, 1)


async def test_a_key_without_budgets_never_reads_spend(
    fake_upstream, issue, monkeypatch
):
    def no_reads(**_):
        raise AssertionError("spend read for a key without budgets")

    monkeypatch.setattr("realtime.budgets.session_budget", no_reads)
    monkeypatch.setattr("realtime.selectors.usage_to_date", no_reads)
    team = await sync_to_async(key_services.team_create)(name="free")
    issued = await issue(fake_upstream.url)
    await join_team(issued.key_id, team)  # a team, but no budgets on it either
    session = await started(issued.token)
    await respond(session)
    assert await session.receive_nothing(timeout=0.3)
    await session.disconnect()
    assert (await RealtimeSession.objects.aget()).close_code == 1000
