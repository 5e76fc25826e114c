"""Admitting a WebRTC call: the checks of a WebSocket session, then the offer.

In order: the key, from any place a handshake's may be, a short-lived token
included (`admission.authorize`: the failed-handshake throttle, the key cache,
the key's validity and the model against its allow-list, the model named in
`?model=`, in the offer's session, or bound to the token); the key's budgets;
the provider's call endpoints, on the origin of its realtime endpoint
(`ProviderAdapter.interface_url`); the session's row (interface `webrtc`),
written first so a key at its concurrency limit never reaches the provider;
then the offer, forwarded with the real credential. The provider's answer
starts the call's monitor (`realtime.sideband`), owned by the process.

`open_call` returns the provider's answer or raises a GatewayError; a
refusal counts in the failed-handshake throttle as a handshake's would.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlencode

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError

from keys.values import Secret
from realtime import admission, budgets, services
from realtime.admission import Refused, Session, check_upstream_host
from realtime.call_kinds import CallKind, Created, Offer
from realtime.credentials import Handshake
from realtime.endings import Ending
from realtime.exceptions import (
    AccessDenied,
    BadRequest,
    BudgetExceeded,
    GatewayError,
)
from realtime.http_upstream import HttpAnswer, HttpRequest, post
from realtime.models import SessionInterface, SessionStatus
from realtime.providers import (
    ConnectRequest,
    ProviderAdapter,
    UpstreamTarget,
    adapter_for,
)
from realtime.providers.base import OptionsError
from realtime.providers.live import delegated_models
from realtime.recorder import SessionRecord, session_log
from realtime.sideband import CallMonitor, CallTargets
from realtime.state import ProcessState
from realtime.upstream import refused
from realtime.usage import Meter


@runtime_checkable
class SendsCredential(Protocol):
    """An adapter that can put the credential in a request's headers."""

    def auth_headers(self, request: ConnectRequest) -> list[tuple[str, str]]:
        """The credential in the provider's own scheme."""
        ...


@dataclass(frozen=True, slots=True)
class CallEndpoints:
    """A provider's endpoints for one call kind, and its credential headers."""

    create: str
    api_base: str  # http(s)://host/v1 (or /openai/v1): hangup goes under it
    ws_base: str  # ws(s)://host/v1: the sideband goes under it
    headers: tuple[tuple[str, str], ...]

    def __repr__(self) -> str:
        return f"CallEndpoints(create={self.create!r}, headers=(values hidden))"


async def open_call(
    *,
    kind: CallKind,
    handshake: Handshake,
    offer: Offer,
    client_address: str,
    state: ProcessState,
    layer: Any,
) -> Created:
    """Authorize, check, record and forward a call's offer; start its monitor."""
    buckets = admission.throttle_buckets(
        handshake.credentials.virtual_key or handshake.credentials.api_key,
        client_address,
    )
    try:
        try:
            authorized = await admission.authorize(
                handshake, client_address=client_address, state=state
            )
        except Refused as refused:
            raise refused.error from None
        return await _admitted_call(
            kind=kind,
            authorized=replace(authorized, interface=SessionInterface.WEBRTC),
            handshake=services.bound_handshake(authorized.resolved, handshake),
            offer=offer,
            client_address=client_address,
            state=state,
            layer=layer,
        )
    except GatewayError as exc:
        for bucket in buckets[: admission.failures_counted(exc)]:
            state.throttle.failed(bucket)
        raise


async def _admitted_call(
    *,
    kind: CallKind,
    authorized: services.Authorized,
    handshake: Handshake,
    offer: Offer,
    client_address: str,
    state: ProcessState,
    layer: Any,
) -> Created:
    resolved = authorized.resolved
    key = resolved.key
    model = authorized.model or handshake.model or ""
    if not model and key is not None and key.allowed_models:
        raise AccessDenied(
            "This virtual key allows only some models; name one (the model query "
            "parameter, or the session's model).",
            code="model_not_allowed",
        )
    adapter, endpoints = _endpoints(kind, resolved.provider, resolved.credential)
    session_id = uuid.uuid4()
    log = session_log(session_id)
    session = Session(
        id=session_id,
        log=log,
        record=SessionRecord(
            session_id=session_id,
            client_address=client_address,
            instance=state.instance,
            provider_kind=resolved.provider.kind,
            log=log,
        ),
        provider_slug=resolved.provider.slug,
        key_id=key.key_id if key is not None else None,
        provider=kind.frame_handler(
            adapter,
            model=model,
            request=_connect_request(
                endpoints, resolved.provider.options, resolved.credential
            ),
            allowed_models=key.allowed_models if key is not None else (),
        ),
        max_seconds=key.max_session_seconds if key is not None else None,
    )
    # The Responses backend a GPT-Live call delegates to runs (and bills) on
    # that model: the key's allow-list holds on it too, before any row is written.
    for delegated in delegated_models(offer.session):
        session.provider.check_model(delegated)
    if budgets.applies(key):
        session.budget = await _open_budget(authorized, client_address, state, model)
    await _start_row(session, authorized)
    bound = dict(resolved.binding.session) if resolved.binding is not None else {}
    bound.pop("type", None)  # the kind decides it
    configured = offer.configured(bound, model)
    try:
        created = await _forward(kind, endpoints, configured, resolved.credential)
    except GatewayError as exc:
        ending = Ending.by_gateway(exc, status=SessionStatus.FAILED)
        await session.record.finish(ending, Meter(), session.provider)
        log.warning("the provider refused the call: %s", exc.code)
        raise
    sideband_path, query = kind.sideband(created.call_id)
    targets = CallTargets(
        sideband=_sideband_target(endpoints, sideband_path, query),
        hangup=HttpRequest(
            url=f"{endpoints.api_base}/{kind.hangup_path(created.call_id)}",
            headers=endpoints.headers,
        ),
    )
    monitor = CallMonitor(
        session, call_id=created.call_id, targets=targets, state=state, layer=layer
    )
    state.calls.start(monitor)
    log.info("call %s created on %s", created.call_id, session.provider_slug)
    return created


def _endpoints(
    kind: CallKind, provider: Any, credential: Secret
) -> tuple[ProviderAdapter, CallEndpoints]:
    """The provider's adapter and call endpoints; GatewayError when it has none."""
    try:
        adapter = adapter_for(provider.kind)
    except LookupError:
        adapter = None
    if (
        adapter is None
        or not adapter.serves_other_interfaces
        or not isinstance(adapter, SendsCredential)
    ):
        raise BadRequest(
            f"This virtual key's provider ({provider.kind}) takes no WebRTC calls.",
            code="unsupported_provider",
        )
    url, options = provider.upstream_url, provider.options
    try:
        create = adapter.interface_url(url, options, kind.create_path, http=True)
        ws_base = adapter.interface_url(url, options, "", http=False).rstrip("/")
        check_upstream_host(create)
    except OptionsError as exc:
        session_log(None).error("provider %s is misconfigured: %s", provider.slug, exc)
        raise GatewayError(
            "The provider is misconfigured; ask an admin.",
            code="provider_misconfigured",
        ) from None
    headers = adapter.auth_headers(_connect_request(None, options, credential))
    endpoints = CallEndpoints(
        create=create,
        api_base=create.removesuffix(f"/{kind.create_path}"),
        ws_base=ws_base,
        headers=tuple(headers),
    )
    return adapter, endpoints


def _connect_request(
    endpoints: CallEndpoints | None, options: Mapping[str, Any], credential: Secret
) -> ConnectRequest:
    return ConnectRequest(
        base_url=endpoints.ws_base if endpoints is not None else "",
        credential=credential,
        query=(),
        subprotocols=(),
        options=options,
    )


def _sideband_target(
    endpoints: CallEndpoints, path: str, query: tuple[tuple[str, str], ...]
) -> UpstreamTarget:
    url = f"{endpoints.ws_base}/{path}" + (f"?{urlencode(query)}" if query else "")
    return UpstreamTarget(url=url, headers=endpoints.headers)


async def _open_budget(
    authorized: services.Authorized,
    client_address: str,
    state: ProcessState,
    model: str,
) -> budgets.SessionBudget:
    key = authorized.resolved.key
    assert key is not None
    try:
        return await database_sync_to_async(budgets.session_budget)(
            identity=key,
            kind=authorized.resolved.provider.kind,
            model=model,
            client_address=client_address,
            instance=state.instance,
        )
    except BudgetExceeded:
        state.key_cache.forget(key.key_id)
        raise
    except DatabaseError:
        session_log(None).exception("cannot read the key's spend: database error")
        raise admission.keys_unavailable() from None


async def _start_row(session: Session, authorized: services.Authorized) -> None:
    try:
        await session.record.start(authorized)
    except DatabaseError:
        session.log.exception("cannot write the session row: database error")
        raise admission.keys_unavailable() from None


async def _forward(
    kind: CallKind, endpoints: CallEndpoints, offer: Offer, credential: Secret
) -> Created:
    """Post the offer with the real credential; the provider's call."""
    encoded = kind.upstream_body(offer)
    answer = await post(
        HttpRequest(
            url=endpoints.create,
            headers=endpoints.headers,
            body=encoded.body,
            content_type=encoded.content_type,
        ),
        timeout=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
    )
    if 200 <= answer.status < 300:
        return kind.created(answer)
    raise refusal(answer, credential)


def refusal(answer: HttpAnswer, credential: Secret) -> GatewayError:
    """The error for a provider's refusal of an offer. Its message is relayed
    for a bad request (an offer it cannot use), unless it quotes the credential;
    otherwise as for a WebSocket session (`realtime.upstream.refused`)."""
    status = answer.status
    if status in (400, 404, 422):
        message = _provider_message(answer.body)
        if message and credential.reveal() not in message:
            return BadRequest(
                f"The provider refused the offer: {message}",
                code="upstream_bad_request",
            )
        return BadRequest(
            f"The provider refused the offer (HTTP {status}).",
            code="upstream_bad_request",
        )
    return refused(status, what="call")


def _provider_message(body: bytes) -> str:
    try:
        error = json.loads(body).get("error", {})
        message = error.get("message", "")
    except (ValueError, AttributeError):
        return ""
    return message[:300] if isinstance(message, str) else ""
