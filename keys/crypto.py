"""Encryption of provider credentials at rest.

Values are stored self-describing, as ``fernet$<token>``, so the scheme can change
later without guessing. `GATEWAY_ENCRYPTION_KEYS` is a MultiFernet key list: the
first key encrypts, every key decrypts, and `reencrypt` moves a value to the first.
"""

from __future__ import annotations

import functools

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from keys.exceptions import CredentialUnreadable

SCHEME = "fernet"


def generate_key() -> str:
    """A new random Fernet key, as text for GATEWAY_ENCRYPTION_KEYS."""
    return Fernet.generate_key().decode("ascii")


def build_cipher(keys: list[str]) -> MultiFernet:
    """A MultiFernet from key strings; a clear error names a bad one by position."""
    if not keys:
        raise ImproperlyConfigured(
            "GATEWAY_ENCRYPTION_KEYS is empty; provider credentials cannot be "
            "encrypted. Generate one with `python manage.py generate_encryption_key`."
        )
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode("ascii")))
        except (ValueError, UnicodeEncodeError):
            raise ImproperlyConfigured(
                f"GATEWAY_ENCRYPTION_KEYS entry #{position} is not a valid Fernet "
                "key (32 url-safe base64-encoded bytes)."
            ) from None
    return MultiFernet(fernets)


@functools.cache
def _cipher() -> MultiFernet:
    return build_cipher(list(settings.GATEWAY_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    """Encrypt a credential into its stored form."""
    token = _cipher().encrypt(plaintext.encode("utf-8")).decode("ascii")
    return f"{SCHEME}${token}"


def decrypt(stored: str) -> str:
    """Recover a credential from its stored form."""
    scheme, _, token = stored.partition("$")
    if scheme != SCHEME or not token:
        raise CredentialUnreadable("stored credential has an unknown format")
    try:
        return _cipher().decrypt(token.encode("ascii")).decode("utf-8")
    except InvalidToken:
        raise CredentialUnreadable(
            "stored credential cannot be decrypted with GATEWAY_ENCRYPTION_KEYS"
        ) from None


def reencrypt(stored: str) -> str:
    """The same credential encrypted under the current first key."""
    scheme, _, token = stored.partition("$")
    if scheme != SCHEME or not token:
        raise CredentialUnreadable("stored credential has an unknown format")
    try:
        rotated = _cipher().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken:
        raise CredentialUnreadable(
            "stored credential cannot be decrypted with GATEWAY_ENCRYPTION_KEYS"
        ) from None
    return f"{SCHEME}${rotated}"


def reset_cache() -> None:
    """Forget the cipher so changed settings take effect (tests, rotation)."""
    _cipher.cache_clear()
