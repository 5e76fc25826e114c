"""Every error the gateway can send parses with the `openai` SDK's own types."""

from __future__ import annotations

import json

import pytest

from realtime import (
    admission,
    client_secrets,
    close_codes,
    endings,
    exceptions,
    upstream,
)
from realtime.client import ClientSide
from realtime.endings import Ending
from realtime.exceptions import GatewayError, ShuttingDown
from realtime.models import SessionStatus
from tests.support.openai_types import parse_error_body, parse_error_event


def _classes(root: type[GatewayError] = GatewayError) -> list[type[GatewayError]]:
    found = [root]
    for sub in root.__subclasses__():
        found += _classes(sub)
    return found


def _build(cls: type[GatewayError]) -> GatewayError:
    # Imported above, so that every run sees the same classes, whatever loaded first.
    if issubclass(cls, client_secrets.InvalidParameter):
        return cls("A message.", param="session.model", code="invalid_value")
    return cls("A message.")


def _every_error() -> list[GatewayError]:
    """Each class with its default code, and each error the modules build."""
    built = [_build(cls) for cls in _classes()]
    for sent_code in (1009, 1011, 1002, 1007, None):
        ending = endings.upstream_lost(received=None, sent_code=sent_code, max_bytes=9)
        built.append(ending.error)
    built += [
        endings.key_refused("virtual key revoked", "key_revoked").error,
        endings.gateway_fault().error,
        endings.terminated().error,
        endings.shutting_down().error,
        admission.keys_unavailable(),
        *(upstream.refused(status, what="session") for status in (401, 403, 429, 500)),
    ]
    return [error for error in built if error is not None]


@pytest.mark.parametrize("error", _every_error(), ids=lambda e: e.code)
def test_every_error_event_parses_with_the_openai_sdk(error):
    parsed = parse_error_event(json.loads(json.dumps(error.event())))
    assert (parsed.error.code, parsed.error.message) == (error.code, error.message)
    assert parsed.error.type in ("invalid_request_error", "server_error")
    assert parsed.event_id.startswith("event_")


@pytest.mark.parametrize("error", _every_error(), ids=lambda e: e.code)
def test_every_refusal_body_is_openais_error_shape(error):
    body = parse_error_body(json.loads(json.dumps(error.response_body())))
    param = error.details()["param"]  # None but where a field is named
    assert (body.code, body.message, body.param) == (error.code, error.message, param)


def test_every_event_has_its_own_id():
    error = exceptions.AuthenticationFailed("Invalid virtual key.")
    ids = {error.event()["event_id"] for _ in range(1000)}
    assert len(ids) == 1000


@pytest.mark.parametrize("cls", _classes(), ids=lambda c: c.__name__)
def test_http_status_and_close_code_agree(cls):
    if cls is ShuttingDown:  # the scheme's 1001; refused before accept: 503
        assert (cls.close_code, cls.http_status) == (close_codes.GOING_AWAY, 503)
    else:
        assert cls.close_code == 4000 + cls.http_status


class Recorder:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    async def __call__(self, message: dict) -> None:
        self.sent.append(message)


def _refusal() -> Ending:
    error = exceptions.AuthenticationFailed("Invalid virtual key.")
    return Ending.by_gateway(error, status=SessionStatus.REJECTED)


async def test_a_refusal_before_accept_is_an_http_response_where_it_can_be():
    send = Recorder()
    await ClientSide(send, can_deny=True).close(_refusal())
    start, body = send.sent
    assert start == {
        "type": "websocket.http.response.start",
        "status": 401,
        "headers": [(b"content-type", b"application/json")],
    }
    assert body["type"] == "websocket.http.response.body"
    assert json.loads(body["body"]) == {
        "error": {
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "message": "Invalid virtual key.",
            "param": None,
        }
    }


async def test_without_the_extension_a_refusal_is_accept_event_close():
    send = Recorder()
    await ClientSide(send, can_deny=False).close(_refusal())
    kinds = [message["type"] for message in send.sent]
    assert kinds == ["websocket.accept", "websocket.send", "websocket.close"]
    parse_error_event(json.loads(send.sent[1]["text"]))
    assert send.sent[2]["code"] == 4401


async def test_after_accept_it_is_always_event_and_close():
    send = Recorder()
    client = ClientSide(send, can_deny=True)
    await client.accept()
    await client.close(endings.key_refused("virtual key revoked", "key_revoked"))
    await client.close(_refusal())  # once only
    kinds = [message["type"] for message in send.sent]
    assert kinds == ["websocket.accept", "websocket.send", "websocket.close"]
    assert send.sent[2]["code"] == 4403


async def test_an_ending_without_an_error_is_never_an_http_response():
    send = Recorder()
    await ClientSide(send, can_deny=True).close(Ending.by_client(None))
    kinds = [message["type"] for message in send.sent]
    assert kinds == ["websocket.accept", "websocket.close"]
