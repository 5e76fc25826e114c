"""Writes and checks on providers and virtual keys."""

from __future__ import annotations

import datetime
import fnmatch
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction
from django.utils import timezone

from keys import crypto, exceptions, tokens
from keys.models import BUDGET_FIELDS, Provider, Team, VirtualKey
from keys.selectors import (
    NOT_YET_VALID,
    REVOCATION_EVENT,
    key_identity,
    provider_get,
    provider_target,
    revocation_group,
)
from keys.values import KeyIdentity, ResolvedCredential, Secret

logger = logging.getLogger(__name__)


def provider_create(
    *,
    slug: str,
    kind: str,
    upstream_url: str = "",
    options: dict | None = None,
    allow_passthrough: bool = False,
) -> Provider:
    """Create a provider; ValidationError on bad input (an upstream host off
    GATEWAY_UPSTREAM_HOSTS among it)."""
    provider = Provider(
        slug=slug,
        kind=kind,
        upstream_url=upstream_url,
        options=options or {},
        allow_passthrough=allow_passthrough,
    )
    provider.full_clean()
    provider.save()
    return provider


def clean_models(models: Iterable[str]) -> list[str]:
    """Model names without blanks or duplicates, sorted."""
    return sorted({model.strip() for model in models if model.strip()})


# A key's limits and budgets: what `virtual_key_create` takes as `limits` and
# `virtual_key_update` may change, besides the team and the allowed models.
LIMIT_FIELDS: tuple[str, ...] = (
    "max_concurrent_sessions",
    "sessions_per_minute",
    "max_session_seconds",
    "idle_timeout_seconds",
    "not_before",
    "expires_at",
    *BUDGET_FIELDS,
)
# What `virtual_key_update` may change.
UPDATABLE_FIELDS: tuple[str, ...] = ("team", "allowed_models", *LIMIT_FIELDS)


def virtual_key_create(
    *,
    name: str,
    provider: Provider,
    credential: str,
    allowed_models: Iterable[str] = (),
    expires_at: datetime.datetime | None = None,
    max_concurrent_sessions: int | None = None,
    team: Team | None = None,
    limits: Mapping[str, Any] | None = None,
) -> tuple[VirtualKey, str]:
    """Issue a virtual key; returns the row and the token, which is shown once.

    `limits`: values of LIMIT_FIELDS (ValueError for another name).
    """
    key = VirtualKey(
        name=name,
        provider=provider,
        team=team,
        allowed_models=clean_models(allowed_models),
        expires_at=expires_at,
        max_concurrent_sessions=max_concurrent_sessions,
    )
    _assign(key, limits or {}, allowed=LIMIT_FIELDS)
    return key, virtual_key_issue(key=key, credential=credential)


def _assign(
    obj: VirtualKey | Team, values: Mapping[str, Any], *, allowed: tuple[str, ...]
) -> None:
    unknown = set(values) - set(allowed)
    if unknown:
        raise ValueError(f"not settable here: {', '.join(sorted(unknown))}")
    for name, value in values.items():
        setattr(obj, name, value)


def virtual_key_update(*, key: VirtualKey, changes: Mapping[str, Any]) -> VirtualKey:
    """Change a key's team, models, limits or budgets (UPDATABLE_FIELDS);
    ValidationError on bad values. New limits apply to sessions that start
    from now on (a process may serve a key it authorized for up to
    GATEWAY_KEY_CACHE_SECONDS more); expiry and `not_before` also end live
    sessions at their next key check."""
    changes = dict(changes)
    if "allowed_models" in changes:
        changes["allowed_models"] = clean_models(changes["allowed_models"])
    _assign(key, changes, allowed=UPDATABLE_FIELDS)
    key.full_clean()
    key.save(update_fields=[*changes] if changes else None)
    logger.info("updated virtual key %s: %s", key.name, ", ".join(sorted(changes)))
    return key


def team_create(*, name: str, budgets: Mapping[str, Any] | None = None) -> Team:
    """Create a team with its own budgets (BUDGET_FIELDS); ValidationError on
    bad input."""
    team = Team(name=name)
    _assign(team, budgets or {}, allowed=BUDGET_FIELDS)
    team.full_clean()
    team.save()
    return team


def team_update(*, team: Team, budgets: Mapping[str, Any]) -> Team:
    """Change a team's budgets; ValidationError on bad values."""
    _assign(team, budgets, allowed=BUDGET_FIELDS)
    team.full_clean()
    team.save(update_fields=[*budgets] if budgets else None)
    return team


def virtual_key_issue(*, key: VirtualKey, credential: str) -> str:
    """Give an unsaved key its token and encrypted credential, save it, return
    the token (the only time it exists outside the client)."""
    credential = credential.strip()
    if not credential:
        raise exceptions.CredentialUnreadable("the provider credential is empty")
    new = tokens.new_token()
    key.encrypted_credential = crypto.encrypt(credential)
    key.credential_destination = key.provider.destination
    key.key_prefix = new.prefix
    key.key_digest = new.digest
    key.full_clean()
    key.save()
    logger.info("issued virtual key %s (%s)", key.name, new.prefix)
    return new.token


def virtual_key_set_credential(*, key: VirtualKey, credential: str) -> None:
    """Replace the provider credential a key stands for."""
    credential = credential.strip()
    if not credential:
        raise exceptions.CredentialUnreadable("the provider credential is empty")
    key.encrypted_credential = crypto.encrypt(credential)
    # Entered now, for wherever the provider connects now.
    key.credential_destination = key.provider.destination
    key.save(update_fields=["encrypted_credential", "credential_destination"])


def virtual_key_revoke(*, key: VirtualKey) -> VirtualKey:
    """Revoke a key and tell every gateway process to close its live sessions."""
    if key.revoked_at is None:
        key.revoked_at = timezone.now()
        key.save(update_fields=["revoked_at"])
        logger.info("revoked virtual key %s (%s)", key.name, key.key_prefix)
    key_id = key.pk
    transaction.on_commit(lambda: _announce_revocation(key_id))
    return key


def _announce_revocation(key_id: int) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            revocation_group(key_id), {"type": REVOCATION_EVENT, "key_id": key_id}
        )
    except Exception:  # the layer is optional: sessions re-check their key anyway
        logger.warning(
            "could not announce the revocation of key id %s over the channel "
            "layer; live sessions will notice at their next key check",
            key_id,
            exc_info=True,
        )


def model_allowed(allowed_models: list[str], model: str) -> bool:
    """True when `model` matches the allow-list (exact, or a trailing-* pattern)."""
    if not allowed_models:
        return True
    if not model:
        return False  # an unnamed model could be anything upstream defaults to
    return any(
        fnmatch.fnmatchcase(model, pattern)
        if pattern.endswith("*")
        else model == pattern
        for pattern in allowed_models
    )


def virtual_key_authenticate(
    *, token: str, model: str | None = None
) -> ResolvedCredential:
    """Check a presented virtual key; the credential if it may be used.

    `model` is checked against the key's allow-list unless it is None (the
    provider names the model later, in-band: see `virtual_key_check_model`).
    Raises KeyNotFound for an unknown key and a KeyRefused subclass, carrying the
    key's identity, for a known key that may not be used now.
    """
    if not tokens.looks_like_token(token):
        raise exceptions.KeyNotFound("not a virtual key")
    try:
        key = VirtualKey.objects.select_related("provider", "team").get(
            key_digest=tokens.digest(token)
        )
    except VirtualKey.DoesNotExist:
        raise exceptions.KeyNotFound("unknown virtual key") from None
    return virtual_key_resolve(key=key, model=model)


def virtual_key_resolve(
    *, key: VirtualKey, model: str | None = None
) -> ResolvedCredential:
    """The credential of a key row (its provider selected) if it may be used
    now; a KeyRefused subclass, carrying the key's identity, if not. `model` as
    in `virtual_key_authenticate`."""
    identity = key_identity(key)
    if key.revoked_at is not None:
        raise exceptions.KeyRevoked("the virtual key was revoked", identity=identity)
    if key.is_expired():
        raise exceptions.KeyExpired("the virtual key has expired", identity=identity)
    if key.is_not_yet_valid():
        raise exceptions.KeyNotYetValid(NOT_YET_VALID, identity=identity)
    if key.credential_is_stale():
        raise exceptions.CredentialStale(
            "the provider's endpoint changed since this key's credential was "
            "entered; an admin must enter it again",
            identity=identity,
        )
    if model is not None:
        virtual_key_check_model(identity=identity, model=model)
    credential = Secret(crypto.decrypt(key.encrypted_credential))
    return ResolvedCredential(
        provider=identity.provider, credential=credential, key=identity
    )


def virtual_key_check_model(*, identity: KeyIdentity, model: str) -> None:
    """Raise ModelNotAllowed when `model` is outside the key's allow-list."""
    if not model_allowed(list(identity.allowed_models), model):
        raise exceptions.ModelNotAllowed(
            f"model {model!r} is not allowed for this virtual key"
            if model
            else "this virtual key requires a model (the model query parameter)",
            identity=identity,
        )


def passthrough_resolve(*, provider_slug: str, api_key: str) -> ResolvedCredential:
    """A raw provider key for a named provider that accepts raw keys; KeyNotFound
    for an unknown provider or one that does not."""
    provider = provider_get(slug=provider_slug)
    if not provider.allow_passthrough:
        raise exceptions.KeyNotFound(f"provider {provider_slug!r} takes no raw keys")
    return ResolvedCredential(
        provider=provider_target(provider), credential=Secret(api_key), key=None
    )


# A key's `last_used_at` is written by each process at most once this often
# (seconds): the admin shows it to the minute, and a write per session would
# cost a busy key a query on every setup. key id -> monotonic time of the write.
LAST_USED_RESOLUTION = 60.0
_last_marked: dict[int, float] = {}
_MAX_MARKED = 10_000


def virtual_key_mark_used(*, key_id: int) -> None:
    """Record that a key has just opened a session (to the minute)."""
    now = time.monotonic()
    marked = _last_marked.get(key_id)
    if marked is not None and now - marked < LAST_USED_RESOLUTION:
        return
    VirtualKey.objects.filter(pk=key_id).update(last_used_at=timezone.now())
    if len(_last_marked) >= _MAX_MARKED:
        _last_marked.clear()  # bounded: a flood of distinct keys writes again
    _last_marked[key_id] = now


@transaction.atomic
def credentials_reencrypt() -> int:
    """Re-encrypt every stored credential under the first encryption key."""
    count = 0
    for key in VirtualKey.objects.select_for_update().only("encrypted_credential"):
        key.encrypted_credential = crypto.reencrypt(key.encrypted_credential)
        key.save(update_fields=["encrypted_credential"])
        count += 1
    return count
