"""/healthz on Redis: probes hold constant resources, however many there are."""

from __future__ import annotations

import os

import pytest
import redis.asyncio as redis
from channels.layers import channel_layers
from django.test import AsyncClient

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]

REDIS_URL = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


@pytest.fixture
async def redis_layer(settings):
    """The channel layer on a real Redis (REDIS_URL, or the local default)."""
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        await client.ping()
    except (redis.ConnectionError, OSError):
        await client.aclose()
        pytest.skip(f"no Redis at {REDIS_URL} (CI runs one)")
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL]},
        }
    }
    channel_layers.backends.clear()
    yield client
    layer = channel_layers.backends.get("default")
    if layer is not None:
        await layer.flush()
    channel_layers.backends.clear()
    await client.aclose()


async def subscriptions(client: redis.Redis) -> int:
    return len(await client.pubsub_channels())


async def test_probes_leave_no_subscription_behind(redis_layer):
    http = AsyncClient()
    assert (await http.get("/healthz")).status_code == 200
    before = await subscriptions(redis_layer)
    for _ in range(30):
        response = await http.get("/healthz")
        assert response.status_code == 200
        assert response.json()["channel_layer"] == "ok"
    assert await subscriptions(redis_layer) == before
