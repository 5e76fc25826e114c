"""WebRTC calls through real Daphne and uvicorn processes, and from headless
Chromium: a page's offer, posted with a short-lived token, gets an answer its
RTCPeerConnection accepts; the call's sideband is metered by the gateway
process; revoking the key hangs the call up; a server's shutdown hangs up its
calls and finalises their rows. No media flows: the fake's answer is valid SDP
whose ICE candidates never come."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async

from keys import services as key_services
from keys.models import VirtualKey
from realtime.http_upstream import HttpAnswer, HttpRequest, post
from realtime.models import RealtimeSession, SessionInterface
from realtime.testing import FakeCallsServer
from tests.support.browser import chromium_page, page_origin
from tests.support.calls import OFFER, offer_mids
from tests.support.clients import wait_for_row
from tests.support.keys import UPSTREAM_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

SERVERS = ["daphne", "uvicorn"]
SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}

# A page's call, as OpenAI's realtime-webrtc guide makes it: an audio
# transceiver and the "oai-events" data channel, the offer posted with the
# token, the answer set as the remote description.
_CALL_JS = """
async ({path, token}) => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("audio", {direction: "sendrecv"});
  pc.createDataChannel("oai-events");
  await pc.setLocalDescription(await pc.createOffer());
  const response = await fetch(path, {
    method: "POST",
    body: pc.localDescription.sdp,
    headers: {Authorization: `Bearer ${token}`, "Content-Type": "application/sdp"},
  });
  const seen = {status: response.status, location: response.headers.get("Location"),
                answered: false, error: null, state: null};
  const answer = await response.text();
  try {
    await pc.setRemoteDescription({type: "answer", sdp: answer});
    seen.answered = true;
  } catch (error) {
    seen.error = String(error);
  }
  seen.state = pc.signalingState;
  seen.mids = pc.getTransceivers().map((t) => t.mid);
  pc.close();
  return seen;
}
"""


@pytest.fixture
async def fake():
    async with FakeCallsServer(api_key=UPSTREAM_SECRET) as server:
        yield server


async def mint(origin: str, virtual_key: str) -> str:
    """A short-lived token, as the page's server mints it."""
    answer = await post(
        HttpRequest(
            url=f"{origin}/v1/realtime/client_secrets",
            headers=(("Authorization", f"Bearer {virtual_key}"),),
            body=json.dumps({"session": SESSION}).encode(),
            content_type="application/json",
        ),
        timeout=10,
    )
    assert answer.status == 200, answer.body
    return json.loads(answer.body)["value"]


async def create_call(origin: str, token: str) -> HttpAnswer:
    return await post(
        HttpRequest(
            url=f"{origin}/v1/realtime/calls",
            headers=(("Authorization", f"Bearer {token}"),),
            body=OFFER.encode(),
            content_type="application/sdp",
        ),
        timeout=10,
    )


async def sideband_open(fake: FakeCallsServer, call_id: str) -> None:
    async with asyncio.timeout(10):
        while fake.calls[call_id].sidebands == 0:
            await asyncio.sleep(0.05)


@pytest.mark.parametrize("server", SERVERS)
async def test_revoking_the_key_hangs_up_a_live_call(
    fake, issue, gateway_process, server
):
    issued = await issue(fake.url, models=("gpt-realtime",))
    gateway = await asyncio.to_thread(gateway_process, server=server)
    token = await mint(gateway.http_url, issued.token)
    answer = await create_call(gateway.http_url, token)
    assert answer.status == 201, answer.body
    assert answer.header("content-type").startswith("application/sdp")
    call_id = answer.header("location").rsplit("/", 1)[-1]
    assert answer.header("location") == f"/v1/realtime/calls/{call_id}"
    assert offer_mids(answer.body.decode()) == offer_mids(OFFER)
    await sideband_open(fake, call_id)

    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await fake.wait_hangup(call_id, timeout=10)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert (row.end_reason, row.model) == ("key_revoked", "gpt-realtime")
    assert (row.input_tokens, row.output_tokens) == (40, 20)  # from the sideband
    assert UPSTREAM_SECRET not in gateway.log()


@pytest.mark.parametrize("server", SERVERS)
async def test_shutdown_hangs_up_calls_and_finalises_their_rows(
    fake, issue, gateway_process, server
):
    issued = await issue(fake.url)
    gateway = await asyncio.to_thread(gateway_process, server=server)
    token = await mint(gateway.http_url, issued.token)
    call_ids = []
    for _ in range(2):
        answer = await create_call(gateway.http_url, token)
        assert answer.status == 201, answer.body
        call_ids.append(answer.header("location").rsplit("/", 1)[-1])
    for call_id in call_ids:
        await sideband_open(fake, call_id)
    await asyncio.to_thread(gateway.stop)
    assert sorted(fake.hangups) == sorted(call_ids)
    rows = [row async for row in RealtimeSession.objects.all()]
    assert [row.end_reason for row in rows] == ["gateway_shutdown"] * 2
    assert all(row.ended_at is not None for row in rows)


@pytest.mark.browser
async def test_chromium_accepts_the_answer_to_its_offer(fake, issue, daphne):
    issued = await issue(fake.url, models=("gpt-realtime",))
    token = await mint(daphne.http_url, issued.token)
    async with chromium_page(daphne.http_url) as page:
        async with asyncio.timeout(20):
            seen = await page.evaluate(
                _CALL_JS, {"path": "/v1/realtime/calls", "token": token}
            )
    assert seen["status"] == 201, seen
    assert seen["answered"], seen["error"]
    assert seen["state"] == "stable"
    (call,) = fake.calls.values()
    assert seen["location"] == f"/v1/realtime/calls/{call.call_id}"
    assert call.model == "gpt-realtime"
    assert offer_mids(call.offer) == [("audio", "0"), ("application", "1")]
    assert UPSTREAM_SECRET not in json.dumps(seen)


async def test_the_openai_sdk_creates_calls_through_the_gateway(fake, issue, daphne):
    """openai-python's `realtime.calls.create` (its form) and `live.create`."""
    from openai import AsyncOpenAI

    issued = await issue(fake.url)
    client = AsyncOpenAI(api_key=issued.token, base_url=f"{daphne.http_url}/v1")
    response = await client.realtime.calls.with_raw_response.create(
        sdp=OFFER, session={"type": "realtime", "model": "gpt-realtime"}
    )
    assert response.status_code == 201
    assert offer_mids(response.text) == offer_mids(OFFER)
    assert response.headers["location"].startswith("/v1/realtime/calls/rtc_fake_")
    live = await client.live.create(
        session={"model": "gpt-live-1"}, transport={"type": "webrtc", "sdp": OFFER}
    )
    assert live.transport.type == "webrtc" and live.session.id in fake.calls
    assert {call.model for call in fake.calls.values()} == {
        "gpt-realtime",
        "gpt-live-1",
    }
    await client.close()


async def test_a_call_is_hung_up_when_its_keys_budget_runs_out(fake, issue, daphne):
    """The sideband's `response.done` (60 tokens) crosses a 50-token budget:
    the gateway process hangs the call up and prices the row."""
    issued = await issue(fake.url, limits={"budget_tokens_day": 50})
    answer = await create_call(daphne.http_url, issued.token)
    assert answer.status == 201, answer.body
    call_id = answer.header("location").rsplit("/", 1)[-1]
    await fake.wait_hangup(call_id, timeout=10)
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.interface, row.end_reason) == ("webrtc", "budget_exceeded")
    assert row.total_tokens == 60  # the crossing response counts
    # Spent: the next call is refused before it reaches the provider.
    again = await create_call(daphne.http_url, issued.token)
    assert again.status == 402
    assert json.loads(again.body)["error"]["code"] == "budget_exceeded"
    assert list(fake.calls) == [call_id]


async def test_revoking_the_key_hangs_up_a_gpt_live_call(fake, issue, daphne):
    issued = await issue(fake.url, models=("gpt-live-1",))
    body = {
        "session": {"model": "gpt-live-1"},
        "transport": {"type": "webrtc", "sdp": OFFER},
    }
    answer = await post(
        HttpRequest(
            url=f"{daphne.http_url}/v1/live/sessions",
            headers=(("Authorization", f"Bearer {issued.token}"),),
            body=json.dumps(body).encode(),
            content_type="application/json",
        ),
        timeout=10,
    )
    assert answer.status == 201, answer.body
    session_id = json.loads(answer.body)["session"]["id"]
    await sideband_open(fake, session_id)

    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await fake.wait_hangup(session_id, timeout=10)
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.interface, row.model) == ("webrtc", "gpt-live-1")
    assert row.end_reason == "key_revoked"
    # The final usage the sideband reported after the hangup: 12 s active, 3 standby.
    assert (row.active_seconds, row.standby_seconds) == fake.live_seconds
    assert UPSTREAM_SECRET not in daphne.log()


@pytest.mark.browser
async def test_a_page_on_an_allowed_origin_creates_a_call_cross_origin(
    fake, issue, gateway_process
):
    """CORS: a page served from another loopback origin, listed in
    GATEWAY_CORS_ALLOWED_ORIGINS, posts its offer (after the browser's
    preflight) and reads the answer and its Location; a page on an origin not
    listed cannot read the answer."""
    issued = await issue(fake.url, models=("gpt-realtime",))
    with page_origin() as allowed, page_origin() as other:
        gateway = await asyncio.to_thread(
            gateway_process, env_overrides={"GATEWAY_CORS_ALLOWED_ORIGINS": allowed}
        )
        token = await mint(gateway.http_url, issued.token)
        calls = f"{gateway.http_url}/v1/realtime/calls"
        async with chromium_page(allowed) as page, asyncio.timeout(20):
            seen = await page.evaluate(_CALL_JS, {"path": calls, "token": token})
        async with chromium_page(other) as page, asyncio.timeout(20):
            refused = await page.evaluate(_FETCH_JS, {"url": calls, "token": token})
    assert seen["status"] == 201, seen
    assert seen["answered"], seen["error"]
    (call,) = fake.calls.values()
    assert seen["location"] == f"/v1/realtime/calls/{call.call_id}"
    assert refused.startswith("TypeError"), refused  # the browser withheld it
    assert len(fake.calls) == 1  # its preflight failed: no offer was posted


# A page's POST whose answer the browser may withhold: what the page saw.
_FETCH_JS = """
async ({url, token}) => {
  try {
    const response = await fetch(url, {
      method: "POST", body: "v=0",
      headers: {Authorization: `Bearer ${token}`, "Content-Type": "application/sdp"},
    });
    return `status ${response.status}`;
  } catch (error) {
    return String(error);
  }
}
"""
