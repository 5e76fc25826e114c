"""Minting a short-lived token from a key row, on a staff member's authority."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import User
from django.utils import timezone

from keys import ephemeral, exceptions, selectors, services
from keys.models import EphemeralToken, VirtualKey
from tests.support.keys import issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"


@pytest.fixture
def actor() -> User:
    return User.objects.create_superuser("ops", "", "a-long-pass-phrase")


def test_a_token_is_minted_from_the_row_and_recorded(actor):
    issued = issue_key(URL, models=("gpt-realtime",))
    key = selectors.virtual_key_by_id(key_id=issued.key_id)
    minted = ephemeral.ephemeral_token_create_for_key(
        key=key, actor_id=actor.pk, model="gpt-realtime", seconds=60
    )
    resolved = ephemeral.ephemeral_token_authenticate(token=minted.token)
    assert resolved.key is not None and resolved.key.key_id == issued.key_id
    entry = LogEntry.objects.get()
    assert (entry.user, entry.action_flag, entry.object_id) == (
        actor,
        CHANGE,
        str(issued.key_id),
    )
    assert entry.change_message == (
        f"Minted short-lived token {minted.prefix}… (60 s, model gpt-realtime)"
    )


@pytest.mark.parametrize(
    ("change", "refusal"),
    [
        ({"revoked_at": timezone.now()}, exceptions.KeyRevoked),
        ({"expires_at": timezone.now()}, exceptions.KeyExpired),
        (
            {"not_before": timezone.now() + datetime.timedelta(hours=1)},
            exceptions.KeyNotYetValid,
        ),
        ({"allowed_models": ["gpt-realtime-mini"]}, exceptions.ModelNotAllowed),
    ],
)
def test_the_keys_checks_apply(actor, change, refusal):
    issued = issue_key(URL)
    VirtualKey.objects.filter(pk=issued.key_id).update(**change)
    key = selectors.virtual_key_by_id(key_id=issued.key_id)
    with pytest.raises(refusal):
        ephemeral.ephemeral_token_create_for_key(
            key=key, actor_id=actor.pk, model="gpt-realtime"
        )
    assert not EphemeralToken.objects.exists() and not LogEntry.objects.exists()


def test_keys_by_id_and_usable_keys():
    usable = issue_key(URL, name="b-usable")
    issue_key(URL, name="a-revoked")
    issue_key(URL, name="c-expired")
    services.virtual_key_revoke(key=selectors.virtual_key_get(name="a-revoked"))
    VirtualKey.objects.filter(name="c-expired").update(expires_at=timezone.now())
    assert [k.name for k in selectors.virtual_keys_usable()] == ["b-usable"]
    assert selectors.virtual_key_by_id(key_id=usable.key_id).name == "b-usable"
    with pytest.raises(exceptions.KeyNotFound):
        selectors.virtual_key_by_id(key_id=usable.key_id + 100)
