"""One channel-layer listener per process for announcements to live sessions.

Two announcements end live sessions on whichever process runs them: a key's
revocation (`keys.services.virtual_key_revoke`, to the key's group) and an
operator's terminate of one session (`realtime.operations.session_terminate`,
to every process's `TERMINATION_GROUP`, naming the session). A session
registers here what it waits for; the process's single channel joins the
key's group the first time a session of that key arrives, and an announcement
wakes every local session it concerns. Sessions never receive from the layer
themselves: a per-session receive costs a pending Redis read per idle session,
and redis-py does not abandon a blocking read quickly when cancelled.

Setting a session up costs no channel-layer call once the listener runs:
terminations share one group (operators' terminates are rare; each process
checks the session id against its own sessions), and a key's group stays
joined after its last local session ends. The listener and its groups
linger for GATEWAY_ANNOUNCEMENT_LINGER_SECONDS after the last session, so
back-to-back sessions do not start and stop it each time; a group held
longer than `_REJOIN_SECONDS` is joined again (a layer forgets a group entry
after its `group_expiry`, a day by default). While a key's group is joined,
its revocation also drops the key from the process's key cache.

If the layer fails (Redis down), the listener logs, backs off, and re-joins
every group once the layer answers; the sessions' periodic check of their row
and key covers the gap.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings

from keys.selectors import REVOCATION_EVENT, revocation_group
from realtime.keycache import KeyCache

logger = logging.getLogger(__name__)

TERMINATE_EVENT = "realtime_session.terminate"
# Every process's listener is in it; a terminate names its session.
TERMINATION_GROUP = "realtime-sessions.terminate"
_TERMINATION_PREFIX = "realtime-session."
_GROUP_TIMEOUT = 2.0
_MAX_BACKOFF = 30.0
# Join a group again after this long (channels' default group_expiry: 1 day).
_REJOIN_SECONDS = 3600.0
# Keys' groups kept joined with no local session; more are left at once.
_MAX_IDLE_GROUPS = 256


def termination_group(session_id: uuid.UUID) -> str:
    """What a live session waits on for its terminate (a local name: the
    layer carries terminates on `TERMINATION_GROUP`)."""
    return f"{_TERMINATION_PREFIX}{session_id.hex}"


def _on_layer(group: str) -> bool:
    """Whether the process's channel joins `group` on the layer (a key's
    group; not a session's own, which is local)."""
    return not group.startswith(_TERMINATION_PREFIX)


def announce_termination(session_id: uuid.UUID) -> None:
    """Tell every gateway process to close this session (best effort: the
    session's periodic check reads the row's flag if this word is lost)."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            TERMINATION_GROUP,
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
        self._joined: dict[str, float] = {}  # layer group -> when (monotonic)
        self._linger = settings.GATEWAY_ANNOUNCEMENT_LINGER_SECONDS
        self._idle_timer: asyncio.TimerHandle | None = None
        self._stopping: asyncio.Task | None = None  # after lingering idle
        # The in-memory layer's group calls never wait (no I/O): they need no
        # bound, whose timer costs more than the call (a profile of setups).
        self._bounded = not isinstance(layer, InMemoryChannelLayer)

    async def watch(self, *groups: str) -> asyncio.Future[str]:
        """A future that completes with the name of the first of `groups`
        announced (`revocation_group`, `termination_group`)."""
        announced: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        for group in groups:
            self._waiters[group].add(announced)
        self._cancel_idle_timer()
        if self._stopping is not None:  # a lingering stop under way: let it end
            await asyncio.wait({self._stopping}, timeout=_GROUP_TIMEOUT)
        await self._ensure_listening()
        now = time.monotonic()
        layer_groups = (TERMINATION_GROUP, *filter(_on_layer, groups))
        stale = [
            g
            for g in layer_groups
            if now - self._joined.get(g, -1e18) > _REJOIN_SECONDS
        ]
        if stale:
            await _each(self._join, stale)
        return announced

    async def unwatch(self, announced: asyncio.Future[str], *groups: str) -> None:
        """Stop watching for one session. The last one out of a key's group
        keeps it joined (bounded), and the last session of all starts the
        linger, after which the listener stops and leaves every group."""
        emptied = []
        for group in groups:
            waiters = self._waiters.get(group)
            if waiters is None:
                continue
            waiters.discard(announced)
            if not waiters:
                del self._waiters[group]
                if _on_layer(group):
                    emptied.append(group)
        if self._waiters:
            if len(self._joined) > _MAX_IDLE_GROUPS and emptied:
                await _each(self._leave, emptied)
        elif self._linger > 0:
            self._start_idle_timer()
        else:
            await self.stop()

    def watching(self, group: str) -> bool:
        """True while a local session waits on `group` (for tests and probes)."""
        return bool(self._waiters.get(group))

    def joined(self, group: str) -> bool:
        """True while the process's channel is in `group` (tests and probes)."""
        return group in self._joined

    async def stop(self) -> None:
        """Leave every group and stop the listener (idle, or the server is
        stopping); a later `watch` starts again."""
        self._cancel_idle_timer()
        listener, self._listener = self._listener, None
        if self._channel is not None and self._joined:
            await _each(self._leave, list(self._joined))
        self._joined.clear()
        # A cancelled receive() ends its channel (channels-redis pub/sub
        # unsubscribes and forgets it, so group_add() on it would fail): the
        # next listener starts on a new one.
        self._channel = None
        if listener is not None:
            listener.cancel()
            await asyncio.wait({listener}, timeout=_GROUP_TIMEOUT)

    def _start_idle_timer(self) -> None:
        self._cancel_idle_timer()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(self._linger, self._idle_for_long)

    def _cancel_idle_timer(self) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None

    def _idle_for_long(self) -> None:
        self._idle_timer = None
        if self._waiters or self._stopping is not None:
            return
        self._stopping = asyncio.ensure_future(self.stop())
        self._stopping.add_done_callback(self._stopped)

    def _stopped(self, task: asyncio.Task) -> None:
        self._stopping = None
        if not task.cancelled() and task.exception() is not None:
            logger.warning("could not stop the announcement listener cleanly")

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
            return
        self._joined[group] = time.monotonic()

    async def _leave(self, group: str) -> None:
        self._joined.pop(group, None)
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
        groups = {TERMINATION_GROUP, *self._joined, *filter(_on_layer, self._waiters)}
        await _each(self._join, sorted(groups))

    def _announce(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == REVOCATION_EVENT:
            key_id = message.get("key_id")
            if not isinstance(key_id, int):
                return
            self._key_cache.forget(key_id)
            group = revocation_group(key_id)
        elif kind == TERMINATE_EVENT:  # to every process: ours, if it is here
            try:
                group = termination_group(uuid.UUID(hex=message.get("session_id")))
            except (TypeError, ValueError):
                return
        else:
            return
        for announced in self._waiters.get(group, ()):
            if not announced.done():
                announced.set_result(group)
