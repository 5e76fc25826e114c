"""A WebRTC call is governed like a WebSocket session: revoking its key, an
operator's terminate, the key's maximum duration, its concurrency limit and
the gateway's shutdown hang the call up at the provider (the real credential,
its hangup endpoint), and its row ends with the reason."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from keys import services as key_services
from keys.models import VirtualKey
from realtime import operations, selectors
from realtime.models import RealtimeSession, SessionInterface, SessionStatus
from realtime.testing import FakeCallsServer
from tests.support.calls import OFFER
from tests.support.clients import wait_for_row
from tests.support.keys import UPSTREAM_SECRET

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

PATH = "/v1/realtime/calls?model=gpt-realtime"


@pytest.fixture
async def fake():
    async with FakeCallsServer(api_key=UPSTREAM_SECRET) as server:
        yield server


@pytest.fixture
async def calls(process):
    yield process.calls
    await process.calls.stop(timeout=5)


async def start_call(fake: FakeCallsServer, token: str) -> str:
    """Create a call through the gateway; its id once its sideband is open and
    its first usage read."""
    response = await AsyncClient().post(
        PATH,
        data=OFFER,
        content_type="application/sdp",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 201, response.content
    call_id = response["Location"].rsplit("/", 1)[-1]
    async with asyncio.timeout(5):
        while fake.calls[call_id].sidebands == 0:
            await asyncio.sleep(0.02)
    return call_id


async def test_revoking_the_key_hangs_the_call_up(fake, issue, calls):
    issued = await issue(fake.url)
    call_id = await start_call(fake, issued.token)
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await fake.wait_hangup(call_id)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert (row.status, row.end_reason) == (SessionStatus.FINISHED, "key_revoked")
    assert (row.input_tokens, row.output_tokens) == (40, 20)


async def test_an_operators_terminate_hangs_the_call_up(fake, issue, calls):
    issued = await issue(fake.url)
    call_id = await start_call(fake, issued.token)
    row = await RealtimeSession.objects.aget()
    await sync_to_async(operations.session_terminate)(session_id=row.pk)
    await fake.wait_hangup(call_id)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert row.end_reason == "session_terminated"


async def test_the_keys_maximum_duration_hangs_the_call_up(fake, issue, calls):
    issued = await issue(fake.url, limits={"max_session_seconds": 1})
    call_id = await start_call(fake, issued.token)
    await fake.wait_hangup(call_id)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert row.end_reason == "session_duration_exceeded"


async def test_the_gateways_shutdown_hangs_every_call_up(fake, issue, calls):
    issued = await issue(fake.url)
    first = await start_call(fake, issued.token)
    second = await start_call(fake, issued.token)
    await calls.stop(timeout=5)
    assert sorted(fake.hangups) == sorted([first, second])
    rows = [row async for row in RealtimeSession.objects.all()]
    assert [row.end_reason for row in rows] == ["gateway_shutdown"] * 2
    assert all(row.ended_at is not None for row in rows)
    assert len(calls) == 0


async def test_a_key_at_its_concurrency_limit_reaches_no_provider(fake, issue, calls):
    issued = await issue(fake.url, max_sessions=1)
    await start_call(fake, issued.token)
    response = await AsyncClient().post(
        PATH,
        data=OFFER,
        content_type="application/sdp",
        headers={"Authorization": f"Bearer {issued.token}"},
    )
    assert response.status_code == 429, response.content
    assert response.json()["error"]["code"] == "concurrent_sessions_exceeded"
    assert len(fake.calls) == 1


async def test_the_live_sessions_admin_lists_a_live_call(fake, issue, calls):
    issued = await issue(fake.url)
    await start_call(fake, issued.token)
    live = selectors.live_sessions(RealtimeSession.objects.all())
    row = await live.aget()
    assert (row.interface, row.virtual_key_id) == ("webrtc", issued.key_id)
