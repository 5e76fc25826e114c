"""A key's limits through the real ASGI application, against the fake upstream:
sessions a minute, maximum duration, idle timeout, not-before."""

from __future__ import annotations

import asyncio
import datetime

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

from keys import services as key_services
from keys.models import VirtualKey
from realtime.models import RealtimeSession
from tests.support.communicators import (
    expect_denial,
    expect_error_and_close,
    only_session,
    open_session,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(20)]


async def started(token: str):
    session = await open_session(token)
    assert (await session.receive_json_from())["type"] == "session.created"
    return session


async def statuses() -> list[tuple[str, int | None]]:
    rows = RealtimeSession.objects.order_by("started_at")
    return [row async for row in rows.values_list("status", "close_code")]


# --- sessions a minute -------------------------------------------------------


async def test_sessions_a_minute_refuses_the_next_with_4429(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"sessions_per_minute": 2})
    for _ in range(2):  # finished sessions count too: they started this minute
        await (await started(issued.token)).disconnect()

    refused = await open_session(issued.token)
    event = await expect_error_and_close(refused, code=4429, error_code="rate_limited")
    assert "2 new sessions a minute" in event["error"]["message"]
    assert len(fake_upstream.handshakes) == 2  # the refused one never went upstream
    assert await statuses() == [("finished", 1000)] * 2 + [("rejected", 4429)]


async def test_the_window_slides_and_refusals_do_not_count(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"sessions_per_minute": 1})
    await (await started(issued.token)).disconnect()
    await expect_denial(issued.token, status=429, error_code="rate_limited")

    # The session falls out of the window; the refusal, a minute younger, is
    # not a session that started, so the key may start one again.
    await RealtimeSession.objects.filter(status="finished").aupdate(
        started_at=timezone.now() - datetime.timedelta(seconds=61)
    )
    await (await started(issued.token)).disconnect()
    assert len(fake_upstream.handshakes) == 2


async def test_a_changed_limit_applies_to_the_next_session(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"sessions_per_minute": 1})
    await (await started(issued.token)).disconnect()
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_update)(
        key=key, changes={"sessions_per_minute": 2}
    )
    # Read from the locked key row: the process's key cache does not hold it back.
    await (await started(issued.token)).disconnect()
    await expect_denial(issued.token, status=429, error_code="rate_limited")


# --- maximum duration and idle timeout ----------------------------------------


async def test_a_session_ends_at_its_maximum_duration(fake_upstream, issue):
    issued = await issue(fake_upstream.url, limits={"max_session_seconds": 1})
    session = await started(issued.token)
    began = asyncio.get_running_loop().time()
    await session.send_to(bytes_data=b"busy")  # activity does not extend it
    assert await session.receive_from() == b"busy"

    event = await expect_error_and_close(
        session, code=4408, error_code="session_duration_exceeded"
    )
    took = asyncio.get_running_loop().time() - began
    assert 0.9 <= took < 3
    assert event["error"]["type"] == "invalid_request_error"
    row = await only_session()
    assert (row.status, row.close_code) == ("finished", 4408)
    assert "maximum of 1 seconds" in row.error
    await fake_upstream.wait_closed_count(1)


async def test_an_idle_session_is_closed_and_traffic_keeps_it_open(
    fake_upstream, issue
):
    issued = await issue(fake_upstream.url, limits={"idle_timeout_seconds": 1})
    session = await started(issued.token)
    loop = asyncio.get_running_loop()
    began = loop.time()
    while loop.time() - began < 2:  # twice the timeout, with frames both ways
        await asyncio.sleep(0.25)
        await session.send_to(bytes_data=b"ping")
        assert await session.receive_from() == b"ping"
        last_frame = loop.time()  # the gateway passed it on just before

    await expect_error_and_close(session, code=4408, error_code="idle_timeout")
    # Never early; late by at most an eighth of the timeout (and scheduling).
    assert 0.95 <= loop.time() - last_frame < 1.6
    row = await only_session()
    assert (row.status, row.close_code) == ("finished", 4408)


async def test_no_limits_no_timers(fake_upstream, issue, settings):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 60
    issued = await issue(fake_upstream.url)
    session = await started(issued.token)
    assert await session.receive_nothing(timeout=1.2)
    await session.disconnect()
    assert (await only_session()).status == "finished"


# --- not before ---------------------------------------------------------------


async def test_a_key_used_before_its_time_is_refused_like_an_expired_one(
    fake_upstream, issue
):
    later = timezone.now() + datetime.timedelta(hours=1)
    issued = await issue(fake_upstream.url, limits={"not_before": later})
    session = await open_session(issued.token)
    await expect_error_and_close(session, code=4403, error_code="key_not_yet_valid")
    await expect_denial(issued.token, status=403, error_code="key_not_yet_valid")
    row = await only_session()  # the two refusals share one rejected row
    assert (row.status, row.close_code, row.attempts) == ("rejected", 4403, 2)
    assert fake_upstream.handshakes == []

    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(
        not_before=timezone.now() - datetime.timedelta(seconds=1)
    )
    await (await started(issued.token)).disconnect()


async def test_a_live_session_whose_key_moves_its_start_later_is_closed(
    fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    session = await started(issued.token)
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(
        not_before=timezone.now() + datetime.timedelta(hours=1)
    )
    # The periodic re-check (GATEWAY_KEY_RECHECK_SECONDS=0.5 in tests).
    await expect_error_and_close(session, code=4403, error_code="key_not_yet_valid")
