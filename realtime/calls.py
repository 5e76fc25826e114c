"""`POST /v1/realtime/calls` and `POST /v1/live/sessions`: WebRTC calls.

A browser posts its SDP offer here, with a virtual key or, better, a
short-lived token its server minted (`/v1/realtime/client_secrets`), in
`Authorization: Bearer` (or any place a handshake's key may be). The gateway
checks it as it checks a WebSocket session's (`realtime.call_admission`),
forwards the offer to the provider with the real credential, and answers with
the provider's answer, shaped as the provider's own endpoint answers
(`realtime.call_kinds`):

- `/v1/realtime/calls` (Azure: `/openai/v1/realtime/calls`): `201 Created`,
  the SDP answer as `application/sdp`, and `Location:
  /v1/realtime/calls/{call_id}` on the gateway's own path (OpenAI's
  realtime-webrtc guide reads the call id from the Location's last segment);
- `/v1/live/sessions` (Azure: `/openai/v1/live/sessions`), over HTTP: the
  provider's status and JSON `{"session": {"id"}, "transport": {"type":
  "webrtc", "sdp"}}`. The same path over WebSocket is the GPT-Live socket,
  which Channels routes (`realtime.routing`), never this view.

Media then flows between the browser and the provider; none passes through the
gateway. Errors are JSON in OpenAI's shape, `{"error": {"message", "type",
"param", "code"}}`, with the status of the refusal: 400 for a body that is not
an offer, 401 for a missing or unknown key, 402 for a budget reached, 403 for
a key that may not be used or a model outside its list, 429 for a limit, 502
or 504 when the provider fails. The provider's key appears in no answer.
Pages on other origins may post here when `GATEWAY_CORS_ALLOWED_ORIGINS`
lists theirs (`realtime.cors`).
"""

from __future__ import annotations

import logging

from channels.layers import get_channel_layer
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from realtime.call_admission import open_call
from realtime.call_kinds import (
    LIVE_SESSIONS,
    REALTIME_CALLS,
    CallKind,
    Created,
    InvalidOffer,
)
from realtime.cors import cross_origin
from realtime.credentials import Handshake, parse_handshake
from realtime.exceptions import BadRequest, GatewayError
from realtime.providers import key_places
from realtime.state import process_state

logger = logging.getLogger(__name__)


def _error(error: GatewayError, *, status: int | None = None) -> JsonResponse:
    return JsonResponse(error.response_body(), status=status or error.http_status)


def _handshake(request: HttpRequest, model: str) -> Handshake:
    """The request's credentials and model, as a WebSocket handshake's: the
    session's model joins the query (`model`) unless the query names one."""
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
        for name, value in request.headers.items()
    ]
    query = request.META.get("QUERY_STRING", "").encode("latin-1", "replace")
    handshake = parse_handshake(
        headers=headers, query_string=query, subprotocols=(), places=key_places()
    )
    named = handshake.model
    if model and named and model != named:
        raise InvalidOffer(
            f"The query names model {named!r} and the session {model!r}; name one.",
            param="session.model",
        )
    if model and not named:
        query_items = (*handshake.query, ("model", model))
        return Handshake(
            credentials=handshake.credentials,
            model=model,
            query=query_items,
            subprotocols=(),
            selected_subprotocol=None,
        )
    return handshake


def _answer(kind: CallKind, created: Created, request: HttpRequest) -> HttpResponse:
    if kind is REALTIME_CALLS:
        response = HttpResponse(
            created.sdp, status=created.status, content_type="application/sdp"
        )
        response["Location"] = f"{request.path.rstrip('/')}/{created.call_id}"
        return response
    body = {
        "session": {"id": created.call_id},
        "transport": {"type": "webrtc", "sdp": created.sdp},
    }
    return JsonResponse(body, status=created.status)


async def _create(request: HttpRequest, kind: CallKind) -> HttpResponse:
    if request.method != "POST":
        response = _error(
            BadRequest("Use POST to create a call.", code="method_not_allowed"),
            status=405,
        )
        response["Allow"] = "POST"
        return response
    state = process_state()
    address = request.META.get("REMOTE_ADDR", "")
    try:
        content_type = request.content_type or ""
        body = request.body  # first: the form is then parsed from memory
        form = request.POST if content_type == "multipart/form-data" else {}
        offer = kind.offer(content_type=content_type, body=body, form=form)
        handshake = _handshake(request, offer.model)
        # The failed-handshake throttle, the key and its checks: as a socket's.
        created = await open_call(
            kind=kind,
            handshake=handshake,
            offer=offer,
            client_address=address,
            state=state,
            layer=get_channel_layer(),
        )
    except GatewayError as exc:
        logger.warning("refused a %s call from %s: %s", kind.name, address, exc.code)
        return _error(exc)
    return _answer(kind, created, request)


@csrf_exempt
@cross_origin("POST")
async def create_realtime_call(request: HttpRequest) -> HttpResponse:
    """`POST /v1/realtime/calls`: a Realtime call over WebRTC."""
    return await _create(request, REALTIME_CALLS)


@csrf_exempt
@cross_origin("POST")
async def create_live_session(request: HttpRequest) -> HttpResponse:
    """`POST /v1/live/sessions`: a GPT-Live session over WebRTC."""
    return await _create(request, LIVE_SESSIONS)
