from __future__ import annotations

import asyncio
import datetime

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connection
from django.utils import timezone

from keys import exceptions, selectors, services
from keys.models import VirtualKey
from keys.values import Secret
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"


def _all_database_text() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keys_virtualkey")
        rows = cursor.fetchall()
    return repr(rows)


def test_key_is_stored_as_digest_and_ciphertext_only():
    issued = issue_key(URL)
    stored = _all_database_text()
    assert UPSTREAM_SECRET not in stored
    assert issued.token not in stored
    key = VirtualKey.objects.get(pk=issued.key_id)
    assert key.key_digest.startswith("sha256$")
    assert key.encrypted_credential.startswith("fernet$")
    assert issued.token.startswith(key.key_prefix)


def test_authenticate_returns_the_decrypted_credential():
    issued = issue_key(URL)
    resolved = services.virtual_key_authenticate(
        token=issued.token, model="gpt-realtime"
    )
    assert resolved.credential == Secret(UPSTREAM_SECRET)
    assert UPSTREAM_SECRET not in repr(resolved)
    assert resolved.provider.upstream_url == URL
    assert resolved.key.name == "test-key"


@pytest.mark.parametrize("token", ["", "vk_" + "A" * 43, "garbage", "sk-real-looking"])
def test_unknown_tokens_are_not_found(token):
    issue_key(URL)
    with pytest.raises(exceptions.KeyNotFound):
        services.virtual_key_authenticate(token=token, model="m")


def test_revoked_expired_and_model_refusals_carry_the_identity():
    revoked = issue_key(URL, name="revoked")
    services.virtual_key_revoke(key=VirtualKey.objects.get(pk=revoked.key_id))
    expired = issue_key(
        URL, name="expired", expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    limited = issue_key(URL, name="limited", models=("gpt-realtime", "gpt-4o-*"))

    cases = [
        (revoked.token, "m", exceptions.KeyRevoked, "revoked"),
        (expired.token, "m", exceptions.KeyExpired, "expired"),
        (limited.token, "other", exceptions.ModelNotAllowed, "limited"),
        (limited.token, "", exceptions.ModelNotAllowed, "limited"),
    ]
    for token, model, error, name in cases:
        with pytest.raises(error) as caught:
            services.virtual_key_authenticate(token=token, model=model)
        assert caught.value.identity.name == name
        assert token not in str(caught.value)


@pytest.mark.parametrize(
    ("allowed", "model", "ok"),
    [
        ([], "anything", True),
        ([], "", True),
        (["gpt-realtime"], "gpt-realtime", True),
        (["gpt-realtime"], "gpt-realtime-mini", False),
        (["gpt-realtime*"], "gpt-realtime-mini", True),
        (["gpt-realtime*"], "gpt-4o", False),
        (["gpt-realtime"], "", False),
    ],
)
def test_model_allow_list(allowed, model, ok):
    assert services.model_allowed(allowed, model) is ok


def test_refusal_selector_sees_revocation_expiry_and_deletion():
    issued = issue_key(URL)
    assert selectors.virtual_key_refusal(key_id=issued.key_id) is None
    key = VirtualKey.objects.get(pk=issued.key_id)
    key.expires_at = timezone.now()
    key.save()
    assert isinstance(
        selectors.virtual_key_refusal(key_id=issued.key_id), exceptions.KeyExpired
    )
    key.delete()
    assert isinstance(
        selectors.virtual_key_refusal(key_id=issued.key_id), exceptions.KeyRevoked
    )


@pytest.mark.django_db(transaction=True)
@pytest.mark.timeout(10)
async def test_revoke_announces_on_the_channel_layer():
    issued = await sync_to_async(issue_key)(URL)
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(selectors.revocation_group(issued.key_id), channel)

    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(services.virtual_key_revoke)(key=key)

    async with asyncio.timeout(5):
        message = await layer.receive(channel)
    assert message == {"type": selectors.REVOCATION_EVENT, "key_id": issued.key_id}
    assert (await VirtualKey.objects.aget(pk=issued.key_id)).status == "revoked"


def test_reencrypt_rewrites_every_credential_and_keeps_it_readable():
    first = issue_key(URL, name="a")
    second = issue_key(URL, name="b", secret="sk-other")
    before = dict(VirtualKey.objects.values_list("name", "encrypted_credential"))

    assert services.credentials_reencrypt() == 2

    after = dict(VirtualKey.objects.values_list("name", "encrypted_credential"))
    assert all(after[name] != before[name] for name in before)
    for issued, secret in [(first, UPSTREAM_SECRET), (second, "sk-other")]:
        resolved = services.virtual_key_authenticate(token=issued.token, model="m")
        assert resolved.credential.reveal() == secret


def test_empty_credential_is_refused():
    from keys.models import Provider

    provider = Provider.objects.create(slug="p", kind="openai")
    with pytest.raises(exceptions.CredentialUnreadable):
        services.virtual_key_create(name="k", provider=provider, credential="   ")


def test_last_used_is_written_at_most_once_a_minute_per_process(monkeypatch):
    issued = issue_key(URL)
    services._last_marked.pop(issued.key_id, None)  # ids recur across flushes
    services.virtual_key_mark_used(key_id=issued.key_id)
    first = VirtualKey.objects.get(pk=issued.key_id).last_used_at
    assert first is not None
    services.virtual_key_mark_used(key_id=issued.key_id)  # within the minute
    assert VirtualKey.objects.get(pk=issued.key_id).last_used_at == first
    later = services.time.monotonic() + services.LAST_USED_RESOLUTION + 1
    monkeypatch.setattr(services.time, "monotonic", lambda: later)
    services.virtual_key_mark_used(key_id=issued.key_id)
    assert VirtualKey.objects.get(pk=issued.key_id).last_used_at > first
