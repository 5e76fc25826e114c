"""The process's revocation listener, on the configured channel layer (Redis
pub/sub in CI's second pass)."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from keys.selectors import REVOCATION_EVENT, revocation_group
from realtime.keycache import KeyCache
from realtime.revocations import RevocationHub

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
