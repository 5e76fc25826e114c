"""A gateway process ending: gracefully (SIGTERM) or not (SIGKILL, then restart)."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.clients import (
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


async def test_sigterm_tells_clients_and_finalises_rows(
    gateway_process, fake_upstream, issue
):
    gateway = gateway_process(server="daphne")  # its drain: event and 4001
    issued = await issue(fake_upstream.url)
    ws = await open_client(gateway.ws_url, token=issued.token)
    await receive_event(ws)
    await ws.send(json.dumps({"type": "fake.echo"}))
    await receive_event(ws)

    stopping = asyncio.get_running_loop().run_in_executor(None, gateway.stop)
    await expect_refusal(ws, code=4001, error_code="gateway_shutting_down")
    assert await stopping is not None  # the process exited
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("finished", 4001)
    assert (row.messages_from_client, row.messages_from_upstream) == (1, 2)
    await fake_upstream.wait_closed_count(1)
    assert fake_upstream.closed[0][0] == 1001


async def test_rows_of_a_killed_process_are_interrupted_on_restart(
    gateway_process, fake_upstream, issue
):
    overrides = {
        "GATEWAY_INSTANCE": "gateway-under-test",
        "GATEWAY_CHECKPOINT_SECONDS": "0.2",
    }
    gateway = gateway_process(env_overrides=overrides)
    issued = await issue(fake_upstream.url)
    ws = await open_client(gateway.ws_url, token=issued.token)
    await receive_event(ws)
    await ws.send(json.dumps({"type": "fake.echo"}))
    await receive_event(ws)
    await asyncio.sleep(0.6)  # let a checkpoint (every 0.2 s) record the echo
    gateway.process.kill()
    gateway.process.wait(10)

    restarted = gateway_process(env_overrides=overrides)
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.gateway_instance) == (
        "interrupted",
        "gateway-under-test",
    )
    assert (row.messages_from_client, row.messages_from_upstream) == (1, 2)
    assert row.ended_at == row.checkpointed_at
    ws = await open_client(restarted.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    await ws.close()
    restarted.stop()
    assert "interrupted" in restarted.log()
