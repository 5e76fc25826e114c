"""A client that stops reading: bounded memory, backpressure, then a drop."""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests.support.clients import MODEL, wait_for_row
from tests.support.processes import rss_kib

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

FLOOD_FRAMES, FLOOD_SIZE = 20_000, 6_400  # ~128 MB the client never reads


@pytest.fixture
def strict_gateway(gateway_process):
    return gateway_process(
        env_overrides={
            "GATEWAY_CLIENT_BUFFER_BYTES": str(256 * 1024),
            "GATEWAY_SLOW_CLIENT_SECONDS": "3",
        }
    )


async def test_a_client_that_stops_reading_cannot_grow_the_gateway(
    strict_gateway, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    pid = strict_gateway.process.pid
    before = rss_kib(pid)
    # max_queue=1: the client's websockets stops reading its socket at once.
    ws = await connect(
        f"{strict_gateway.ws_url}?model={MODEL}",
        additional_headers={"Authorization": f"Bearer {issued.token}"},
        max_queue=1,
        max_size=None,
    )
    await ws.send(
        json.dumps({"type": "fake.flood", "count": FLOOD_FRAMES, "size": FLOOD_SIZE})
    )
    peak = before
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 30
    row = None
    while loop.time() < deadline:  # sample memory until the gateway drops it
        peak = max(peak, rss_kib(pid))
        row = (
            await wait_for_row(timeout=0.2, virtual_key_name=issued.name)
            if (await _ended(issued.name))
            else None
        )
        if row is not None:
            break
        await asyncio.sleep(0.1)
    ws.transport.abort()
    assert row.status == "finished"
    assert row.close_reason == "client stopped reading; connection dropped"
    # Far less than the flood reached the client, and memory stayed bounded.
    assert row.bytes_from_upstream < FLOOD_FRAMES * FLOOD_SIZE // 4
    assert peak - before < 40 * 1024, f"RSS grew {peak - before} KiB"
    await fake_upstream.wait_closed_count(1, timeout=10)


async def _ended(name: str) -> bool:
    from realtime.models import RealtimeSession

    return await RealtimeSession.objects.filter(
        virtual_key_name=name, ended_at__isnull=False
    ).aexists()
