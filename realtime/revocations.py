"""One channel-layer listener per process for announcements to live sessions.

Two announcements end live sessions on whichever process runs them: a key's
revocation (`keys.services.virtual_key_revoke`, to the key's group) and an
operator's terminate of one session (`realtime.operations.session_terminate`, to
the session's group). A session registers its groups here; the first session of
a group joins it on the process's single channel, and an announcement wakes
every local session of that group. Sessions never receive from the layer
themselves: a per-session receive costs a pending Redis read per idle session,
and redis-py does not abandon a blocking read quickly when cancelled.

The listener runs while any session is registered. If the layer fails (Redis
down), it logs, backs off, and re-joins every group once the layer answers; the
sessions' periodic check of their row and key covers the gap.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer

from keys.selectors import REVOCATION_EVENT, revocation_group
from realtime.keycache import KeyCache

logger = logging.getLogger(__name__)

TERMINATE_EVENT = "realtime_session.terminate"
_GROUP_TIMEOUT = 2.0
_MAX_BACKOFF = 30.0


def termination_group(session_id: uuid.UUID) -> str:
    """The channel-layer group a live session listens on for its terminate."""
    return f"realtime-session.{session_id.hex}"


def announce_termination(session_id: uuid.UUID) -> None:
    """Tell every gateway process to close this session (best effort: the
    session's periodic check reads the row's flag if this word is lost)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            termination_group(session_id),
            {"type": TERMINATE_EVENT, "session_id": session_id.hex},
        )
    except Exception:  # the layer is optional, as for revocations
        logger.warning(
            "could not announce the termination of session %s over the channel "
            "layer; it will notice at its next check",
            session_id,
            exc_info=True,
        )


async def _each(step: Callable[[str], Awaitable[None]], groups: Sequence[str]) -> None:
    """Run `step` for every group, side by side; a lone one without the task
    `gather` would make for it (the common case: a session's own group)."""
    if len(groups) == 1:
        await step(groups[0])
    elif groups:
        await asyncio.gather(*(step(group) for group in groups))


class RevocationHub:
    """Listens for revocations and terminations on behalf of every session on
    one event loop."""

    def __init__(self, layer: Any, *, key_cache: KeyCache) -> None:
        self.layer = layer
        self._key_cache = key_cache
        self._waiters: defaultdict[str, set[asyncio.Future[str]]] = defaultdict(set)
        self._channel: str | None = None
        self._listener: asyncio.Task | None = None
        # The in-memory layer's group calls never wait (no I/O): they need no
        # bound, whose timer costs more than the call (a profile of setups).
        self._bounded = not isinstance(layer, InMemoryChannelLayer)

    async def watch(self, *groups: str) -> asyncio.Future[str]:
        """A future that completes with the name of the first of `groups`
        announced (`revocation_group`, `termination_group`)."""
        announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        first = [group for group in groups if not self._waiters[group]]
        for group in groups:
            self._waiters[group].add(announced)
        await self._ensure_listening()
        await _each(self._join, first)
        return announced

    async def unwatch(self, announced: asyncio.Future[str], *groups: str) -> None:
        """Stop watching for one session; the last one out leaves each group."""
        emptied = []
        for group in groups:
            waiters = self._waiters.get(group)
            if waiters is None:
                continue
            waiters.discard(announced)
            if not waiters:
                del self._waiters[group]
                emptied.append(group)
        if self._channel is not None and emptied:
            await _each(self._leave, emptied)
        if not self._waiters and self._listener is not None:
            listener, self._listener = self._listener, None
            # A cancelled receive() ends its channel (channels-redis pub/sub
            # unsubscribes and forgets it, so group_add() on it would fail):
            # the next listener starts on a new one.
            self._channel = None
            listener.cancel()
            await asyncio.wait({listener}, timeout=_GROUP_TIMEOUT)

    def watching(self, group: str) -> bool:
        """True while a local session waits on `group` (for tests and probes)."""
        return bool(self._waiters.get(group))

    async def _ensure_listening(self) -> None:
        if self._listener is not None:
            return
        if self._channel is None:
            self._channel = await self.layer.new_channel()
        self._listener = asyncio.create_task(self._listen())

    async def _join(self, group: str) -> None:
        try:
            await self._bound(self.layer.group_add(group, self._channel))
        except Exception:  # the listener re-joins once the layer answers again
            logger.warning("could not join a channel-layer group; will retry")

    async def _leave(self, group: str) -> None:
        try:
            await self._bound(self.layer.group_discard(group, self._channel))
        except Exception:  # best effort: group entries expire by themselves
            logger.debug("could not leave a channel-layer group", exc_info=True)

    async def _bound(self, call: Awaitable[None]) -> None:
        if not self._bounded:
            await call
            return
        async with asyncio.timeout(_GROUP_TIMEOUT):
            await call

    async def _listen(self) -> None:
        backoff = 0.5
        while True:
            try:
                message = await self.layer.receive(self._channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # the layer is optional: sessions re-check too
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
            self._announce(message)

    async def _rejoin_all(self) -> None:
        await _each(self._join, list(self._waiters))

    def _announce(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == REVOCATION_EVENT:
            key_id = message.get("key_id")
            if not isinstance(key_id, int):
                return
            self._key_cache.forget(key_id)
            group = revocation_group(key_id)
        elif kind == TERMINATE_EVENT:
            try:
                group = termination_group(uuid.UUID(hex=message.get("session_id")))
            except (TypeError, ValueError):
                return
        else:
            return
        for announced in self._waiters.get(group, ()):
            if not announced.done():
                announced.set_result(group)
