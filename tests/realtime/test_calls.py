"""`POST /v1/realtime/calls`: the offer forwarded with the real credential, the
provider's answer and call id returned, the checks of a WebSocket session, and
errors in OpenAI's shape; against the fake's call endpoints on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from keys.values import Secret
from realtime.call_admission import refusal
from realtime.http_upstream import HttpAnswer
from realtime.models import RealtimeSession, SessionInterface, SessionStatus
from realtime.testing import FakeCallsServer
from tests.support.calls import OFFER, multipart, offer_mids
from tests.support.clients import wait_for_row
from tests.support.keys import (
    REFUSED_KEY_CASES,
    UPSTREAM_SECRET,
    issue_key,
    mint_token,
    refused_key,
)
from tests.support.openai_types import parse_error_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

PATH = "/v1/realtime/calls"


@pytest.fixture
async def fake():
    async with FakeCallsServer(api_key=UPSTREAM_SECRET) as server:
        yield server


@pytest.fixture
async def calls(process):
    """The process's live calls, ended (and their rows final) at teardown."""
    yield process.calls
    await process.calls.stop(timeout=5)


async def post_offer(
    key: str | None, *, path: str = PATH, body: bytes | str = OFFER, **kwargs
):
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    kwargs.setdefault("content_type", "application/sdp")
    return await AsyncClient().post(path, data=body, headers=headers, **kwargs)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = json.loads(response.content)
    parse_error_body(body)
    return body["error"]


async def test_an_offer_gets_the_providers_answer_and_its_call_id(fake, issue, calls):
    issued = await issue(fake.url)
    response = await post_offer(issued.token, path=f"{PATH}?model=gpt-realtime")
    assert response.status_code == 201, response.content
    assert response["Content-Type"] == "application/sdp"
    (call,) = fake.calls.values()
    # The gateway's own path, ending in the provider's call id.
    assert response["Location"] == f"{PATH}/{call.call_id}"
    answer = response.content.decode()
    assert answer.startswith("v=0") and offer_mids(answer) == offer_mids(OFFER)
    assert call.offer == OFFER and call.model == "gpt-realtime"
    (headers,) = fake.call_requests
    assert ("authorization", f"Bearer {UPSTREAM_SECRET}") in headers
    assert UPSTREAM_SECRET not in response.content.decode()
    assert UPSTREAM_SECRET not in str(response.headers)
    row = await RealtimeSession.objects.aget()
    assert (row.interface, row.status) == (SessionInterface.WEBRTC, "active")
    assert (row.virtual_key_id, row.model) == (issued.key_id, "gpt-realtime")


async def test_the_call_is_metered_from_its_sideband_until_the_provider_ends_it(
    fake, issue, calls
):
    issued = await issue(fake.url)
    response = await post_offer(issued.token, path=f"{PATH}?model=gpt-realtime")
    call_id = response["Location"].rsplit("/", 1)[-1]
    await _sideband_read(fake, call_id)
    fake.end_call(call_id)
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert (row.status, row.end_reason) == (SessionStatus.FINISHED, "upstream_closed")
    assert (row.input_tokens, row.output_tokens, row.responses) == (40, 20, 1)
    assert (row.input_audio_tokens, row.output_audio_tokens) == (30, 15)
    assert fake.hangups == []  # the provider ended it: nothing to hang up


async def test_a_form_with_a_session_and_a_short_lived_token(fake, issue, calls):
    """The SDK's unified form; the token's bound configuration goes upstream
    under the client's, with the token's model."""
    issued = await issue(fake.url, models=("gpt-realtime",))
    token = await sync_to_async(mint_token)(issued.token)
    body, content_type = multipart(OFFER, {"type": "realtime", "audio": {"x": 1}})
    response = await post_offer(token, body=body, content_type=content_type)
    assert response.status_code == 201, response.content
    (call,) = fake.calls.values()
    assert call.model == "gpt-realtime"
    assert call.session["instructions"] == "Answer in haiku."  # the token's
    assert call.session["audio"] == {"x": 1}  # the client's
    row = await RealtimeSession.objects.aget()
    assert row.model == "gpt-realtime" and row.interface == SessionInterface.WEBRTC


async def test_azures_path_answers_on_azures_path(fake, issue, calls):
    issued = await issue(fake.url)
    path = "/openai/v1/realtime/calls?model=gpt-realtime"
    response = await post_offer(issued.token, path=path)
    assert response.status_code == 201, response.content
    (call_id,) = fake.calls
    assert response["Location"] == f"/openai/v1/realtime/calls/{call_id}"


async def test_no_key_is_401(fake, calls):
    error = error_of(await post_offer(None), 401)
    assert error["code"] == "missing_api_key"
    assert fake.calls == {}


async def test_an_unknown_key_is_401(fake, calls):
    error = error_of(await post_offer("rk-unknown-key-0000000000"), 401)
    assert error["code"] == "invalid_api_key"
    assert fake.calls == {}


@pytest.mark.parametrize(("case", "code"), REFUSED_KEY_CASES)
async def test_a_refused_key_reaches_no_provider(fake, issue, calls, case, code):
    issued = await refused_key(issue, fake.url, case)
    response = await post_offer(issued.token, path=f"{PATH}?model=gpt-realtime")
    assert error_of(response, 403)["code"] == code
    assert fake.calls == {}


async def test_a_session_model_outside_the_allow_list_is_403(fake, issue, calls):
    issued = await issue(fake.url, models=("gpt-realtime-mini",))
    body, content_type = multipart(OFFER, {"type": "realtime", "model": "gpt-realtime"})
    response = await post_offer(issued.token, body=body, content_type=content_type)
    assert error_of(response, 403)["code"] == "model_not_allowed"
    assert fake.calls == {}


async def test_a_key_with_an_allow_list_must_name_the_model(fake, issue, calls):
    issued = await issue(fake.url, models=("gpt-realtime",))
    response = await post_offer(issued.token)
    assert error_of(response, 403)["code"] == "model_not_allowed"
    assert fake.calls == {}


@pytest.mark.parametrize(
    ("body", "content_type", "param"),
    [
        ("hello", "application/sdp", "sdp"),
        ("v=0\r\ns=-\r\n", "application/sdp", "sdp"),
        ('{"sdp": "v=0"}', "application/json", "body"),
    ],
)
async def test_a_body_that_is_not_an_offer_is_400(
    fake, issue, calls, body, content_type, param
):
    issued = await issue(fake.url)
    response = await post_offer(issued.token, body=body, content_type=content_type)
    error = error_of(response, 400)
    assert (error["code"], error["param"]) == ("invalid_offer", param)
    assert fake.calls == {}


async def test_get_is_405():
    response = await AsyncClient().get(PATH)
    assert response.status_code == 405 and response["Allow"] == "POST"


async def test_a_provider_refusing_the_credential_is_502_and_a_failed_row(issue, calls):
    async with FakeCallsServer(api_key="another-credential") as other:
        issued = await issue(other.url)
        response = await post_offer(issued.token, path=f"{PATH}?model=gpt-realtime")
    error = error_of(response, 502)
    assert error["code"] == "upstream_auth_failed"
    assert UPSTREAM_SECRET not in response.content.decode()
    row = await wait_for_row(interface=SessionInterface.WEBRTC)
    assert (row.status, row.end_reason) == (
        SessionStatus.FAILED,
        "upstream_auth_failed",
    )


@pytest.mark.parametrize(
    ("status", "body", "code", "relayed"),
    [
        (
            400,
            {"error": {"message": "Invalid SDP offer."}},
            "upstream_bad_request",
            True,
        ),
        (
            400,
            {"error": {"message": f"bad key {UPSTREAM_SECRET}"}},
            "upstream_bad_request",
            False,
        ),
        (
            401,
            {"error": {"message": "Incorrect API key"}},
            "upstream_auth_failed",
            False,
        ),
        (429, {}, "upstream_rate_limited", False),
        (500, {"error": {"message": "boom"}}, "upstream_refused", False),
    ],
)
def test_a_providers_refusal(status, body, code, relayed):
    """A bad request's message is relayed unless it quotes the credential."""
    answer = HttpAnswer(status=status, headers=(), body=json.dumps(body).encode())
    error = refusal(answer, Secret(UPSTREAM_SECRET))
    assert error.code == code
    assert UPSTREAM_SECRET not in error.message
    assert ("Invalid SDP offer." in error.message) is relayed


async def test_a_provider_without_calls_is_400(issue, calls):
    issued = await sync_to_async(issue_key)(
        "wss://api.cartesia.ai/tts/websocket", kind="cartesia"
    )
    error = error_of(await post_offer(issued.token), 400)
    assert error["code"] == "unsupported_provider"


async def _sideband_read(fake: FakeCallsServer, call_id: str) -> None:
    """Wait until the gateway's sideband for `call_id` is open."""
    async with asyncio.timeout(5):
        while fake.calls[call_id].sidebands == 0:
            await asyncio.sleep(0.02)
