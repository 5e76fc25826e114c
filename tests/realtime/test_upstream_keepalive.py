"""The upstream's keepalive (realtime.upstream.UpstreamConnection): pings on a
timer, answered pongs keep the session, a silent provider is closed with 1011."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from websockets.asyncio.server import ServerConnection, serve

from realtime.providers import UpstreamTarget
from realtime.upstream import UpstreamConnection, UpstreamOptions, open_upstream

pytestmark = pytest.mark.timeout(10)


@contextlib.asynccontextmanager
async def provider(*, answers_pings: bool) -> AsyncIterator[str]:
    """A provider on 127.0.0.1 that holds each session open; one that does
    not answer pings stops reading its socket once the handshake is done."""

    held: list[ServerConnection] = []

    async def hold(connection: ServerConnection) -> None:
        held.append(connection)
        if not answers_pings:
            connection.transport.pause_reading()
        await connection.wait_closed()

    async with serve(hold, "127.0.0.1", 0, ping_interval=None) as server:
        port = server.sockets[0].getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/v1/realtime"
        finally:
            for connection in held:  # a paused one would never see the close
                connection.transport.abort()


def options(*, interval: float, timeout: float) -> UpstreamOptions:
    return UpstreamOptions(
        connect_timeout=5.0,
        max_size=1 << 20,
        compression=False,
        ping_interval=interval,
        ping_timeout=timeout,
        close_timeout=0.5,
    )


async def until(condition, *, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():
            await asyncio.sleep(0.01)


async def test_answered_pings_keep_the_session_with_no_task_between_them():
    async with provider(answers_pings=True) as url:
        upstream = await open_upstream(
            UpstreamTarget(url=url, headers=()), options(interval=0.05, timeout=2.0)
        )
        try:
            assert isinstance(upstream, UpstreamConnection)
            await until(lambda: upstream.latency > 0)  # one ping answered
            first = upstream.latency
            await until(lambda: upstream.latency != first)  # and the next one
            # Between pings: a timer waits, no task.
            await until(lambda: upstream.keepalive_task is None)
            assert upstream._ping_timer is not None
            assert upstream.state.name == "OPEN"
        finally:
            await upstream.close()
        assert upstream._ping_timer is None  # no ping after the close


async def test_a_provider_that_does_not_answer_is_closed_with_1011():
    async with provider(answers_pings=False) as url:
        upstream = await open_upstream(
            UpstreamTarget(url=url, headers=()), options(interval=0.05, timeout=0.2)
        )
        await asyncio.wait_for(upstream.wait_closed(), timeout=5)
        sent = upstream.protocol.close_sent
        assert sent is not None
        assert (sent.code, sent.reason) == (1011, "keepalive ping timeout")
