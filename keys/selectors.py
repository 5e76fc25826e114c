"""Reads of providers and virtual keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone

from keys import exceptions, tokens
from keys.models import Budgets, Provider, Team, VirtualKey
from keys.values import NO_BUDGETS, BudgetLimits, KeyIdentity, ProviderTarget

REVOCATION_EVENT = "virtual_key.revoked"


def revocation_group(key_id: int) -> str:
    """The channel-layer group a key's live sessions listen on for revocation."""
    return f"virtual-key.{key_id}"


def provider_target(provider: Provider) -> ProviderTarget:
    """A provider row as a value."""
    return ProviderTarget(
        provider_id=provider.pk,
        slug=provider.slug,
        kind=provider.kind,
        upstream_url=provider.upstream_url,
        options=dict(provider.options or {}),
    )


def key_identity(key: VirtualKey) -> KeyIdentity:
    """A virtual key row as a value, without its credential."""
    return KeyIdentity(
        key_id=key.pk,
        name=key.name,
        provider=provider_target(key.provider),
        max_concurrent_sessions=key.max_concurrent_sessions,
        allowed_models=tuple(key.allowed_models or ()),
        expires_at=key.expires_at,
        not_before=key.not_before,
        sessions_per_minute=key.sessions_per_minute,
        max_session_seconds=key.max_session_seconds,
        idle_timeout_seconds=key.idle_timeout_seconds,
        team_id=key.team_id,
        team_name=key.team.name if key.team is not None else "",
        budgets=budget_limits(key),
        team_budgets=budget_limits(key.team) if key.team is not None else NO_BUDGETS,
    )


def budget_limits(owner: Budgets) -> BudgetLimits:
    """A key's or a team's budgets as a value."""
    return BudgetLimits(
        usd_day=owner.budget_usd_day,
        usd_month=owner.budget_usd_month,
        tokens_day=owner.budget_tokens_day,
        tokens_month=owner.budget_tokens_month,
    )


def provider_get(*, slug: str) -> Provider:
    """The provider with this slug, or exceptions.KeyNotFound."""
    try:
        return Provider.objects.get(slug=slug)
    except Provider.DoesNotExist:
        raise exceptions.KeyNotFound(f"no provider {slug!r}") from None


def virtual_key_get(*, name: str) -> VirtualKey:
    """The virtual key with this name, or exceptions.KeyNotFound."""
    try:
        return VirtualKey.objects.select_related("provider", "team").get(name=name)
    except VirtualKey.DoesNotExist:
        raise exceptions.KeyNotFound(f"no virtual key named {name!r}") from None


def virtual_key_by_id(*, key_id: int) -> VirtualKey:
    """The virtual key with this id, or exceptions.KeyNotFound."""
    keys = VirtualKey.objects.select_related("provider", "team")
    row = keys.filter(pk=key_id).first()
    if row is None:
        raise exceptions.KeyNotFound("no such virtual key")
    return row


# The key's columns that say whether it may still be used; a caller reading
# another row may join them in (`virtual_key__<field>`) and ask `key_refusal`.
KEY_REFUSAL_FIELDS = ("revoked_at", "expires_at", "not_before")


def virtual_key_refusal(*, key_id: int) -> exceptions.KeyRefused | None:
    """Why a key may no longer be used (revoked, expired, not yet valid,
    deleted), or None."""
    row = VirtualKey.objects.filter(pk=key_id).values_list(*KEY_REFUSAL_FIELDS).first()
    return key_refusal(row)


def key_refusal(row: Sequence[Any] | None) -> exceptions.KeyRefused | None:
    """Why a key may no longer be used, from its KEY_REFUSAL_FIELDS in order
    (None: the key is gone), or None. No database access."""
    if row is None:
        return exceptions.KeyRevoked("the virtual key was deleted")
    revoked_at, expires_at, not_before = row
    now = timezone.now()
    if revoked_at is not None:
        return exceptions.KeyRevoked("the virtual key was revoked")
    if expires_at is not None and expires_at <= now:
        return exceptions.KeyExpired("the virtual key has expired")
    if not_before is not None and not_before > now:
        return exceptions.KeyNotYetValid(NOT_YET_VALID)
    return None


NOT_YET_VALID = "the virtual key is not valid yet"


def team_get(*, name: str) -> Team:
    """The team with this name, or exceptions.KeyNotFound."""
    try:
        return Team.objects.get(name=name)
    except Team.DoesNotExist:
        raise exceptions.KeyNotFound(f"no team named {name!r}") from None


def looks_like_virtual_key(value: str) -> bool:
    """True when `value` has the shape of a virtual key (no lookup)."""
    return tokens.looks_like_token(value)


def virtual_keys_usable() -> QuerySet[VirtualKey]:
    """Keys that are neither revoked nor expired, by name, with their provider."""
    now = timezone.now()
    return (
        VirtualKey.objects.select_related("provider")
        .filter(revoked_at__isnull=True)
        .exclude(expires_at__lte=now)
        .order_by("name")
    )


def providers_list() -> QuerySet[Provider]:
    """Every provider, by slug."""
    return Provider.objects.order_by("slug")
