"""Budgets hold across gateway processes sharing one database (PostgreSQL +
Redis in CI's second pass; the one SQLite file otherwise): each process counts
the sessions of every other, finished or live, from their rows.

Each fake response is 10 tokens (realtime.testing.conversation.FakeUsage).
"""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from keys import services as key_services
from keys.models import VirtualKey
from realtime.models import RealtimeSession
from tests.support.clients import (
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

REFRESH = "0.2"


@pytest.fixture(scope="module")
def daphne_and_uvicorn(gateway_env, tmp_path_factory):
    from tests.support.processes import GatewayLauncher

    overrides = {"GATEWAY_BUDGET_REFRESH_SECONDS": REFRESH}
    log_dir = tmp_path_factory.mktemp("budgets")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as up:
        yield (
            up.start(server="daphne", env_overrides=overrides),
            up.start(server="uvicorn", env_overrides=overrides),
        )


async def started(url: str, token: str):
    ws = await open_client(url, token=token)
    assert (await receive_event(ws))["type"] == "session.created"
    return ws


async def refused_by_uvicorn(url: str, token: str) -> dict:
    with pytest.raises(InvalidStatus) as refused:
        await open_client(url, token=token)
    assert refused.value.response.status_code == 402
    return refused.value.response.body


async def test_a_budget_used_up_through_one_process_refuses_on_the_other(
    daphne_and_uvicorn, fake_upstream, issue
):
    daphne, uvicorn = daphne_and_uvicorn
    issued = await issue(fake_upstream.url, limits={"budget_tokens_day": 15})
    ws = await started(daphne.ws_url, issued.token)
    await converse(ws)
    events = await converse(ws)  # 20 tokens: delivered, then the refusal
    assert events[-1]["type"] == "response.done"
    await expect_refusal(ws, code=4402, error_code="budget_exceeded")

    body = await refused_by_uvicorn(uvicorn.ws_url, issued.token)
    assert b"budget_exceeded" in body
    ws = await open_client(daphne.ws_url, token=issued.token)
    await expect_refusal(ws, code=4402, error_code="budget_exceeded")
    assert len(fake_upstream.handshakes) == 1


async def test_a_team_budget_shared_by_two_keys_on_two_processes(
    daphne_and_uvicorn, fake_upstream, issue
):
    """Key one's live session on Daphne spends 20 of the team's 25 tokens; its
    row shows them before it ends, so key two's session on uvicorn starts with
    them counted and its first response crosses. The session on Daphne, idle,
    then sees the budget reached and ends too."""
    daphne, uvicorn = daphne_and_uvicorn
    team = await sync_to_async(key_services.team_create)(
        name="crew", budgets={"budget_tokens_day": 25}
    )
    one = await issue(fake_upstream.url, name="one")
    two = await issue(fake_upstream.url, name="two")
    await VirtualKey.objects.aupdate(team=team)

    first = await started(daphne.ws_url, one.token)
    for _ in range(2):
        await converse(first)
    live = RealtimeSession.objects.filter(
        virtual_key_name="one", status="active", total_tokens=20
    )
    async with asyncio.timeout(10):  # its checkpoint, within a refresh period
        while not await live.aexists():
            await asyncio.sleep(0.05)

    second = await started(uvicorn.ws_url, two.token)
    events = await converse(second)
    assert events[-1]["type"] == "response.done"
    event = await expect_refusal(second, code=4402, error_code="budget_exceeded")
    assert "virtual key's team (25)" in event["error"]["message"]
    await expect_refusal(first, code=4402, error_code="budget_exceeded")

    for name, spent in (("one", 20), ("two", 10)):
        row = await wait_for_row(virtual_key_name=name)  # final once closed
        assert (row.close_code, row.end_reason, row.total_tokens) == (
            4402,
            "budget_exceeded",
            spent,
        )
    await refused_by_uvicorn(uvicorn.ws_url, one.token)
