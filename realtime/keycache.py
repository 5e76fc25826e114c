"""Keys this process authorized a moment ago, so a new session skips the database.

Used only on the event loop (no locks). An entry lives GATEWAY_KEY_CACHE_SECONDS
(0 turns the cache off) and is dropped at once when this process learns that its
key was revoked: from the channel layer, or from a live session's re-check. A
revocation this process does not hear of (no shared channel layer, and no live
session of that key here) is noticed within the TTL. Refusals are never served
from here: they go to the database, which also writes their `rejected` rows.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.utils import timezone

from keys.values import ResolvedCredential

_MAX_ENTRIES = 10_000


class KeyCache:
    """Recent authorizations of virtual keys, by token."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[float, ResolvedCredential]] = {}

    def get(self, token: str) -> ResolvedCredential | None:
        """A fresh, unexpired authorization of `token`, or None."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        stored_at, resolved = entry
        expires_at = resolved.key.expires_at if resolved.key else None
        stale = time.monotonic() - stored_at > settings.GATEWAY_KEY_CACHE_SECONDS
        if stale or (expires_at is not None and expires_at <= timezone.now()):
            self._entries.pop(token, None)
            return None
        return resolved

    def put(self, token: str, resolved: ResolvedCredential) -> None:
        """Remember an authorization of a virtual key (never a raw provider key)."""
        if resolved.key is None or settings.GATEWAY_KEY_CACHE_SECONDS <= 0:
            return
        if len(self._entries) >= _MAX_ENTRIES:
            self._entries.clear()  # bounded: a flood of distinct keys costs misses
        self._entries[token] = (time.monotonic(), resolved)

    def forget(self, key_id: int) -> None:
        """Drop every entry of a key (it was revoked, expired or deleted)."""
        stale = [
            token
            for token, (_, resolved) in self._entries.items()
            if resolved.key is not None and resolved.key.key_id == key_id
        ]
        for token in stale:
            del self._entries[token]
