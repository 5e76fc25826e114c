"""Short-lived tokens a virtual key mints for browsers (OpenAI's client secrets).

A server that holds a virtual key mints a token (``ek_`` + 43 url-safe
characters, see keys.tokens) and hands only that to a browser, which connects
with it in any place a key may go. The token

- expires: 10 s to 2 h after it was minted, 10 minutes unless told otherwise,
  the bounds and default of OpenAI's `expires_after.seconds` (openai-python
  `types/realtime/client_secret_create_params.py`: "Select a value between `10`
  and `7200` (2 hours). This default to 600 seconds"); like OpenAI's, it may
  open any number of sessions until then, and a session it opened may go on
  past it ("The session itself may continue after that time once started");
- stands for its key: every use goes through the key's own checks
  (`virtual_key_resolve`), so revoking, expiring or deleting the key ends its
  tokens, and live sessions opened with a token are the key's sessions;
- binds its sessions to the model it was minted for (the session's allow-list
  is that model alone) and to a session configuration, which the gateway
  applies upstream before the client's first frame.

Only a prefix and a SHA-256 digest are stored, as for virtual keys.
"""

from __future__ import annotations

import datetime
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from django.contrib.admin.models import CHANGE, LogEntry
from django.utils import timezone

from keys import exceptions, tokens
from keys.models import EphemeralToken, VirtualKey
from keys.services import virtual_key_resolve
from keys.values import KeyIdentity, ResolvedCredential, SessionBinding

logger = logging.getLogger(__name__)

DEFAULT_SECONDS = 600
MIN_SECONDS = 10
MAX_SECONDS = 7200
# The largest session configuration a token may carry, as compact JSON.
MAX_SESSION_BYTES = 64 * 1024
# Rows of tokens expired this long ago are deleted as new tokens are minted;
# until then an expired token is refused as expired, afterwards as unknown.
PURGE_AFTER = datetime.timedelta(days=1)


@dataclass(frozen=True, slots=True)
class MintedToken:
    """A freshly minted token: shown once to the server that asked for it."""

    token: str
    prefix: str
    created_at: datetime.datetime
    expires_at: datetime.datetime
    model: str
    session: dict[str, Any]

    def __repr__(self) -> str:
        return f"MintedToken(prefix={self.prefix!r}, token='***')"


def session_size(session: dict[str, Any]) -> int:
    """The size of a session configuration as compact JSON, in bytes."""
    return len(json.dumps(session, separators=(",", ":")).encode("utf-8"))


def ephemeral_token_create(
    *,
    identity: KeyIdentity,
    model: str = "",
    session: dict[str, Any] | None = None,
    seconds: int = DEFAULT_SECONDS,
) -> MintedToken:
    """Mint a token for a key that was just authenticated (`identity`).

    ValueError for a lifetime outside MIN_SECONDS..MAX_SECONDS or a
    configuration over MAX_SESSION_BYTES; the caller checks the model against
    the key (`virtual_key_authenticate(model=...)`) and the configuration's
    shape (the provider's).
    """
    session = dict(session or {})
    if isinstance(seconds, bool) or not MIN_SECONDS <= seconds <= MAX_SECONDS:
        raise ValueError(f"seconds must be {MIN_SECONDS}..{MAX_SECONDS}")
    if session_size(session) > MAX_SESSION_BYTES:
        raise ValueError(f"the session is over {MAX_SESSION_BYTES} bytes")
    new = tokens.new_token(tokens.EPHEMERAL_PREFIX)
    now = timezone.now()
    row = EphemeralToken.objects.create(
        virtual_key_id=identity.key_id,
        token_prefix=new.prefix,
        token_digest=new.digest,
        model=model,
        session=session,
        created_at=now,
        expires_at=now + datetime.timedelta(seconds=seconds),
    )
    EphemeralToken.objects.filter(expires_at__lt=now - PURGE_AFTER).delete()
    logger.info(
        "minted ephemeral token %s for key %s (%d s)",
        new.prefix,
        identity.name,
        seconds,
    )
    return MintedToken(
        token=new.token,
        prefix=new.prefix,
        created_at=row.created_at,
        expires_at=row.expires_at,
        model=model,
        session=session,
    )


def ephemeral_token_create_for_key(
    *,
    key: VirtualKey,
    actor_id: int,
    model: str = "",
    session: dict[str, Any] | None = None,
    seconds: int = DEFAULT_SECONDS,
) -> MintedToken:
    """Mint a token for the key row `key` on a staff member's authority.

    For the admin's playground: virtual keys are stored as digests, so the
    server cannot present the key itself; the staff member (`actor_id`, a
    user's id, whom the caller has authorized) stands in for it. The key's own
    checks apply as for a presented key (`virtual_key_resolve`): KeyRevoked,
    KeyExpired, KeyNotYetValid, CredentialStale, and ModelNotAllowed for a
    model off its list; ValueError as in `ephemeral_token_create`. Each token
    minted is recorded in the key's admin history (a LogEntry by the actor) and
    in the log, by prefix only.
    """
    resolved = virtual_key_resolve(key=key, model=model or None)
    assert resolved.key is not None  # a virtual key's, never passthrough
    minted = ephemeral_token_create(
        identity=resolved.key, model=model, session=session, seconds=seconds
    )
    message = f"Minted short-lived token {minted.prefix}… ({seconds} s"
    message += f", model {model})" if model else ")"
    LogEntry.objects.log_actions(
        user_id=actor_id,
        queryset=[key],
        action_flag=CHANGE,
        change_message=message,
        single_object=True,
    )
    logger.info("user %s minted token %s for key %s", actor_id, minted.prefix, key.name)
    return minted


def ephemeral_token_authenticate(*, token: str) -> ResolvedCredential:
    """Check a presented token; its key's credential, bound, if it may be used.

    KeyNotFound for an unknown token, TokenExpired for an expired one, and the
    key's own refusals (KeyRevoked, KeyExpired, CredentialStale; ModelNotAllowed
    when the key no longer allows the token's model) otherwise. The identity
    returned allows the token's model alone (when it names one), and expires
    when the token does, so a cached authorization ends with the token.
    """
    if not tokens.looks_like_ephemeral_token(token):
        raise exceptions.KeyNotFound("not a short-lived token")
    row = (
        EphemeralToken.objects.select_related("virtual_key__provider")
        .filter(token_digest=tokens.digest(token))
        .first()
    )
    if row is None:
        raise exceptions.KeyNotFound("unknown short-lived token")
    if row.is_expired():
        raise exceptions.TokenExpired("the short-lived token has expired")
    resolved = virtual_key_resolve(key=row.virtual_key, model=row.model or None)
    assert resolved.key is not None  # a virtual key's, never passthrough
    key = resolved.key
    expires_at = row.expires_at
    if key.expires_at is not None:
        expires_at = min(expires_at, key.expires_at)
    bound = replace(
        key,
        allowed_models=(row.model,) if row.model else key.allowed_models,
        expires_at=expires_at,
    )
    binding = SessionBinding(
        model=row.model, session=dict(row.session or {}), token_prefix=row.token_prefix
    )
    return replace(resolved, key=bound, binding=binding)


def looks_like_ephemeral_token(value: str) -> bool:
    """True when `value` has the shape of a short-lived token (no lookup)."""
    return tokens.looks_like_ephemeral_token(value)
