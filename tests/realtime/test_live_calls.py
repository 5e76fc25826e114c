"""`POST /v1/live/sessions` with a WebRTC transport: GPT-Live over WebRTC, its
session time (active and standby) metered from the sideband's `session.closed`,
hung up on revocation; against the fake on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from decimal import Decimal

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient
from openai.types.live import LiveCreateResponse

from keys import services as key_services
from keys.models import VirtualKey
from realtime.models import RealtimeSession, SessionInterface, SessionStatus
from realtime.providers.live_call import LiveCallSession
from realtime.testing import FakeCallsServer
from tests.support.calls import OFFER, offer_mids
from tests.support.clients import wait_for_row
from tests.support.keys import UPSTREAM_SECRET
from tests.support.prices import gpt_live_list_price

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

PATH = "/v1/live/sessions"
SESSION = {"model": "gpt-live-1", "instructions": "Be brief."}


@pytest.fixture
async def fake():
    async with FakeCallsServer(api_key=UPSTREAM_SECRET) as server:
        yield server


@pytest.fixture
async def live_price():
    await gpt_live_list_price()


@pytest.fixture
async def calls(process):
    yield process.calls
    await process.calls.stop(timeout=5)


async def create(token: str, *, session=SESSION, path=PATH, sdp=OFFER):
    body = {"session": session, "transport": {"type": "webrtc", "sdp": sdp}}
    return await AsyncClient().post(
        path,
        data=json.dumps(body),
        content_type="application/json",
        headers={"Authorization": f"Bearer {token}"},
    )


async def sideband_open(fake: FakeCallsServer, call_id: str) -> None:
    async with asyncio.timeout(5):
        while fake.calls[call_id].sidebands == 0:
            await asyncio.sleep(0.02)


async def test_the_sdks_request_gets_the_sdks_answer(fake, issue, calls):
    issued = await issue(fake.url, models=("gpt-live-1",))
    response = await create(issued.token)
    assert response.status_code == 201, response.content
    answer = LiveCreateResponse.model_validate(json.loads(response.content))
    (call,) = fake.calls.values()
    assert answer.session.id == call.call_id and answer.transport.type == "webrtc"
    assert offer_mids(answer.transport.sdp) == offer_mids(OFFER)
    assert (call.kind, call.model, call.session["instructions"]) == (
        "live",
        "gpt-live-1",
        "Be brief.",
    )
    assert UPSTREAM_SECRET not in response.content.decode()


async def test_session_time_is_metered_active_and_standby_and_priced(
    fake, issue, calls, live_price
):
    issued = await issue(fake.url)
    response = await create(issued.token)
    call_id = json.loads(response.content)["session"]["id"]
    await sideband_open(fake, call_id)
    fake.end_call(call_id)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert (row.status, row.end_reason) == (SessionStatus.FINISHED, "upstream_closed")
    assert (row.model, row.active_seconds, row.standby_seconds) == (
        "gpt-live-1",
        12.0,
        3.0,
    )
    # $0.05 an active minute, $0.02 a standby minute, by the second.
    assert row.cost_usd == Decimal("0.011000")


async def test_revocation_hangs_up_and_reads_the_final_usage(fake, issue, calls):
    issued = await issue(fake.url)
    response = await create(issued.token)
    call_id = json.loads(response.content)["session"]["id"]
    await sideband_open(fake, call_id)
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await fake.wait_hangup(call_id)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert row.end_reason == "key_revoked"
    assert (row.active_seconds, row.standby_seconds) == (12.0, 3.0)


async def test_a_model_outside_the_allow_list_is_403(fake, issue, calls):
    issued = await issue(fake.url, models=("gpt-live-1.1",))
    response = await create(issued.token)
    assert response.status_code == 403, response.content
    assert json.loads(response.content)["error"]["code"] == "model_not_allowed"
    assert fake.calls == {}


async def test_a_delegated_model_outside_the_allow_list_is_403(fake, issue, calls):
    issued = await issue(fake.url, models=("gpt-live-1",))
    delegation = {"type": "responses", "responses": {"model": "gpt-5.5"}}
    response = await create(issued.token, session={**SESSION, "delegation": delegation})
    assert response.status_code == 403, response.content
    assert json.loads(response.content)["error"]["code"] == "model_not_allowed"
    assert fake.calls == {}
    assert not await RealtimeSession.objects.aexists()  # refused before any row


@pytest.mark.parametrize(
    ("session", "sdp", "param"),
    [
        ({"instructions": "x"}, OFFER, "session.model"),
        (SESSION, "not sdp", "transport.sdp"),
    ],
)
async def test_a_body_that_is_not_a_live_offer_is_400(
    fake, issue, calls, session, sdp, param
):
    issued = await issue(fake.url)
    response = await create(issued.token, session=session, sdp=sdp)
    assert response.status_code == 400, response.content
    assert json.loads(response.content)["error"]["param"] == param
    assert fake.calls == {}


async def test_azures_path(fake, issue, calls):
    issued = await issue(fake.url)
    response = await create(issued.token, path="/openai/v1/live/sessions")
    assert response.status_code == 201, response.content


@pytest.mark.parametrize(
    ("usage", "active", "standby"),
    [
        ({"seconds": 10.0}, 10.0, 0.0),
        ({"seconds": 10.0, "standby_seconds": 4.0}, 6.0, 4.0),
        ({"seconds": 10.0, "standby_seconds": 40.0}, 0.0, 10.0),
        ({"seconds": "10"}, 0.0, 0.0),
    ],
)
def test_the_sideband_handler_splits_standby_out(usage, active, standby):
    handler = LiveCallSession(model="gpt-live-1")
    assert handler.awaiting_usage  # started at creation: no session.start passes
    event = {"type": "session.closed", "reason": "close_requested", "usage": usage}
    handler.upstream_text(json.dumps(event))
    assert (handler.usage.active_seconds, handler.usage.standby_seconds) == (
        active,
        standby,
    )
    assert not handler.awaiting_usage
