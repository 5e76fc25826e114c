"""A key's sessions-a-minute limit holds across gateway processes sharing one
database: each counts the others' sessions, in the locked transaction that
writes its own row, so a burst spread over processes cannot overshoot
(PostgreSQL: the key row's lock; SQLite: its IMMEDIATE transactions)."""

from __future__ import annotations

import asyncio

import pytest
from websockets.exceptions import InvalidStatus

from realtime.models import RealtimeSession
from tests.support.clients import expect_refusal, open_client, receive_event

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]


@pytest.fixture(scope="module")
def daphne_and_uvicorn(gateway_env, tmp_path_factory):
    from tests.support.processes import GatewayLauncher

    with GatewayLauncher(gateway_env, log_dir=tmp_path_factory.mktemp("pair")) as up:
        yield up.start(server="daphne"), up.start(server="uvicorn")


async def attempt(url: str, token: str) -> str:
    """'started', or the error code the gateway refused the session with (as an
    HTTP status under uvicorn, as an error event and a close under Daphne)."""
    try:
        ws = await open_client(url, token=token)
    except InvalidStatus as refused:
        assert refused.response.status_code == 429
        return "http_429"
    event = await receive_event(ws)
    if event["type"] == "session.created":
        await ws.close()
        return "started"
    async with asyncio.timeout(10):
        await ws.wait_closed()
    assert ws.close_code == 4429, event
    return event["error"]["code"]


async def test_sessions_started_on_either_process_count_on_both(
    daphne_and_uvicorn, fake_upstream, issue
):
    daphne, uvicorn = daphne_and_uvicorn
    issued = await issue(fake_upstream.url, limits={"sessions_per_minute": 3})
    for url in (daphne.ws_url, uvicorn.ws_url, daphne.ws_url):
        assert await attempt(url, issued.token) == "started"

    ws = await open_client(daphne.ws_url, token=issued.token)
    await expect_refusal(ws, code=4429, error_code="rate_limited")
    assert await attempt(uvicorn.ws_url, issued.token) == "http_429"
    assert len(fake_upstream.handshakes) == 3


async def test_a_burst_over_two_processes_starts_exactly_the_limit(
    daphne_and_uvicorn, fake_upstream, issue
):
    daphne, uvicorn = daphne_and_uvicorn
    issued = await issue(fake_upstream.url, limits={"sessions_per_minute": 5})
    urls = [daphne.ws_url, uvicorn.ws_url] * 8
    outcomes = await asyncio.gather(*(attempt(url, issued.token) for url in urls))

    assert outcomes.count("started") == 5, outcomes
    assert set(outcomes) <= {"started", "rate_limited", "http_429"}
    assert len(fake_upstream.handshakes) == 5
    started = RealtimeSession.objects.exclude(status="rejected")
    assert await started.acount() == 5
