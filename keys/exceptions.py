"""Errors raised by the keys app.

KeyError_ (base)
 +-- KeyNotFound          no such virtual key (unknown, malformed or deleted)
 |    +-- TokenExpired     a short-lived token past its expiry
 +-- KeyRefused           a known key that may not be used now
 |    +-- KeyRevoked
 |    +-- KeyExpired
 |    +-- KeyNotYetValid   used before its `not_before`
 |    +-- ModelNotAllowed
 |    +-- CredentialStale  the provider moved since the credential was entered
 +-- CredentialUnreadable the stored provider credential cannot be decrypted

Messages never contain a key, a credential or ciphertext.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from keys.values import KeyIdentity


class KeyError_(Exception):
    """Base of the keys app's errors."""


class KeyNotFound(KeyError_):
    """The presented virtual key does not exist."""


class TokenExpired(KeyNotFound):
    """The presented short-lived token (keys.ephemeral) has expired: it no
    longer authenticates anyone, as an unknown key does not."""

    code = "token_expired"


class KeyRefused(KeyError_):
    """A known virtual key that may not be used now."""

    code = "key_refused"

    def __init__(self, message: str, *, identity: KeyIdentity | None = None) -> None:
        super().__init__(message)
        # Who was refused, so the attempt can still be logged against the key.
        self.identity = identity


class KeyRevoked(KeyRefused):
    """The virtual key was revoked."""

    code = "key_revoked"


class KeyExpired(KeyRefused):
    """The virtual key is past its expiry time."""

    code = "key_expired"


class KeyNotYetValid(KeyRefused):
    """The virtual key's start time (`not_before`) is still ahead."""

    code = "key_not_yet_valid"


class ModelNotAllowed(KeyRefused):
    """The requested model is outside the key's allow-list."""

    code = "model_not_allowed"


class CredentialStale(KeyRefused):
    """The key's provider connects elsewhere than when its credential was
    entered; an admin must enter the credential again (see keys.upstreams)."""

    code = "credential_stale"


class CredentialUnreadable(KeyError_):
    """The stored provider credential cannot be decrypted."""
