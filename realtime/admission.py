"""Admission: may this handshake become a session, and with which upstream?

In order: the failed-handshake throttle, the key (from the process's cache of
recent authorizations, else the database), the spend of a key under a budget
(`realtime.budgets`), the provider's target, then the
session's row and the upstream handshake, which run together since each takes a
round trip, then a short-lived token's configuration, sent upstream before the
client is accepted (`realtime.bindings`), and, for a key with an allow-list
whose client named no model, the provider's report of the model it runs
(`_await_model`). `admit` returns the admitted `Session` with its upstream
open, or raises:

- `Refused`: the handshake is refused and the session has no row of its own
  (the key services wrote a `rejected` row for a known key, where one is due);
- `NotAdmitted`: the session's row was written but it cannot go on (the
  provider is misconfigured, refused the upstream handshake or reported a model
  outside the key's allow-list); the row is to be finalised with the ending it
  carries.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from dataclasses import dataclass, field

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from keys import exceptions as key_errors
from keys import upstreams
from realtime import bindings, budgets, database, interfaces, services
from realtime.addresses import throttle_key
from realtime.credentials import Handshake
from realtime.endings import Ending
from realtime.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    BadRequest,
    BudgetExceeded,
    GatewayError,
    LimitExceeded,
    ServiceUnavailable,
    UpstreamTimeout,
)
from realtime.models import SessionStatus
from realtime.providers import (
    ConnectRequest,
    ProviderSession,
    UpstreamTarget,
    adapter_for,
)
from realtime.providers.base import OptionsError
from realtime.recorder import SessionLog, SessionRecord, session_log
from realtime.state import ProcessState
from realtime.upstream import UpstreamOptions, open_upstream
from realtime.usage import Meter, text_size

logger = logging.getLogger(__name__)

# How many upstream frames may come before the provider reports its model.
_EARLY_FRAMES = 16


@dataclass(eq=False, slots=True)
class Session:
    """One admitted session: who, which provider, its row, meter and upstream."""

    id: uuid.UUID
    log: SessionLog
    record: SessionRecord
    provider_slug: str
    key_id: int | None
    provider: ProviderSession
    meter: Meter = field(default_factory=Meter)
    upstream: ClientConnection | None = None
    # The key's limits on the session's length and silence (None: no limit).
    max_seconds: int | None = None
    idle_seconds: int | None = None
    # Upstream frames read before the client was accepted (`_await_model`),
    # as the client is to get them; the bridge sends them first.
    early_frames: list[str | bytes] = field(default_factory=list)
    # The key's and its team's budgets, for a key under any (None: none).
    budget: budgets.SessionBudget | None = None


class Refused(Exception):
    """The handshake is refused; no session row of ours exists."""

    def __init__(self, error: GatewayError) -> None:
        super().__init__(error.code)
        self.error = error


class NotAdmitted(Exception):
    """The session's row exists but the session cannot go on."""

    def __init__(self, session: Session, ending: Ending) -> None:
        super().__init__(ending.status)
        self.session = session
        self.ending = ending


TOO_MANY_FAILURES = "too_many_failed_attempts"


def _throttle_buckets(handshake: Handshake, client_address: str) -> tuple[str, ...]:
    token = handshake.credentials.virtual_key or handshake.credentials.api_key
    return throttle_buckets(token, client_address)


def throttle_buckets(token: str | None, client_address: str) -> tuple[str, ...]:
    """Where a failure to authenticate counts: the address (IPv6 by /64), then
    the key presented (by digest: the throttle never holds a key)."""
    buckets = [throttle_key(client_address)]
    if token:
        digest = hashlib.blake2b(token.encode(), digest_size=16).hexdigest()
        buckets.append(f"key:{digest}")
    return tuple(buckets)


def failures_counted(error: GatewayError) -> int:
    """How many of a refused handshake's buckets the refusal counts in.

    An unknown or missing key counts against the address; a known key that is
    refused (revoked, expired, a model outside its list, over its limit or its
    budget) against the address and the key, so hammering one key slows down too.
    """
    if isinstance(error, AuthenticationFailed | BadRequest):
        return 1
    if isinstance(error, AccessDenied | BudgetExceeded) or (
        isinstance(error, LimitExceeded) and error.code != TOO_MANY_FAILURES
    ):
        return 2
    return 0  # the gateway's own trouble (database, provider) is no client's fault


def keys_unavailable() -> ServiceUnavailable:
    """The refusal when the database cannot check keys."""
    return ServiceUnavailable(
        "The gateway cannot check keys right now; try again shortly.",
        code="keys_unavailable",
    )


async def admit(
    handshake: Handshake, *, client_address: str, state: ProcessState
) -> Session:
    """Authorize the handshake, write its row and open its upstream."""
    buckets = _throttle_buckets(handshake, client_address)
    try:
        return await _admit(handshake, client_address=client_address, state=state)
    except Refused as refused:
        for bucket in buckets[: failures_counted(refused.error)]:
            state.throttle.failed(bucket)
        raise


async def _admit(
    handshake: Handshake, *, client_address: str, state: ProcessState
) -> Session:
    authorized = await authorize(handshake, client_address=client_address, state=state)
    handshake = services.bound_handshake(authorized.resolved, handshake)
    session_id = uuid.uuid4()
    log = session_log(session_id)
    resolved = authorized.resolved
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
        key_id=resolved.key.key_id if resolved.key is not None else None,
        provider=ProviderSession(model=""),
    )
    if resolved.key is not None:
        session.max_seconds = resolved.key.max_session_seconds
        session.idle_seconds = resolved.key.idle_timeout_seconds
    if budgets.applies(resolved.key):
        session.budget = await _open_budget(authorized, client_address, state)
    try:
        target, session.provider = prepare(authorized, handshake, log=log)
        opening = bindings.binding_frames(authorized.resolved, log=log)
    except GatewayError as exc:
        await _start_row(session, authorized)
        status = (
            SessionStatus.FAILED
            if exc.code == "provider_misconfigured"
            else SessionStatus.REJECTED
        )
        raise NotAdmitted(session, Ending.by_gateway(exc, status=status)) from None
    session.upstream = await _start_and_dial(
        session, authorized, target, state=state, client_address=client_address
    )
    try:
        await bindings.apply(session.upstream, opening)
    except GatewayError as exc:  # the provider did not take it in time
        ending = Ending.by_gateway(exc, status=SessionStatus.FAILED)
        raise NotAdmitted(session, ending) from None
    if session.provider.awaits_model:
        await _await_model(session)
    return session


async def authorize(
    handshake: Handshake, *, client_address: str, state: ProcessState
) -> services.Authorized:
    """The authorized handshake; Refused when the client may not go on."""
    if any(map(state.throttle.blocked, _throttle_buckets(handshake, client_address))):
        raise Refused(
            LimitExceeded(
                "Too many failed handshakes from this address or key; slow down.",
                code=TOO_MANY_FAILURES,
            )
        )
    token = handshake.credentials.virtual_key or handshake.credentials.api_key
    cached = state.key_cache.get(token) if token else None
    if cached is not None:
        try:
            model = services.handshake_model(cached, handshake)
            interface = handshake.interface
            return services.Authorized(cached, model=model, interface=interface)
        except (key_errors.KeyRefused, GatewayError):
            pass  # refusals go through the database, which logs them
    try:
        authorized = await database.call(
            services.session_authorize,
            handshake=handshake,
            client_address=client_address,
            instance=state.instance,
            allow_passthrough=settings.GATEWAY_ALLOW_PASSTHROUGH,
        )
    except GatewayError as exc:
        raise Refused(exc) from None
    except DatabaseError:
        logger.exception("cannot check keys: database error")
        raise Refused(keys_unavailable()) from None
    if token:
        state.key_cache.put(token, authorized.resolved)
    return authorized


async def _open_budget(
    authorized: services.Authorized, client_address: str, state: ProcessState
) -> budgets.SessionBudget:
    """The session's budget; Refused when one is reached (a rejected row)."""
    key = authorized.resolved.key
    assert key is not None
    try:
        return await database_sync_to_async(budgets.session_budget)(
            identity=key,
            kind=authorized.resolved.provider.kind,
            model=authorized.model or "",
            client_address=client_address,
            instance=state.instance,
        )
    except BudgetExceeded as exc:
        # Its next handshake re-reads the key, so a raised budget applies at once.
        state.key_cache.forget(key.key_id)
        raise Refused(exc) from None
    except DatabaseError:
        logger.exception("cannot read the key's spend: database error")
        raise Refused(keys_unavailable()) from None


def prepare(
    authorized: services.Authorized, handshake: Handshake, *, log: SessionLog
) -> tuple[UpstreamTarget, ProviderSession]:
    """The upstream target and the provider's per-session handler."""
    provider = authorized.resolved.provider
    key = authorized.resolved.key
    try:
        adapter = adapter_for(provider.kind)
        request = ConnectRequest(
            base_url=adapter.upstream_url(provider.upstream_url, provider.options),
            credential=authorized.resolved.credential,
            query=handshake.query,
            subprotocols=handshake.subprotocols,
            options=provider.options,
            dialect=handshake.dialect,
        )
        model = authorized.model or ""
        target = adapter.target(request)
        check_upstream_host(target.url)
    except OptionsError as exc:
        log.error("provider %s is misconfigured: %s", provider.slug, exc)
        raise GatewayError(
            "The provider is misconfigured; ask an admin.",
            code="provider_misconfigured",
        ) from None
    allowed = key.allowed_models if key is not None else ()
    if authorized.interface in interfaces.OWN_ENDPOINT:  # GPT-Live, translation
        return interfaces.prepare(
            authorized.interface, adapter, request, model=model, allowed_models=allowed
        )
    handler = adapter.open_session(model=model, request=request, allowed_models=allowed)
    return target, handler


def check_upstream_host(url: str) -> None:
    """OptionsError unless the upstream's host is on GATEWAY_UPSTREAM_HOSTS, so
    a provider saved before the list changed is never dialed."""
    if not upstreams.url_host_allowed(url):
        raise OptionsError("its upstream host is not on GATEWAY_UPSTREAM_HOSTS")


async def _start_row(session: Session, authorized: services.Authorized) -> None:
    """Write the session's row; Refused when it may not start."""
    try:
        await session.record.start(authorized)
    except GatewayError as exc:  # over the key's limit: a rejected row
        raise Refused(exc) from None
    except DatabaseError:
        session.log.exception("cannot write the session row: database error")
        raise Refused(keys_unavailable()) from None


async def _start_and_dial(
    session: Session,
    authorized: services.Authorized,
    target: UpstreamTarget,
    *,
    state: ProcessState,
    client_address: str,
) -> ClientConnection:
    """The open upstream, the row written alongside.

    The row is written while the upstream handshake is under way, since both
    take a round trip; a key with a concurrency limit writes (and so checks)
    its row first, because a refused session must never reach the upstream.
    A raw provider key (passthrough) dials first: one the provider refuses
    (HTTP 401/403) is a failed handshake of the client's, which leaves no row
    and counts against its address in the failed-handshake throttle.
    """
    passthrough = authorized.resolved.key is None
    row: asyncio.Task[None] | None = None
    if authorized.limited:
        await _start_row(session, authorized)
    elif not passthrough:
        row = asyncio.create_task(_start_row(session, authorized))
    dialling = time.monotonic()
    try:
        upstream = await open_upstream(target, upstream_options())
    except GatewayError as exc:
        _dialled(session, state, dialling, ok=False)
        if passthrough and exc.code == "upstream_auth_failed":
            state.throttle.failed(client_address)
            raise Refused(exc) from None
        if row is not None:
            await row  # Refused, if the row could not be written either
        elif passthrough:
            await _start_row(session, authorized)
        session.log.warning("upstream %s refused: %s", session.provider_slug, exc.code)
        ending = Ending.by_gateway(exc, status=SessionStatus.FAILED)
        raise NotAdmitted(session, ending) from None
    except BaseException:
        if row is not None:
            row.cancel()
            await asyncio.gather(row, return_exceptions=True)
        raise
    _dialled(session, state, dialling, ok=True)
    try:
        if row is not None:
            await row
        elif passthrough:
            await _start_row(session, authorized)
    except Refused:
        upstream.transport.abort()  # never bridge a session that is not logged
        raise
    return upstream


def _dialled(session: Session, state: ProcessState, since: float, *, ok: bool) -> None:
    state.metrics.upstream_dialled(
        provider=session.provider_slug, seconds=time.monotonic() - since, ok=ok
    )


async def _await_model(session: Session) -> None:
    """Read the upstream's first frames until the provider reports its model.

    For a key with an allow-list whose client named no model: the provider says
    which it runs (OpenAI's `session.created`), and a model outside the list
    ends the session with 4403. This runs before the client is accepted, so no
    client frame can reach such a model, and the bridge's hot path has no gate
    to test; the provider reports as soon as it opens, so the client waits no
    longer than it would for that event anyway. The frames read are kept for
    the client. An upstream that closes first is left to the bridge, which
    relays what it said.
    """
    status = SessionStatus.REJECTED
    error: GatewayError
    try:
        async with asyncio.timeout(settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT):
            await _read_until_model(session)
    except ConnectionClosed:
        return
    except TimeoutError:
        status = SessionStatus.FAILED
        error = UpstreamTimeout("The provider did not report the session's model.")
    except GatewayError as exc:  # the reported model is outside the allow-list
        error = exc
    else:
        if not session.provider.awaits_model:
            return
        error = AccessDenied(
            "The provider did not report the session's model, and this virtual "
            "key allows only some; name one (the model query parameter).",
            code="model_not_allowed",
        )
    session.log.info("closing: %s", error.code)
    raise NotAdmitted(session, Ending.by_gateway(error, status=status))


async def _read_until_model(session: Session) -> None:
    """Pass upstream frames through the provider until it knows the model."""
    provider, meter, upstream = session.provider, session.meter, session.upstream
    assert upstream is not None
    while provider.awaits_model and len(session.early_frames) < _EARLY_FRAMES:
        data = await upstream.recv()
        meter.messages_from_upstream += 1
        if isinstance(data, str):
            meter.bytes_from_upstream += text_size(data)
            session.early_frames.append(provider.upstream_text(data))
        else:
            meter.bytes_from_upstream += len(data)
            session.early_frames.append(provider.upstream_bytes(data))


def upstream_options() -> UpstreamOptions:
    """The upstream connection settings, from the gateway's settings."""
    return UpstreamOptions(
        connect_timeout=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
        max_size=settings.GATEWAY_MAX_MESSAGE_BYTES,
        compression=settings.GATEWAY_UPSTREAM_COMPRESSION,
        ping_interval=settings.GATEWAY_PING_INTERVAL,
        ping_timeout=settings.GATEWAY_PING_TIMEOUT,
    )
