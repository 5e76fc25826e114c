"""The same ASGI application under uvicorn: no Daphne-specific behaviour needed."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.clients import (
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)
from tests.support.processes import GatewayLauncher

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


@pytest.fixture(scope="module")
def uvicorn(gateway_env, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("uvicorn")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        yield launcher.start(server="uvicorn")


async def test_a_session_under_uvicorn(uvicorn, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    ws = await open_client(
        uvicorn.ws_url,
        headers={},
        subprotocols=["realtime", f"x-portkey-virtual-key.{issued.token}"],
    )
    assert ws.subprotocol == "realtime"
    assert (await receive_event(ws))["type"] == "session.created"
    await converse(ws)
    binary = bytes(range(256)) * 4096
    await ws.send(binary)
    async with asyncio.timeout(10):
        assert await ws.recv() == binary
    # uvicorn, unlike Daphne, carries close reasons: they are relayed too.
    await ws.send(json.dumps({"type": "fake.close", "code": 4000, "reason": "done"}))
    async with asyncio.timeout(10):
        await ws.wait_closed()
    assert (ws.close_code, ws.close_reason) == (4000, "done")
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code, row.close_reason) == ("finished", 4000, "done")
    assert row.total_tokens > 0


async def test_refusal_under_uvicorn(uvicorn, fake_upstream):
    ws = await open_client(uvicorn.ws_url, token="vk_" + "y" * 43)
    await expect_refusal(ws, code=4401, error_code="invalid_api_key")


async def test_sigterm_under_uvicorn_finalises_rows(
    gateway_process, fake_upstream, issue
):
    gateway = gateway_process(server="uvicorn")
    issued = await issue(fake_upstream.url)
    ws = await open_client(gateway.ws_url, token=issued.token)
    await receive_event(ws)
    stopping = asyncio.get_running_loop().run_in_executor(None, gateway.stop)
    async with asyncio.timeout(15):
        await ws.wait_closed()
    # uvicorn re-raises SIGTERM after its graceful shutdown (-15); -9 would
    # mean stop() had to kill it.
    assert await stopping in (0, -15)
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.status == "finished"
    assert row.close_code == 1012  # uvicorn's "service restart"
    await fake_upstream.wait_closed_count(1)
