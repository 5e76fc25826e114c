"""`POST /v1/realtime/client_secrets`: OpenAI's request and response shapes,
its errors, and the handshake throttle."""

from __future__ import annotations

import json
import time

import pytest
from django.test import Client
from openai.types.realtime import ClientSecretCreateResponse
from openai.types.realtime.realtime_session_create_response import (
    RealtimeSessionCreateResponse,
)
from openai.types.realtime.realtime_transcription_session_create_response import (
    RealtimeTranscriptionSessionCreateResponse,
)

from keys import services, tokens
from keys.models import EphemeralToken, VirtualKey
from tests.support.keys import issue_key
from tests.support.openai_types import parse_error_body

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

URL = "ws://127.0.0.1:9/v1/realtime"
PATH = "/v1/realtime/client_secrets"
SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "You are a friendly assistant.",
    "audio": {"output": {"voice": "marin"}},
}


def post(client: Client, body, *, key: str | None = None, path=PATH, **headers):
    if key is not None:
        headers.setdefault("HTTP_AUTHORIZATION", f"Bearer {key}")
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **headers)


def error_of(response, status: int) -> dict:
    assert response.status_code == status, response.content
    body = response.json()
    parse_error_body(body)
    return body["error"]


def test_the_sdks_request_gets_the_sdks_response(client: Client):
    """The body of OpenAI's reference example; the answer parses as the SDK's
    `ClientSecretCreateResponse`, its session as a realtime session."""
    issued = issue_key(URL, models=("gpt-realtime",))
    body = {
        "expires_after": {"anchor": "created_at", "seconds": 120},
        "session": SESSION,
    }
    before = int(time.time())
    response = post(client, body, key=issued.token)
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == "application/json"
    answer = ClientSecretCreateResponse.model_validate(response.json())
    assert tokens.looks_like_ephemeral_token(answer.value)
    assert before + 120 <= answer.expires_at <= int(time.time()) + 120
    session = answer.session
    assert isinstance(session, RealtimeSessionCreateResponse)
    assert (session.type, session.object) == ("realtime", "realtime.session")
    assert session.id.startswith("sess_")
    assert (session.model, session.instructions) == (
        "gpt-realtime",
        SESSION["instructions"],
    )
    row = EphemeralToken.objects.get()
    assert row.virtual_key_id == issued.key_id
    assert (row.model, row.session) == ("gpt-realtime", SESSION)
    assert row.token_digest == tokens.digest(answer.value)


def test_an_empty_request_gets_a_realtime_token_for_ten_minutes(client: Client):
    issued = issue_key(URL)
    for body in ({}, ""):
        response = post(client, body, key=issued.token)
        answer = ClientSecretCreateResponse.model_validate(response.json())
        assert abs(answer.expires_at - (time.time() + 600)) <= 2
        assert answer.session.type == "realtime"
    row = EphemeralToken.objects.first()
    assert (row.model, row.session) == ("", {})


def test_a_transcription_session(client: Client):
    issued = issue_key(URL)
    session = {
        "type": "transcription",
        "audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}},
    }
    response = post(client, {"session": session}, key=issued.token)
    answer = ClientSecretCreateResponse.model_validate(response.json())
    assert isinstance(answer.session, RealtimeTranscriptionSessionCreateResponse)
    assert EphemeralToken.objects.get().model == ""


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        ("{not json", None, "invalid_json"),
        ([], "body", "invalid_type"),
        ({"ttl": 60}, "ttl", "unknown_parameter"),
        ({"expires_after": 60}, "expires_after", "invalid_type"),
        ({"expires_after": {"anchor": "now"}}, "expires_after.anchor", "invalid_value"),
        ({"expires_after": {"secs": 60}}, "expires_after.secs", "unknown_parameter"),
        ({"expires_after": {"seconds": 9}}, "expires_after.seconds", "invalid_value"),
        (
            {"expires_after": {"seconds": 7201}},
            "expires_after.seconds",
            "invalid_value",
        ),
        ({"expires_after": {"seconds": "60"}}, "expires_after.seconds", "invalid_type"),
        ({"expires_after": {"seconds": True}}, "expires_after.seconds", "invalid_type"),
        ({"session": {"model": "gpt-realtime"}}, "session.type", "invalid_value"),
        ({"session": {"type": "chat"}}, "session.type", "invalid_value"),
        (
            {"session": {"type": "realtime", "model": ""}},
            "session.model",
            "invalid_value",
        ),
        (
            {"session": {"type": "realtime", "model": 7}},
            "session.model",
            "invalid_value",
        ),
        ({"session": {"type": "realtime", "model": "a b"}}, None, "invalid_model"),
        (
            {"session": {"type": "transcription", "model": "gpt-realtime"}},
            "session.model",
            "unknown_parameter",
        ),
        (
            {"session": {"type": "realtime", "instructions": "x" * 70_000}},
            "session",
            "invalid_value",
        ),
    ],
)
def test_bad_bodies_are_400_naming_the_field(client: Client, body, param, code):
    issued = issue_key(URL)
    error = error_of(post(client, body, key=issued.token), 400)
    assert (error["param"], error["code"], error["type"]) == (
        param,
        code,
        "invalid_request_error",
    )
    assert not EphemeralToken.objects.exists()


def test_keys_are_checked_like_at_the_handshake(client: Client):
    issued = issue_key(URL, models=("gpt-realtime",))
    revoked = issue_key(URL, name="revoked")
    services.virtual_key_revoke(key=VirtualKey.objects.get(pk=revoked.key_id))
    minted = post(client, {}, key=issued.token).json()["value"]
    other_model = {"session": {**SESSION, "model": "gpt-realtime-mini"}}
    cases = [
        (post(client, {}), 401, "missing_api_key"),
        (post(client, {}, key="vk_" + "q" * 43), 401, "invalid_api_key"),
        (post(client, {}, key=minted), 401, "invalid_api_key"),  # no token from a token
        (post(client, {}, key="sk-a-provider-key"), 401, "invalid_api_key"),
        (post(client, {}, key=revoked.token), 403, "key_revoked"),
        (post(client, other_model, key=issued.token), 403, "model_not_allowed"),
        (post(client, {"session": {"type": "realtime"}}, key=issued.token), 200, None),
    ]
    for response, status, code in cases:
        if code is None:
            assert response.status_code == status
        else:
            assert error_of(response, status)["code"] == code
    assert EphemeralToken.objects.count() == 2


def test_the_other_key_places_and_azures_path(client: Client):
    issued = issue_key(URL)
    for path, header in [
        (PATH, "HTTP_X_PORTKEY_VIRTUAL_KEY"),
        ("/openai/v1/realtime/client_secrets", "HTTP_API_KEY"),
    ]:
        response = post(client, {}, path=path, **{header: issued.token})
        assert response.status_code == 200, response.content


def test_a_provider_that_takes_no_configuration_mints_nothing(client: Client):
    issued = issue_key(URL, kind="cartesia", slug="tts")
    error = error_of(post(client, {}, key=issued.token), 400)
    assert error["code"] == "unsupported_provider"
    assert not EphemeralToken.objects.exists()


def test_failed_attempts_are_throttled_like_handshakes(client: Client, settings):
    settings.GATEWAY_AUTH_FAILURE_BURST = 3
    settings.GATEWAY_AUTH_FAILURES_PER_SECOND = 0.01
    issued = issue_key(URL)
    for _ in range(3):
        error_of(post(client, {}, key="vk_" + "z" * 43), 401)
    error = error_of(post(client, {}, key=issued.token), 429)
    assert error["code"] == "too_many_failed_attempts"
    assert not EphemeralToken.objects.exists()


def test_bad_bodies_are_not_throttled(client: Client, settings):
    settings.GATEWAY_AUTH_FAILURE_BURST = 2
    issued = issue_key(URL)
    for _ in range(4):
        error_of(post(client, "{", key=issued.token), 400)
    assert post(client, {}, key=issued.token).status_code == 200


def test_only_post(client: Client):
    response = client.get(PATH)
    assert error_of(response, 405)["code"] == "method_not_allowed"
    assert response["Allow"] == "POST"


def test_no_log_line_holds_the_key_or_the_token(client: Client, caplog):
    issued = issue_key(URL)
    caplog.set_level("DEBUG")
    value = post(client, {"session": SESSION}, key=issued.token).json()["value"]
    post(client, {}, key="vk_" + "y" * 43)
    text = caplog.text
    assert "minted ephemeral token" in text and "refused a client secret" in text
    for secret in (issued.token, value, "vk_" + "y" * 43):
        assert secret not in text
