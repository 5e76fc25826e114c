"""Short-lived tokens: minted from a key, stored as a digest, bound, and ended
by their own expiry or by anything that ends their key."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from keys import ephemeral, exceptions, services, tokens
from keys.models import EphemeralToken, VirtualKey
from keys.values import Secret
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
SESSION = {"type": "realtime", "model": "gpt-realtime", "instructions": "Be brief."}


def _mint(token: str, *, model: str = "gpt-realtime", **options):
    identity = services.virtual_key_authenticate(token=token, model=model).key
    return ephemeral.ephemeral_token_create(identity=identity, model=model, **options)


def test_a_token_is_stored_as_a_prefix_and_a_digest_only():
    issued = issue_key(URL)
    minted = _mint(issued.token, session=SESSION)
    assert tokens.looks_like_ephemeral_token(minted.token)
    assert not tokens.looks_like_token(minted.token)  # never taken for a key
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM keys_ephemeraltoken")
        stored = repr(cursor.fetchall())
    assert minted.token not in stored
    assert UPSTREAM_SECRET not in stored
    row = EphemeralToken.objects.get()
    assert row.token_digest == tokens.digest(minted.token)
    assert minted.token.startswith(row.token_prefix)
    assert minted.token not in repr(minted)
    assert (row.model, row.session) == ("gpt-realtime", SESSION)


def test_the_lifetime_defaults_to_ten_minutes_within_ten_seconds_and_two_hours():
    issued = issue_key(URL)
    minted = _mint(issued.token)
    lifetime = minted.expires_at - minted.created_at
    assert lifetime == datetime.timedelta(seconds=600)
    for seconds in (9, 7201, True):
        with pytest.raises(ValueError):
            _mint(issued.token, seconds=seconds)
    assert _mint(issued.token, seconds=10) and _mint(issued.token, seconds=7200)


def test_a_configuration_is_bounded():
    issued = issue_key(URL)
    large = {"type": "realtime", "instructions": "x" * ephemeral.MAX_SESSION_BYTES}
    with pytest.raises(ValueError):
        _mint(issued.token, session=large)


def test_a_token_resolves_to_its_keys_credential_bound_to_its_model():
    issued = issue_key(URL, models=("gpt-realtime", "gpt-realtime-mini"))
    minted = _mint(issued.token, session=SESSION)
    resolved = ephemeral.ephemeral_token_authenticate(token=minted.token)
    assert resolved.credential == Secret(UPSTREAM_SECRET)
    assert resolved.key.key_id == issued.key_id  # its sessions are the key's
    assert resolved.key.allowed_models == ("gpt-realtime",)  # the model alone
    assert resolved.key.expires_at == minted.expires_at
    assert resolved.binding.model == "gpt-realtime"
    assert resolved.binding.session == SESSION
    assert minted.token not in repr(resolved)


def test_a_token_without_a_model_keeps_the_keys_list():
    issued = issue_key(URL, models=("gpt-realtime", "gpt-realtime-mini"))
    identity = services.virtual_key_authenticate(token=issued.token).key
    minted = ephemeral.ephemeral_token_create(identity=identity)
    resolved = ephemeral.ephemeral_token_authenticate(token=minted.token)
    assert resolved.key.allowed_models == ("gpt-realtime", "gpt-realtime-mini")
    assert resolved.binding.model == ""


@pytest.mark.parametrize("token", ["", "ek_" + "A" * 43, "ek_short", "vk_" + "A" * 43])
def test_unknown_tokens_are_not_found(token):
    issued = issue_key(URL)
    _mint(issued.token)
    with pytest.raises(exceptions.KeyNotFound) as raised:
        ephemeral.ephemeral_token_authenticate(token=token)
    assert not isinstance(raised.value, exceptions.TokenExpired)


def test_a_virtual_key_is_not_a_token_nor_a_token_a_virtual_key():
    issued = issue_key(URL)
    minted = _mint(issued.token)
    with pytest.raises(exceptions.KeyNotFound):
        services.virtual_key_authenticate(token=minted.token)
    with pytest.raises(exceptions.KeyNotFound):
        ephemeral.ephemeral_token_authenticate(token=issued.token)


def test_an_expired_token_is_refused_as_expired():
    issued = issue_key(URL)
    minted = _mint(issued.token, seconds=10)
    EphemeralToken.objects.update(expires_at=timezone.now())
    with pytest.raises(exceptions.TokenExpired):
        ephemeral.ephemeral_token_authenticate(token=minted.token)


def test_revoking_or_deleting_the_key_ends_its_tokens():
    issued = issue_key(URL)
    minted = _mint(issued.token)
    key = VirtualKey.objects.get(pk=issued.key_id)
    services.virtual_key_revoke(key=key)
    with pytest.raises(exceptions.KeyRevoked) as raised:
        ephemeral.ephemeral_token_authenticate(token=minted.token)
    assert raised.value.identity.key_id == issued.key_id  # logged against the key
    key.delete()
    assert not EphemeralToken.objects.exists()
    with pytest.raises(exceptions.KeyNotFound):
        ephemeral.ephemeral_token_authenticate(token=minted.token)


def test_an_expired_key_ends_its_tokens_and_bounds_their_life():
    soon = timezone.now() + datetime.timedelta(seconds=60)
    issued = issue_key(URL, expires_at=soon)
    minted = _mint(issued.token)  # 600 s, but the key ends first
    resolved = ephemeral.ephemeral_token_authenticate(token=minted.token)
    assert resolved.key.expires_at == soon
    VirtualKey.objects.update(expires_at=timezone.now())
    with pytest.raises(exceptions.KeyExpired):
        ephemeral.ephemeral_token_authenticate(token=minted.token)


def test_a_model_the_key_no_longer_allows_is_refused():
    issued = issue_key(URL, models=("gpt-realtime",))
    minted = _mint(issued.token)
    VirtualKey.objects.update(allowed_models=["gpt-realtime-mini"])
    with pytest.raises(exceptions.ModelNotAllowed):
        ephemeral.ephemeral_token_authenticate(token=minted.token)


def test_minting_purges_tokens_expired_a_day_ago():
    issued = issue_key(URL)
    old = _mint(issued.token)
    EphemeralToken.objects.update(
        created_at=timezone.now() - datetime.timedelta(days=2),
        expires_at=timezone.now() - datetime.timedelta(days=1, seconds=1),
    )
    _mint(issued.token)
    assert EphemeralToken.objects.count() == 1
    with pytest.raises(exceptions.KeyNotFound):
        ephemeral.ephemeral_token_authenticate(token=old.token)


def test_the_admin_lists_tokens_read_only_and_never_their_secret(admin_client):
    issued = issue_key(URL)
    minted = _mint(issued.token, session=SESSION)
    row = EphemeralToken.objects.get()
    listing = admin_client.get(reverse("admin:keys_ephemeraltoken_changelist"))
    page = admin_client.get(reverse("admin:keys_ephemeraltoken_change", args=[row.pk]))
    for response in (listing, page):
        assert response.status_code == 200
        html = response.content.decode()
        assert row.token_prefix in html
        assert minted.token not in html and row.token_digest not in html
        assert UPSTREAM_SECRET not in html
    assert "Be brief." in page.content.decode()
    add = admin_client.get(reverse("admin:keys_ephemeraltoken_add"))
    assert add.status_code == 403
