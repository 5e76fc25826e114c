from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.core.exceptions import ImproperlyConfigured

from keys import crypto
from keys.exceptions import CredentialUnreadable


def test_round_trip_is_self_describing_and_not_plaintext(encryption_keys):
    encryption_keys(crypto.generate_key())
    stored = crypto.encrypt("sk-secret-value")
    assert stored.startswith("fernet$")
    assert "sk-secret-value" not in stored
    assert crypto.decrypt(stored) == "sk-secret-value"


def test_same_plaintext_encrypts_differently(encryption_keys):
    encryption_keys(crypto.generate_key())
    assert crypto.encrypt("same") != crypto.encrypt("same")


def test_rotation_old_key_still_decrypts_and_reencrypt_moves_to_new(encryption_keys):
    old, new = crypto.generate_key(), crypto.generate_key()
    encryption_keys(old)
    stored = crypto.encrypt("sk-rotate-me")

    encryption_keys(new, old)
    assert crypto.decrypt(stored) == "sk-rotate-me"
    rotated = crypto.reencrypt(stored)
    assert Fernet(new.encode()).decrypt(rotated.partition("$")[2].encode()) == (
        b"sk-rotate-me"
    )

    encryption_keys(new)  # the old key retired
    assert crypto.decrypt(rotated) == "sk-rotate-me"
    with pytest.raises(CredentialUnreadable):
        crypto.decrypt(stored)


@pytest.mark.parametrize("stored", ["", "sk-plain", "aes$abc", "fernet$", "fernet$bad"])
def test_unreadable_values_raise_without_echoing(encryption_keys, stored):
    encryption_keys(crypto.generate_key())
    with pytest.raises(CredentialUnreadable) as caught:
        crypto.decrypt(stored)
    assert stored == "" or stored not in str(caught.value)


def test_bad_configuration_names_the_entry_not_the_key():
    with pytest.raises(ImproperlyConfigured, match="#2"):
        crypto.build_cipher([crypto.generate_key(), "not-a-key"])
    with pytest.raises(ImproperlyConfigured, match="empty"):
        crypto.build_cipher([])


def test_system_check_reports_bad_keys(encryption_keys):
    from keys.checks import check_encryption_keys

    encryption_keys("nope")
    errors = check_encryption_keys(None)
    assert [error.id for error in errors] == ["keys.E001"]
