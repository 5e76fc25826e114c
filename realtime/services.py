"""Writes of the usage log: open, refuse, checkpoint, finish, sweep sessions."""

from __future__ import annotations

import datetime
import logging
import uuid
from dataclasses import dataclass, replace
from decimal import Decimal

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from keys import ephemeral
from keys import exceptions as key_errors
from keys import selectors as key_selectors
from keys import services as key_services
from keys.models import VirtualKey
from keys.values import KeyIdentity, ResolvedCredential
from realtime import exceptions, pricing, rows
from realtime.credentials import Handshake, check_model_name
from realtime.exceptions import (
    AuthenticationFailed,
    BadRequest,
    GatewayError,
    LimitExceeded,
)
from realtime.models import RealtimeSession, SessionInterface, SessionStatus
from realtime.providers import adapter_for
from realtime.usage import NO_BILLING, Billing, Usage

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Authorized:
    """A handshake the gateway may bridge: its credential and model."""

    resolved: ResolvedCredential
    model: str | None  # None: the provider names it in-band, later
    interface: str = SessionInterface.REALTIME  # realtime.models.SessionInterface

    @property
    def limited(self) -> bool:
        """True when the key caps its concurrent sessions or its sessions a
        minute (its row must be written, and so checked, first)."""
        key = self.resolved.key
        return key is not None and (
            key.max_concurrent_sessions is not None
            or key.sessions_per_minute is not None
        )


def _resolve(handshake: Handshake, *, allow_passthrough: bool) -> ResolvedCredential:
    credentials = handshake.credentials
    token = credentials.virtual_key or credentials.api_key
    if not token:
        raise AuthenticationFailed(
            "No API key provided. Send a virtual key as `Authorization: Bearer`, "
            "`x-portkey-virtual-key`, a subprotocol or the virtual_key parameter.",
            code="missing_api_key",
        )
    if ephemeral.looks_like_ephemeral_token(token):
        try:
            return ephemeral.ephemeral_token_authenticate(token=token)
        except key_errors.TokenExpired:
            raise AuthenticationFailed(
                "The short-lived token has expired; mint a new one.",
                code="token_expired",
            ) from None
        except key_errors.KeyNotFound:
            raise AuthenticationFailed("Invalid virtual key.") from None
    raw_key_allowed = (
        allow_passthrough
        and credentials.virtual_key is None
        and not key_selectors.looks_like_virtual_key(token)
    )
    if raw_key_allowed and credentials.provider is not None:
        try:
            return key_services.passthrough_resolve(
                provider_slug=credentials.provider, api_key=token
            )
        except key_errors.KeyNotFound:
            raise AuthenticationFailed(
                "Unknown provider.", code="unknown_provider"
            ) from None
    try:
        return key_services.virtual_key_authenticate(token=token)
    except key_errors.KeyNotFound:
        raise AuthenticationFailed("Invalid virtual key.") from None


# Rejected handshakes of one key for one reason within this window share a row.
REJECTION_WINDOW = datetime.timedelta(minutes=1)


def bound_handshake(resolved: ResolvedCredential, handshake: Handshake) -> Handshake:
    """The handshake as a short-lived token binds it: naming no model, it names
    the token's (so the upstream runs that model, known from the start); a
    model it names is checked against the token's like any (see keys.ephemeral)."""
    binding = resolved.binding
    if binding is None or not binding.model:
        return handshake
    if any(name == "model" for name, _ in handshake.query):
        return handshake  # named (if blank, the provider's report is checked)
    query = (*handshake.query, ("model", binding.model))
    return replace(handshake, model=binding.model, query=query)


def handshake_model(resolved: ResolvedCredential, handshake: Handshake) -> str | None:
    """The model the handshake (or else the provider's URL) names, checked
    against the key (KeyRefused); None when it is named in-band. BadRequest
    when a parameter the adapter checks comes twice, or a name is implausible.
    No database access."""
    handshake = bound_handshake(resolved, handshake)
    check_model_name(handshake.model)
    provider = resolved.provider
    try:
        adapter = adapter_for(provider.kind)
    except LookupError:
        logger.error("provider %s has a kind with no adapter", provider.slug)
        raise GatewayError(
            "The provider is misconfigured; ask an admin.",
            code="provider_misconfigured",
        ) from None
    adapter.check_query(handshake.query)  # BadRequest: a checked parameter twice
    model = adapter.named_model(
        provider.upstream_url, handshake.query, provider.options
    )
    if model is not None:
        check_model_name(model)
    if model is not None and resolved.key is not None:
        key_services.virtual_key_check_model(identity=resolved.key, model=model)
    return model


def session_reject(
    identity: KeyIdentity,
    *,
    model: str,
    client_address: str,
    instance: str,
    error: GatewayError,
    session_id: uuid.UUID | None = None,
) -> None:
    """Log a known key's refused handshake: a hammered key adds to one row per
    reason a minute (its `attempts`), not a row per attempt."""
    now = timezone.now()
    same_reason = RealtimeSession.objects.filter(
        virtual_key_id=identity.key_id,
        status=SessionStatus.REJECTED,
        close_code=error.close_code,
        error=error.message[:500],
        started_at__gte=now - REJECTION_WINDOW,
    )
    recent = same_reason.order_by("-started_at").values_list("pk", flat=True).first()
    if recent is not None:
        RealtimeSession.objects.filter(pk=recent).update(
            attempts=F("attempts") + 1, ended_at=now
        )
        return
    RealtimeSession.objects.create(
        id=session_id or uuid.uuid4(),
        virtual_key_id=identity.key_id,
        virtual_key_name=identity.name,
        provider_id=identity.provider.provider_id,
        provider_slug=identity.provider.slug,
        model=model[:200],
        client_address=client_address,
        gateway_instance=instance,
        status=SessionStatus.REJECTED,
        started_at=now,
        ended_at=now,
        close_code=error.close_code,
        error=error.message[:500],
        end_reason=error.code,
    )


def session_authorize(
    *, handshake: Handshake, client_address: str, instance: str, allow_passthrough: bool
) -> Authorized:
    """Check a handshake's credential (and its model, where the handshake names one).

    Raises a GatewayError when the session may not start; a known key refused
    leaves a `rejected` row, an unknown key leaves none (a flood of bad keys must
    not fill the table). Writes nothing for an accepted handshake.
    """
    check_model_name(handshake.model)
    try:
        resolved = _resolve(handshake, allow_passthrough=allow_passthrough)
        try:
            model = handshake_model(resolved, handshake)
        except BadRequest as exc:  # e.g. a checked parameter sent twice
            if resolved.key is not None:
                session_reject(
                    resolved.key,
                    model="",  # which copy the client meant is unknown
                    client_address=client_address,
                    instance=instance,
                    error=exc,
                )
            raise
    except key_errors.KeyRefused as exc:
        error = exceptions.key_refused(str(exc), code=exc.code)
        if exc.identity is not None:
            session_reject(
                exc.identity,
                model=handshake.model,
                client_address=client_address,
                instance=instance,
                error=error,
            )
        raise error from None
    except key_errors.CredentialUnreadable:
        logger.error("a virtual key's stored credential cannot be decrypted")
        raise exceptions.credential_unreadable() from None
    return Authorized(resolved=resolved, model=model, interface=handshake.interface)


def session_start(
    *,
    session_id: uuid.UUID,
    authorized: Authorized,
    client_address: str,
    instance: str,
) -> None:
    """Write the session's active row, or a rejected one and LimitExceeded when
    the key is at its concurrent-session limit or its sessions a minute."""
    resolved, model = authorized.resolved, authorized.model or ""
    error = _insert_within_limits(
        session_id,
        resolved,
        model,
        client_address,
        instance,
        interface=authorized.interface,
    )
    key = resolved.key
    if error is None:
        if key is not None:
            key_services.virtual_key_mark_used(key_id=key.key_id)
        return
    assert key is not None  # only a key's own limits refuse an insert
    session_reject(
        key,
        model=model,
        client_address=client_address,
        instance=instance,
        error=error,
        session_id=session_id,
    )
    raise error


# The window of the sessions-a-minute limit.
RATE_WINDOW = datetime.timedelta(seconds=60)


def _insert_within_limits(
    session_id: uuid.UUID,
    resolved: ResolvedCredential,
    model: str,
    client_address: str,
    instance: str,
    *,
    interface: str = SessionInterface.REALTIME,
) -> LimitExceeded | None:
    """Insert the active row; the refusal instead when the key is at a limit.

    A limited key's row is locked first, so the sessions it counts and the row
    it inserts are one step for every process sharing the database (PostgreSQL:
    the second opener waits for the first to commit, then counts its row).
    The limits are read from the locked row, so a change applies at once. Any
    other row is one INSERT, committed on its own (no transaction to open).
    """
    row = {
        "id": session_id,
        "virtual_key_id": key.key_id if (key := resolved.key) else None,
        "virtual_key_name": key.name if key else "",
        "provider_id": resolved.provider.provider_id,
        "provider_slug": resolved.provider.slug,
        "model": model,
        "interface": interface,
        "client_address": client_address,
        "gateway_instance": instance,
    }
    if key is None or (
        key.max_concurrent_sessions is None and key.sessions_per_minute is None
    ):
        rows.insert_session(row)
        return None
    with transaction.atomic():
        limits = (
            VirtualKey.objects.select_for_update()
            .filter(pk=key.key_id)
            .values_list("max_concurrent_sessions", "sessions_per_minute")
            .first()
        )
        most_live, most_a_minute = limits or (
            key.max_concurrent_sessions,
            key.sessions_per_minute,
        )
        refusal = _over_limits(key.key_id, most_live, most_a_minute)
        if refusal is None:
            rows.insert_session(row)
        return refusal


def _over_limits(
    key_id: int, most_live: int | None, most_a_minute: int | None
) -> LimitExceeded | None:
    """The refusal when a key's sessions are at one of its limits, or None."""
    sessions = RealtimeSession.objects.filter(virtual_key_id=key_id)
    if most_live is not None:
        live = sessions.filter(status=SessionStatus.ACTIVE).count()
        if live >= most_live:
            return LimitExceeded(
                f"This virtual key allows {most_live} concurrent sessions.",
                code="concurrent_sessions_exceeded",
            )
    if most_a_minute is not None:
        # Sessions that started (rejected handshakes did not), whatever their end.
        recent = (
            sessions.filter(started_at__gte=timezone.now() - RATE_WINDOW)
            .exclude(status=SessionStatus.REJECTED)
            .count()
        )
        if recent >= most_a_minute:
            return LimitExceeded(
                f"This virtual key allows {most_a_minute} new sessions a minute; "
                "try again shortly.",
                code="rate_limited",
            )
    return None


# A row marked interrupted by a sweep is still finished or checkpointed by its
# session if that session was in fact alive (its heartbeat was only late).
_WRITABLE = Q(ended_at__isnull=True) | Q(status=SessionStatus.INTERRUPTED)


def session_checkpoint(
    *,
    session_id: uuid.UUID,
    counters: dict[str, int],
    usage: Usage | None = None,
    model: str = "",
    cost_usd: Decimal | None = None,
) -> None:
    """Write a live session's counters; doubles as its heartbeat. `cost_usd`:
    its cost so far (sessions under a budget, which other sessions count)."""
    RealtimeSession.objects.filter(_WRITABLE, pk=session_id).update(
        **counters,
        **(usage.as_fields() if usage is not None else {}),
        **({"model": model[:200]} if model else {}),
        **({"cost_usd": cost_usd} if cost_usd is not None else {}),
        checkpointed_at=timezone.now(),
        # Alive after all (a sweep saw a late heartbeat): undo the interruption.
        status=SessionStatus.ACTIVE,
        ended_at=None,
        close_code=None,
        error="",
        end_reason="",
    )


def session_finish(
    *,
    session_id: uuid.UUID,
    status: str,
    close_code: int | None,
    error: str,
    counters: dict[str, int],
    usage: Usage | None = None,
    model: str = "",
    provider_kind: str = "",
    close_reason: str = "",
    end_reason: str = "",
    billing: Billing = NO_BILLING,
    interface: str = "",
    started_on: datetime.date | None = None,
) -> bool:
    """Finalise a session once, priced (`pricing.session_cost`); True when this
    call did it.

    A caller that knows the model and the day the row started (a live session
    does) saves reading the row back first: one query fewer per session end."""
    if not model or started_on is None:
        row = (
            RealtimeSession.objects.filter(pk=session_id)
            .only("started_at", "model")
            .first()
        )
        if row is None:
            return False
        model, started_on = model or row.model, row.started_at.date()
    cost = pricing.session_cost(usage, provider_kind, model, billing, started_on)
    # Counters and usage only grow from the row's 0s: a 0 has nothing to write,
    # and each column left out of the UPDATE is less to build and send.
    grown = {
        name: value
        for name, value in (
            *counters.items(),
            *(usage.as_fields().items() if usage is not None else ()),
        )
        if value
    }
    # Where `_WRITABLE` holds, as `rows.update_unfinished` writes it.
    return bool(
        rows.update_unfinished(
            session_id,
            {
                **grown,
                **({"interface": interface} if interface else {}),
                "model": model[:200],
                "cost_usd": cost,
                "status": status,
                "ended_at": timezone.now(),
                "close_code": close_code,
                "close_reason": close_reason[:255],
                "end_reason": end_reason[:64],
                "error": error[:500],
            },
        )
    )
