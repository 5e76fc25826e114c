"""One channel-layer listener per process for the revocation of live sessions' keys.

A session registers its key here; the first session of a key joins the key's
revocation group on the process's single channel, and an announcement wakes
every local session of that key. Sessions never receive from the layer
themselves: a per-session receive costs a pending Redis read per idle session,
and redis-py does not abandon a blocking read quickly when cancelled.

The listener runs while any session is registered. If the layer fails (Redis
down), it logs, backs off, and re-joins every group once the layer answers; the
sessions' periodic key re-check covers the gap.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from keys.selectors import REVOCATION_EVENT, revocation_group
from realtime.keycache import KeyCache

logger = logging.getLogger(__name__)

_GROUP_TIMEOUT = 2.0
_MAX_BACKOFF = 30.0


class RevocationHub:
    """Listens for key revocations on behalf of every session on one event loop."""

    def __init__(self, layer: Any, *, key_cache: KeyCache) -> None:
        self.layer = layer
        self._key_cache = key_cache
        self._waiters: defaultdict[int, set[asyncio.Future]] = defaultdict(set)
        self._channel: str | None = None
        self._listener: asyncio.Task | None = None

    async def watch(self, key_id: int) -> asyncio.Future:
        """A future that completes when `key_id` is announced as revoked."""
        revoked = asyncio.get_running_loop().create_future()
        first = not self._waiters[key_id]
        self._waiters[key_id].add(revoked)
        await self._ensure_listening()
        if first:
            await self._join(key_id)
        return revoked

    async def unwatch(self, key_id: int, revoked: asyncio.Future) -> None:
        """Stop watching for one session; the last one out leaves the group."""
        waiters = self._waiters.get(key_id)
        if waiters is None:
            return
        waiters.discard(revoked)
        if waiters:
            return
        del self._waiters[key_id]
        if self._channel is not None:
            try:
                async with asyncio.timeout(_GROUP_TIMEOUT):
                    await self.layer.group_discard(
                        revocation_group(key_id), self._channel
                    )
            except Exception:  # best effort: group entries expire by themselves
                logger.debug("could not leave a revocation group", exc_info=True)
        if not self._waiters and self._listener is not None:
            listener, self._listener = self._listener, None
            # A cancelled receive() ends its channel (channels-redis pub/sub
            # unsubscribes and forgets it, so group_add() on it would fail):
            # the next listener starts on a new one.
            self._channel = None
            listener.cancel()
            await asyncio.wait({listener}, timeout=_GROUP_TIMEOUT)

    async def _ensure_listening(self) -> None:
        if self._listener is not None:
            return
        if self._channel is None:
            self._channel = await self.layer.new_channel()
        self._listener = asyncio.create_task(self._listen())

    async def _join(self, key_id: int) -> None:
        try:
            async with asyncio.timeout(_GROUP_TIMEOUT):
                await self.layer.group_add(revocation_group(key_id), self._channel)
        except Exception:  # the listener re-joins once the layer answers again
            logger.warning("could not join a revocation group; will retry")

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                message = await self.layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer is optional: sessions re-check keys too
                logger.warning(
                    "channel layer unavailable; retrying in %.1f s",
                    backoff,
                    exc_info=True,
                )
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                await self._rejoin_all()
                continue
            backoff = 0.5
            if message.get("type") == REVOCATION_EVENT:
                self._announce(message.get("key_id"))

    async def _rejoin_all(self) -> None:
        for key_id in list(self._waiters):
            await self._join(key_id)

    def _announce(self, key_id: object) -> None:
        if not isinstance(key_id, int):
            return
        self._key_cache.forget(key_id)
        for revoked in self._waiters.get(key_id, ()):
            if not revoked.done():
                revoked.set_result(None)
