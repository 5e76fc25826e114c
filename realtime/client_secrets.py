"""`POST /v1/realtime/client_secrets`: a virtual key mints a browser's token.

OpenAI's own endpoint, request and response (OpenAI API reference, "Realtime:
Client secrets, Create client secret"; openai-python
`resources/realtime/client_secrets.py`, which posts to `/realtime/client_secrets`
under the client's base URL with `Authorization: Bearer`, and parses the answer
as `types/realtime/client_secret_create_response.py`), so the official SDKs
work against the gateway's HTTP base URL:

    request  {"expires_after": {"anchor": "created_at", "seconds": 600},
              "session": {"type": "realtime", "model": "gpt-realtime",
                          "instructions": "...", ...}}
    response {"value": "ek_...", "expires_at": 1756310470,
              "session": {"type": "realtime", "object": "realtime.session",
                          "id": "sess_...", "model": "gpt-realtime", ...}}

Both request fields are optional. `expires_after.anchor` may only be
`created_at`; `seconds` is 10..7200, default 600. `session.type` is `realtime`
or `transcription` (a transcription session names no `model`); the rest of the
configuration is the provider's to check when it is applied (see
realtime.bindings). The answer's `session` is the configuration bound to the
token, with the identifying fields OpenAI's schema requires (`id`, `object`);
`value` is the token, shown this once. Errors come in OpenAI's shape,
`{"error": {"message", "type", "param", "code"}}`: 400 for a bad body (the
`param` names the field), 401 for a missing or unknown key (a short-lived
token cannot mint another), 403 for a key that may not be used now or a model
outside its list, 429 after too many failures (the handshake throttle's
buckets, `GATEWAY_AUTH_FAILURE_*`). Also served at the Azure OpenAI v1 path
`/openai/v1/realtime/client_secrets`.
"""

from __future__ import annotations

import json
import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

from channels.db import database_sync_to_async
from django.db import Error as DatabaseError
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from keys import ephemeral
from keys import exceptions as key_errors
from keys import services as key_services
from realtime.admission import (
    TOO_MANY_FAILURES,
    failures_counted,
    keys_unavailable,
    throttle_buckets,
)
from realtime.credentials import check_model_name, parse_handshake
from realtime.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    LimitExceeded,
)
from realtime.providers import adapter_for, key_places
from realtime.state import process_state

logger = logging.getLogger(__name__)

# A session's type -> the `object` OpenAI's answer names it with.
SESSION_TYPES = {
    "realtime": "realtime.session",
    "transcription": "realtime.transcription_session",
}
_TOP_LEVEL = ("expires_after", "session")
_EXPIRES_AFTER = ("anchor", "seconds")


class InvalidParameter(BadRequest):
    """A request field OpenAI's schema does not allow; `param` names it."""

    def __init__(self, message: str, *, param: str, code: str) -> None:
        super().__init__(message, code=code)
        self.param = param

    def details(self) -> dict[str, Any]:
        return {**super().details(), "param": self.param}


@dataclass(frozen=True, slots=True)
class MintRequest:
    """A valid request: the token's lifetime, model and configuration."""

    seconds: int = ephemeral.DEFAULT_SECONDS
    session: dict[str, Any] = field(default_factory=dict)

    @property
    def model(self) -> str:
        model = self.session.get("model", "")
        return model if isinstance(model, str) else ""


def _object(value: object, param: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise InvalidParameter(
            f"Invalid '{param}': expected an object.", param=param, code="invalid_type"
        )
    return value


def _known(value: dict[str, Any], names: tuple[str, ...], parent: str = "") -> None:
    for name in value:
        if name not in names:
            param = f"{parent}.{name}" if parent else name
            raise InvalidParameter(
                f"Unknown parameter: '{param}'.", param=param, code="unknown_parameter"
            )


def _seconds(expires_after: dict[str, Any]) -> int:
    _known(expires_after, _EXPIRES_AFTER, "expires_after")
    if expires_after.get("anchor", "created_at") != "created_at":
        raise InvalidParameter(
            "Invalid 'expires_after.anchor': only 'created_at' is supported.",
            param="expires_after.anchor",
            code="invalid_value",
        )
    seconds = expires_after.get("seconds", ephemeral.DEFAULT_SECONDS)
    low, high = ephemeral.MIN_SECONDS, ephemeral.MAX_SECONDS
    if isinstance(seconds, bool) or not isinstance(seconds, int):
        raise InvalidParameter(
            "Invalid 'expires_after.seconds': expected an integer.",
            param="expires_after.seconds",
            code="invalid_type",
        )
    if not low <= seconds <= high:
        raise InvalidParameter(
            f"Invalid 'expires_after.seconds': expected {low} to {high}, got "
            f"{seconds}.",
            param="expires_after.seconds",
            code="invalid_value",
        )
    return seconds


def _session(session: dict[str, Any]) -> dict[str, Any]:
    kind = session.get("type")
    if kind not in SESSION_TYPES:
        raise InvalidParameter(
            "Invalid 'session.type': expected 'realtime' or 'transcription'.",
            param="session.type",
            code="invalid_value",
        )
    if "model" in session:
        model = session["model"]
        if kind != "realtime":
            raise InvalidParameter(
                "Unknown parameter: 'session.model' (a transcription session "
                "names its model in audio.input.transcription).",
                param="session.model",
                code="unknown_parameter",
            )
        if not isinstance(model, str) or not model:
            raise InvalidParameter(
                "Invalid 'session.model': expected a model name.",
                param="session.model",
                code="invalid_value",
            )
        check_model_name(model)
    if ephemeral.session_size(session) > ephemeral.MAX_SESSION_BYTES:
        raise InvalidParameter(
            f"Invalid 'session': over {ephemeral.MAX_SESSION_BYTES} bytes.",
            param="session",
            code="invalid_value",
        )
    return session


def parse_request(body: bytes) -> MintRequest:
    """The request a body holds; InvalidParameter (400) when it is not valid."""
    try:
        data = json.loads(body or b"{}")
    except (UnicodeDecodeError, ValueError):
        raise BadRequest(
            "The request body is not valid JSON.", code="invalid_json"
        ) from None
    data = _object(data, "body")
    _known(data, _TOP_LEVEL)
    seconds = ephemeral.DEFAULT_SECONDS
    if data.get("expires_after") is not None:
        seconds = _seconds(_object(data["expires_after"], "expires_after"))
    session: dict[str, Any] = {}
    if data.get("session") is not None:
        session = _session(_object(data["session"], "session"))
    return MintRequest(seconds=seconds, session=session)


def response_body(minted: ephemeral.MintedToken) -> dict[str, Any]:
    """OpenAI's answer: the token, its expiry (epoch seconds), the session."""
    expires_at = int(minted.expires_at.timestamp())
    session = {"type": "realtime", **minted.session}
    session.update(
        object=SESSION_TYPES[session["type"]],
        id=f"sess_{secrets.token_hex(12)}",
        expires_at=expires_at,
    )
    return {"value": minted.token, "expires_at": expires_at, "session": session}


def mint(*, virtual_key: str, request: MintRequest) -> ephemeral.MintedToken:
    """Authenticate the virtual key (and the model against it), then mint.

    Raises GatewayError: AuthenticationFailed for an unknown key (or anything
    but a virtual key), AccessDenied for a refused one, BadRequest for a key
    whose provider takes no bound session.
    """
    try:
        resolved = key_services.virtual_key_authenticate(
            token=virtual_key, model=request.model or None
        )
    except key_errors.KeyNotFound:
        raise AuthenticationFailed("Invalid virtual key.") from None
    except key_errors.KeyRefused as exc:
        message = str(exc)
        message = message[:1].upper() + message[1:] + "."
        raise AccessDenied(message, code=exc.code) from None
    except key_errors.CredentialUnreadable:
        logger.error("a virtual key's stored credential cannot be decrypted")
        raise GatewayError(
            "The virtual key's provider credential cannot be read; ask an admin.",
            code="credential_unreadable",
        ) from None
    assert resolved.key is not None
    kind = resolved.provider.kind
    try:
        supported = adapter_for(kind).applies_session_config
    except LookupError:
        supported = False
    if not supported:
        raise BadRequest(
            f"This virtual key's provider ({kind}) takes no client secrets.",
            code="unsupported_provider",
        )
    return ephemeral.ephemeral_token_create(
        identity=resolved.key,
        model=request.model,
        session=request.session,
        seconds=request.seconds,
    )


def _presented_key(request: HttpRequest) -> str | None:
    """The key in the request's headers, in the places a handshake's may be
    (Authorization: Bearer, api-key, x-portkey-virtual-key, ...)."""
    headers = [
        (name.lower().encode("latin-1"), value.encode("latin-1", "replace"))
        for name, value in request.headers.items()
    ]
    credentials = parse_handshake(
        headers=headers, query_string=b"", subprotocols=(), places=key_places()
    ).credentials
    return credentials.virtual_key or credentials.api_key


def _error(error: GatewayError) -> JsonResponse:
    return JsonResponse(error.response_body(), status=error.http_status)


@csrf_exempt
async def create_client_secret(request: HttpRequest) -> JsonResponse:
    """Mint a short-lived token for the virtual key the request presents."""
    if request.method != "POST":
        response = _error(
            BadRequest("Use POST to create a client secret.", code="method_not_allowed")
        )
        response.status_code = 405
        response["Allow"] = "POST"
        return response
    state = process_state()
    address = request.META.get("REMOTE_ADDR", "")
    token = _presented_key(request)
    buckets = throttle_buckets(token, address)
    if any(map(state.throttle.blocked, buckets)):
        return _error(
            LimitExceeded(
                "Too many failed attempts from this address or key; slow down.",
                code=TOO_MANY_FAILURES,
            )
        )
    try:
        if not token:
            raise AuthenticationFailed(
                "No API key provided. Send a virtual key as `Authorization: Bearer`.",
                code="missing_api_key",
            )
        minted = await database_sync_to_async(mint)(
            virtual_key=token, request=parse_request(request.body)
        )
    except GatewayError as exc:
        if isinstance(exc, AuthenticationFailed | AccessDenied):
            for bucket in buckets[: failures_counted(exc)]:
                state.throttle.failed(bucket)
        logger.warning("refused a client secret to %s: %s", address, exc.code)
        return _error(exc)
    except DatabaseError:
        logger.exception("cannot mint a client secret: database error")
        return _error(keys_unavailable())
    return JsonResponse(response_body(minted))
