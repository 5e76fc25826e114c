"""Issue providers and virtual keys for tests."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from asgiref.sync import sync_to_async

from keys import ephemeral, services
from keys.models import Provider, VirtualKey

# The provider credential the fake upstream demands. Tests check that it never
# reaches the database, the logs or a client.
UPSTREAM_SECRET = "sk-test-upstream-credential-5f2c9a"


@dataclass(frozen=True)
class IssuedKey:
    name: str
    token: str
    key_id: int
    provider_slug: str


def issue_key(
    upstream_url: str,
    *,
    name: str = "test-key",
    slug: str = "fake",
    secret: str = UPSTREAM_SECRET,
    models: tuple[str, ...] = (),
    expires_at: datetime.datetime | None = None,
    max_sessions: int | None = None,
    kind: str = "openai",
    options: dict | None = None,
    limits: dict | None = None,
) -> IssuedKey:
    """A provider `slug` of `kind` at `upstream_url` and a key `name` for it
    (`limits`: values of keys.services.LIMIT_FIELDS)."""
    provider, _ = Provider.objects.update_or_create(
        slug=slug,
        defaults={
            "kind": kind,
            "upstream_url": upstream_url,
            "options": options or {},
        },
    )
    provider.full_clean()
    key, token = services.virtual_key_create(
        name=name,
        provider=provider,
        credential=secret,
        allowed_models=models,
        expires_at=expires_at,
        max_concurrent_sessions=max_sessions,
        limits=limits,
    )
    return IssuedKey(name=name, token=token, key_id=key.pk, provider_slug=slug)


BOUND_SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "Answer in haiku.",
}


def mint_token(
    virtual_key: str, *, session: dict | None = None, seconds: int = 600
) -> str:
    """A short-lived token of `virtual_key`, bound to `session` (BOUND_SESSION
    unless told otherwise), as `POST /v1/realtime/client_secrets` mints it."""
    session = BOUND_SESSION if session is None else session
    model = session.get("model", "")
    resolved = services.virtual_key_authenticate(token=virtual_key, model=model or None)
    assert resolved.key is not None
    minted = ephemeral.ephemeral_token_create(
        identity=resolved.key, model=model, session=session, seconds=seconds
    )
    return minted.token


# Ways a known key is refused at the handshake, with the error code each gives.
REFUSED_KEY_CASES = [
    ("revoked", "key_revoked"),
    ("expired", "key_expired"),
    ("model", "model_not_allowed"),
]


async def refused_key(issue, upstream_url: str, case: str) -> IssuedKey:
    """A key the gateway knows but refuses, as `case` of REFUSED_KEY_CASES says
    (`issue` is the test fixture; the handshake names gpt-realtime)."""
    options: dict = {}
    if case == "expired":
        options["expires_at"] = datetime.datetime.now(
            datetime.UTC
        ) - datetime.timedelta(minutes=1)
    if case == "model":
        options["models"] = ("gpt-realtime-mini",)
    issued = await issue(upstream_url, **options)
    if case == "revoked":
        key = await VirtualKey.objects.aget(pk=issued.key_id)
        await sync_to_async(services.virtual_key_revoke)(key=key)
    return issued
