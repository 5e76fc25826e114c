"""Virtual key tokens: made once, shown once, afterwards only ever checked.

A token is ``vk_`` + 43 url-safe characters (256 random bits): letters, digits,
``-`` and ``_`` only, so it fits in a URL and in a WebSocket subprotocol token.
Only a short prefix (to recognise it in lists) and a SHA-256 digest are stored;
a fast hash is right here because the token has full entropy, unlike a password.

The short-lived tokens a virtual key mints for browsers (`keys.ephemeral`) have
the same shape and storage with the prefix ``ek_``, the prefix OpenAI's own
client secrets carry ("a string that looks like `ek_1234`", OpenAI API reference,
`POST /v1/realtime/client_secrets`).
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

TOKEN_PREFIX = "vk_"
EPHEMERAL_PREFIX = "ek_"
PREFIX_LENGTH = 10
_TOKEN_RE = re.compile(r"^vk_[A-Za-z0-9_-]{43}$")
_EPHEMERAL_RE = re.compile(r"^ek_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True, slots=True)
class NewToken:
    """A freshly made token with what is stored about it."""

    token: str
    prefix: str
    digest: str

    def __repr__(self) -> str:
        return f"NewToken(prefix={self.prefix!r}, token='***')"


def looks_like_token(value: str) -> bool:
    """True when `value` has the shape of one of our virtual keys."""
    return bool(_TOKEN_RE.match(value))


def looks_like_ephemeral_token(value: str) -> bool:
    """True when `value` has the shape of one of our short-lived tokens."""
    return bool(_EPHEMERAL_RE.match(value))


def digest(token: str) -> str:
    """The stored, self-describing digest of a token."""
    return "sha256$" + hashlib.sha256(token.encode("utf-8")).hexdigest()


def new_token(prefix: str = TOKEN_PREFIX) -> NewToken:
    """Make a new random token (a virtual key unless told another prefix)."""
    token = prefix + secrets.token_urlsafe(32)
    return NewToken(token=token, prefix=token[:PREFIX_LENGTH], digest=digest(token))
