"""The admin's playground: a text conversation through `/v1/realtime`, for staff.

Served under `/admin/playground/` (this module is its URLconf). A staff member
with the permission to change virtual keys picks a key and a model; the page
POSTs them (with the CSRF token) to `token/`, where the server mints a
short-lived token for the key row (`keys.ephemeral.ephemeral_token_create_for_key`:
the key's own checks, recorded in the key's admin history). Virtual keys are
stored as digests, so the server could not hand the page the key even if it
wanted to: the page only ever holds the short-lived token, and opens OpenAI's
browser form with the browser's own WebSocket,

    new WebSocket("ws(s)://<this host>/v1/realtime?model=M",
                  ["realtime", "openai-insecure-api-key.<token>"])

(OpenAI API reference, "Realtime API with WebSockets": browsers authenticate
with an ephemeral key as the `openai-insecure-api-key.` subprotocol, next to
`realtime`). It sends OpenAI's GA client events, `conversation.item.create`
with an `input_text` part and `response.create` with `output_modalities:
["text"]`, and shows every event, the `response.output_text.delta` text, the
usage each `response.done` reports and the session's row (`usage/`, polled:
the gateway does not tell a client its row, so the page asks for the key's
newest session since it pressed Start).

For keys whose provider takes no tokens, or a raw provider key, the page may
use a pasted key as the credential itself; it then holds that key (the page
says so) and never sends it here.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET, require_POST

from keys import ephemeral
from keys import exceptions as key_errors
from keys import selectors as key_selectors
from keys.models import VirtualKey
from realtime.credentials import check_model_name
from realtime.exceptions import AccessDenied, BadRequest, GatewayError
from realtime.providers import adapter_for
from realtime.selectors import session_as_dict, session_latest

logger = logging.getLogger(__name__)

app_name = "playground"
# Who may use the playground: whoever may change keys may spend them.
PERMISSION = "keys.change_virtualkey"
DEFAULT_MODEL = "gpt-realtime"
TOKEN_SECONDS = 600


def _may_use(request: HttpRequest) -> bool:
    return request.user.has_perm(PERMISSION)


NOT_ALLOWED = AccessDenied(
    "You may not use the playground: it needs the permission to change virtual keys.",
    code="permission_denied",
)


def takes_tokens(kind: str) -> bool:
    """True when a provider kind's sessions accept short-lived tokens."""
    try:
        return adapter_for(kind).applies_session_config
    except LookupError:
        return False


def default_model(allowed_models: list[str]) -> str:
    """The first model a key's allow-list names outright, else DEFAULT_MODEL."""
    named = [model for model in allowed_models if not model.endswith("*")]
    return named[0] if named else DEFAULT_MODEL


def key_choice(key: VirtualKey) -> dict[str, Any]:
    """What the page knows of a key: never its token, nor its prefix."""
    models = list(key.allowed_models or ())
    return {
        "id": key.pk,
        "name": key.name,
        "provider": key.provider.slug,
        "kind": key.provider.kind,
        "tokens": takes_tokens(key.provider.kind),
        "models": models,
        "model": default_model(models),
    }


@staff_member_required
@require_GET
def playground_page(request: HttpRequest) -> HttpResponse:
    """The page: pick a key and a model, talk, watch events and usage."""
    if not _may_use(request):
        raise PermissionDenied
    context = {
        **admin.site.each_context(request),
        "title": "Playground",
        "keys": [key_choice(key) for key in key_selectors.virtual_keys_usable()],
        "providers": [p.slug for p in key_selectors.providers_list()],
        "token_minutes": TOKEN_SECONDS // 60,
        "urls": {
            "token": reverse("playground:token"),
            "usage": reverse("playground:usage"),
        },
    }
    return TemplateResponse(request, "admin/playground.html", context)


def _error(error: GatewayError) -> JsonResponse:
    return JsonResponse(error.response_body(), status=error.http_status)


def _mint_request(body: bytes) -> tuple[int, str]:
    """The key id and model a mint request names; BadRequest if malformed."""
    try:
        data = json.loads(body or b"{}")
        key_id = data["key"]
        model = data.get("model") or ""
    except (ValueError, TypeError, KeyError, AttributeError):
        raise BadRequest('Send {"key": id, "model": name}.') from None
    if isinstance(key_id, bool) or not isinstance(key_id, int):
        raise BadRequest("`key` must be a key's id.")
    if not isinstance(model, str):
        raise BadRequest("`model` must be a model name.")
    check_model_name(model)
    return key_id, model


def mint(*, key_id: int, model: str, actor_id: int) -> ephemeral.MintedToken:
    """A short-lived token for a key row; GatewayError when it may not have one."""
    try:
        key = key_selectors.virtual_key_by_id(key_id=key_id)
    except key_errors.KeyNotFound:
        raise BadRequest("No such virtual key.", code="unknown_key") from None
    if not takes_tokens(key.provider.kind):
        raise BadRequest(
            f"This key's provider ({key.provider.kind}) takes no short-lived "
            "tokens; paste a key instead.",
            code="unsupported_provider",
        )
    try:
        return ephemeral.ephemeral_token_create_for_key(
            key=key,
            actor_id=actor_id,
            model=model or default_model(list(key.allowed_models or ())),
            session={"type": "realtime", "output_modalities": ["text"]},
            seconds=TOKEN_SECONDS,
        )
    except key_errors.KeyRefused as exc:
        message = str(exc)
        message = message[:1].upper() + message[1:] + "."
        raise AccessDenied(message, code=exc.code) from None
    except key_errors.CredentialUnreadable:
        logger.error("a virtual key's stored credential cannot be decrypted")
        raise GatewayError(
            "The key's provider credential cannot be read.",
            code="credential_unreadable",
        ) from None


@staff_member_required
@require_POST
def playground_token(request: HttpRequest) -> JsonResponse:
    """Mint a short-lived token for the chosen key (JSON in, JSON out)."""
    if not _may_use(request):
        return _error(NOT_ALLOWED)
    actor_id = request.user.pk
    assert actor_id is not None  # staff_member_required: a signed-in user
    started_at = timezone.now()
    try:
        key_id, model = _mint_request(request.body)
        minted = mint(key_id=key_id, model=model, actor_id=actor_id)
    except GatewayError as exc:
        return _error(exc)
    return JsonResponse(
        {
            "token": minted.token,
            "expires_at": int(minted.expires_at.timestamp()),
            "model": minted.model,
            "key_id": key_id,
            "since": started_at.isoformat(),
        }
    )


@staff_member_required
@require_GET
def playground_usage(request: HttpRequest) -> JsonResponse:
    """The newest session row of key `key_id` started since `since` (or null).

    Not `key`: the gateway strips query parameters named like credentials
    (realtime.redaction)."""
    if not _may_use(request):
        return _error(NOT_ALLOWED)
    since = parse_datetime(request.GET.get("since", ""))
    key_id = request.GET.get("key_id", "")
    if since is None or not key_id.isdigit():
        return _error(BadRequest("Name a `key_id` and a `since` time."))
    row = session_latest(virtual_key_id=int(key_id), since=since)
    return JsonResponse({"session": session_as_dict(row) if row else None})


urlpatterns = [
    path("", playground_page, name="page"),
    path("token", playground_token, name="token"),
    path("usage", playground_usage, name="usage"),
]
