from __future__ import annotations

import pytest

from keys import crypto


@pytest.fixture
def encryption_keys(settings):
    """Set GATEWAY_ENCRYPTION_KEYS for one test, and forget the cached cipher."""

    def _set(*keys: str) -> None:
        settings.GATEWAY_ENCRYPTION_KEYS = list(keys)
        crypto.reset_cache()

    yield _set
    crypto.reset_cache()
