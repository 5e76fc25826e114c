from __future__ import annotations

import hashlib
import re

from keys import tokens


def test_new_token_shape_fits_urls_and_subprotocols():
    new = tokens.new_token()
    assert re.fullmatch(r"vk_[A-Za-z0-9_-]{43}", new.token)
    assert new.prefix == new.token[:10]
    assert tokens.looks_like_token(new.token)


def test_digest_is_sha256_and_self_describing():
    new = tokens.new_token()
    expected = hashlib.sha256(new.token.encode()).hexdigest()
    assert new.digest == f"sha256${expected}"
    assert tokens.digest(new.token) == new.digest


def test_tokens_are_unique():
    assert len({tokens.new_token().token for _ in range(100)}) == 100


def test_repr_hides_the_token():
    new = tokens.new_token()
    assert new.token not in repr(new)


def test_looks_like_token_rejects_other_shapes():
    for value in [
        "",
        "vk_short",
        "sk-" + "a" * 43,
        "vk_" + "a" * 42 + "!",
        "vk_" + "a" * 44,
    ]:
        assert not tokens.looks_like_token(value)
