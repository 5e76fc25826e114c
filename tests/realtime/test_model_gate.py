"""Admission waits for the provider's model when an allow-listed key named none.

In-process (the ASGI application), against upstreams that do not report a
model: one silent, one chatty, one that closes first.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.server import ServerConnection, serve

from realtime.testing import FakeRealtimeServer
from tests.support.communicators import (
    expect_error_and_close,
    only_session,
    open_session,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

LISTED = ("gpt-realtime*",)


@asynccontextmanager
async def upstream_saying(frames: int) -> AsyncIterator[str]:
    """An upstream that sends `frames` events that name no model, then waits."""

    async def handler(connection: ServerConnection) -> None:
        for number in range(frames):
            await connection.send(
                json.dumps({"type": "rate_limits.updated", "n": number})
            )
        await connection.wait_closed()

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        yield f"ws://127.0.0.1:{port}/v1/realtime"


async def test_a_provider_that_never_reports_times_out(settings, issue):
    settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT = 0.3
    async with upstream_saying(0) as url:
        issued = await issue(url, models=LISTED)
        client = await open_session(issued.token, path="/v1/realtime")
        await expect_error_and_close(client, code=4504, error_code="upstream_timeout")
    row = await only_session()
    assert (row.status, row.close_code) == ("failed", 4504)


async def test_a_provider_that_reports_no_model_is_refused(issue):
    async with upstream_saying(40) as url:
        issued = await issue(url, models=LISTED)
        client = await open_session(issued.token, path="/v1/realtime")
        await expect_error_and_close(client, code=4403, error_code="model_not_allowed")
    row = await only_session()
    assert (row.status, row.close_code, row.model) == ("rejected", 4403, "")


async def test_a_provider_that_closes_first_is_relayed(issue):
    # The fake refuses a beta handshake with an error event and a 1008 close,
    # before any session.created: the client hears exactly that.
    async with FakeRealtimeServer() as upstream:
        issued = await issue(upstream.url, models=LISTED, options={"protocol": "beta"})
        client = await open_session(issued.token, path="/v1/realtime")
        event = await client.receive_json_from(timeout=5)
        assert event["type"] == "error"
        assert event["error"]["code"] == "beta_api_shape_disabled"
        closing = await client.receive_output(timeout=5)
        assert closing["type"] == "websocket.close" and closing["code"] == 4008
        await client.disconnect()
    row = await only_session()
    assert (row.close_code, row.messages_from_upstream) == (4008, 1)
