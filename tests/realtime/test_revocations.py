"""The process's revocation listener, on the configured channel layer (Redis
pub/sub in CI's second pass)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from channels.layers import get_channel_layer

from keys.selectors import REVOCATION_EVENT, revocation_group
from realtime import revocations
from realtime.keycache import KeyCache
from realtime.lifespan import stop_background
from realtime.revocations import (
    TERMINATE_EVENT,
    TERMINATION_GROUP,
    RevocationHub,
    termination_group,
)
from realtime.state import process_state

pytestmark = pytest.mark.timeout(20)


async def _announce(layer, key_id: int) -> None:
    await layer.group_send(
        revocation_group(key_id), {"type": REVOCATION_EVENT, "key_id": key_id}
    )


async def test_the_hub_still_hears_revocations_after_it_has_been_idle():
    """The last session out stops the listener; the next session's key must be
    heard all the same (a cancelled receive ends the listener's channel)."""
    layer = get_channel_layer()
    hub = RevocationHub(layer, key_cache=KeyCache())
    first = await hub.watch(revocation_group(9001))
    await hub.unwatch(first, revocation_group(9001))  # idle: the listener stops

    second = await hub.watch(revocation_group(9002))
    try:
        async with asyncio.timeout(5):
            while not second.done():  # a pub/sub subscription takes a moment
                await _announce(layer, 9002)
                await asyncio.sleep(0.1)
    finally:
        await hub.unwatch(second, revocation_group(9002))


class _CountingLayer:
    """The configured layer, counting the group calls the hub makes."""

    def __init__(self, layer) -> None:
        self._layer = layer
        self.added: list[str] = []
        self.discarded: list[str] = []

    def __getattr__(self, name):
        return getattr(self._layer, name)

    async def group_add(self, group: str, channel: str) -> None:
        self.added.append(group)
        await self._layer.group_add(group, channel)

    async def group_discard(self, group: str, channel: str) -> None:
        self.discarded.append(group)
        await self._layer.group_discard(group, channel)


async def _until(condition, *, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.02)


async def test_back_to_back_sessions_reuse_the_listener_and_its_groups(settings):
    """With a linger, a session's setup makes no channel-layer call once the
    listener runs; after the linger the listener leaves its groups and stops."""
    settings.GATEWAY_ANNOUNCEMENT_LINGER_SECONDS = 0.3
    layer = _CountingLayer(get_channel_layer())
    hub = RevocationHub(layer, key_cache=KeyCache())
    group = revocation_group(9101)
    for _ in range(3):
        session = uuid.uuid4()
        announced = await hub.watch(termination_group(session), group)
        await hub.unwatch(announced, termination_group(session), group)
    assert sorted(layer.added) == sorted([TERMINATION_GROUP, group])  # once each
    assert hub.joined(group) and not layer.discarded

    await _until(lambda: not hub.joined(group))
    assert sorted(layer.discarded) == sorted([TERMINATION_GROUP, group])

    # The next session starts a new listener, which hears its key's revocation.
    announced = await hub.watch(group)
    try:
        async with asyncio.timeout(5):
            while not announced.done():
                await _announce(layer, 9101)
                await asyncio.sleep(0.1)
        assert announced.result() == group
    finally:
        await hub.unwatch(announced, group)
        await hub.stop()


async def test_a_lingering_group_still_drops_a_revoked_key_from_the_cache(settings):
    settings.GATEWAY_ANNOUNCEMENT_LINGER_SECONDS = 30
    layer = get_channel_layer()
    cache = KeyCache()
    hub = RevocationHub(layer, key_cache=cache)
    forgotten: list[int] = []
    cache.forget = forgotten.append  # type: ignore[method-assign]
    announced = await hub.watch(revocation_group(9102))
    await hub.unwatch(announced, revocation_group(9102))  # no session left
    try:
        async with asyncio.timeout(5):
            while not forgotten:
                await _announce(layer, 9102)
                await asyncio.sleep(0.1)
        assert forgotten[0] == 9102
    finally:
        await hub.stop()
    assert not hub.joined(revocation_group(9102))


async def test_a_terminate_wakes_only_the_session_it_names():
    layer = get_channel_layer()
    hub = RevocationHub(layer, key_cache=KeyCache())
    named, other = uuid.uuid4(), uuid.uuid4()
    first = await hub.watch(termination_group(named))
    second = await hub.watch(termination_group(other))
    try:
        async with asyncio.timeout(5):
            while not first.done():
                await layer.group_send(
                    TERMINATION_GROUP,
                    {"type": TERMINATE_EVENT, "session_id": named.hex},
                )
                await asyncio.sleep(0.1)
        assert first.result() == termination_group(named)
        assert not second.done()
    finally:
        await hub.unwatch(first, termination_group(named))
        await hub.unwatch(second, termination_group(other))


async def test_past_the_bound_a_keys_last_session_leaves_its_group(
    settings, monkeypatch
):
    """Keys' groups kept joined with no local session are bounded: past the
    bound, the last session of a key leaves its group at once."""
    settings.GATEWAY_ANNOUNCEMENT_LINGER_SECONDS = 30
    monkeypatch.setattr(revocations, "_MAX_IDLE_GROUPS", 1)
    layer = _CountingLayer(get_channel_layer())
    hub = RevocationHub(layer, key_cache=KeyCache())
    staying = await hub.watch(revocation_group(9201))
    try:
        leaving = await hub.watch(revocation_group(9202))
        await hub.unwatch(leaving, revocation_group(9202))
        assert not hub.joined(revocation_group(9202))
        assert layer.discarded == [revocation_group(9202)]
        assert hub.joined(revocation_group(9201))  # a session still waits on it
    finally:
        await hub.unwatch(staying, revocation_group(9201))
        await hub.stop()


async def test_a_group_held_long_is_joined_again(settings, monkeypatch):
    """A layer forgets a group entry after its expiry: the hub joins a group
    again once it has held it `_REJOIN_SECONDS`."""
    settings.GATEWAY_ANNOUNCEMENT_LINGER_SECONDS = 30
    layer = _CountingLayer(get_channel_layer())
    hub = RevocationHub(layer, key_cache=KeyCache())
    group = revocation_group(9301)
    try:
        first = await hub.watch(group)
        await hub.unwatch(first, group)
        monkeypatch.setattr(revocations, "_REJOIN_SECONDS", 0.0)
        second = await hub.watch(group)
        await hub.unwatch(second, group)
        assert layer.added.count(group) == 2
        assert layer.added.count(TERMINATION_GROUP) == 2
    finally:
        await hub.stop()


@pytest.mark.django_db(transaction=True)
async def test_the_servers_shutdown_stops_a_lingering_listener(settings):
    settings.GATEWAY_ANNOUNCEMENT_LINGER_SECONDS = 30
    hub = process_state().revocation_hub(get_channel_layer())
    announced = await hub.watch(revocation_group(9401))
    await hub.unwatch(announced, revocation_group(9401))
    assert hub.joined(revocation_group(9401))  # lingering
    await stop_background()
    assert not hub.joined(revocation_group(9401))
    assert not hub.joined(TERMINATION_GROUP)
