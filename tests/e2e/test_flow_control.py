"""Backpressure both ways, under real servers.

A client that stops reading: bounded memory, backpressure, then a drop. A
client that floods a provider that stopped reading: the server stops reading
the client, memory stays within a few frames, and every frame goes through.
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from tests.support.clients import MODEL, open_client, receive_event, wait_for_row
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
        server="daphne",  # the gateway's own flow control (realtime/server.py)
        env_overrides={
            "GATEWAY_CLIENT_BUFFER_BYTES": str(256 * 1024),
            "GATEWAY_SLOW_CLIENT_SECONDS": "3",
        },
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


STALL_SECONDS = 5
FLOOD_IN, FRAME_BYTES = 60, 4 * 1024 * 1024  # 240 MiB towards a stalled provider
# A frame queued, one being read, the one going upstream (text, encoded, masked,
# buffered): a few frames' worth. Unbounded, Daphne grew ~160 MiB and uvicorn's
# default queue of 32 messages ~156 MiB here.
FLOOD_GROWTH_LIMIT = 10 * FRAME_BYTES


@pytest.mark.parametrize("server", ["daphne", "uvicorn", "plain-uvicorn"])
async def test_a_client_that_floods_a_stalled_provider_cannot_grow_the_gateway(
    server, gateway_process, fake_upstream, issue
):
    gateway = gateway_process(
        server=server, env_overrides={"GATEWAY_UPSTREAM_SEND_TIMEOUT": "60"}
    )
    issued = await issue(fake_upstream.url)
    ws = await open_client(gateway.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    pid = gateway.process.pid
    before = rss_kib(pid)
    # The fake stops reading; the gateway's upstream send waits on it.
    await ws.send(json.dumps({"type": "fake.sleep", "seconds": STALL_SECONDS}))
    echoed: list[int] = []

    async def flood() -> None:
        pad = "x" * FRAME_BYTES
        for seq in range(FLOOD_IN):
            await ws.send(f'{{"type":"fake.echo","seq":{seq},"pad":"{pad}"}}')

    async def read_echoes() -> None:
        while len(echoed) < FLOOD_IN:
            event = json.loads(await ws.recv())
            if event["type"] == "fake.echo":
                echoed.append(event["seq"])

    tasks = [asyncio.create_task(flood()), asyncio.create_task(read_echoes())]
    loop = asyncio.get_running_loop()
    peak, stall_ends = before, loop.time() + STALL_SECONDS
    while loop.time() < stall_ends:  # sample memory while the provider stalls
        peak = max(peak, rss_kib(pid))
        await asyncio.sleep(0.05)
    async with asyncio.timeout(60):
        await asyncio.gather(*tasks)
    # Every frame went through, once and in order, after the stall.
    assert echoed == list(range(FLOOD_IN))
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.messages_from_client == FLOOD_IN + 1
    assert (peak - before) * 1024 < FLOOD_GROWTH_LIMIT, f"RSS grew {peak - before} KiB"
