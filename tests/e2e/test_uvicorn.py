"""The same ASGI application under uvicorn: no Daphne-specific behaviour needed."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from websockets.exceptions import InvalidStatus

from keys import services as key_services
from keys.models import VirtualKey
from realtime.models import RealtimeSession
from tests.support.clients import (
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)
from tests.support.openai_types import parse_error_body
from tests.support.processes import GatewayLauncher, free_port

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


async def _refused(url: str, **options) -> tuple[int, dict]:
    """The HTTP status and JSON body of a refused handshake."""
    with pytest.raises(InvalidStatus) as refused:
        await open_client(url, **options)
    response = refused.value.response
    assert response.headers["content-type"] == "application/json"
    body = json.loads(response.body)
    parse_error_body(body)
    return response.status_code, body["error"]


async def test_refusals_under_uvicorn_are_http_responses(uvicorn, fake_upstream, issue):
    """As OpenAI refuses a handshake: the status and its JSON error body."""
    revoked = await issue(fake_upstream.url, name="revoked")
    key = await VirtualKey.objects.aget(pk=revoked.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    limited = await issue(fake_upstream.url, name="limited", models=("gpt-other",))
    down = await issue(
        f"ws://127.0.0.1:{free_port()}/v1/realtime", name="down", slug="down"
    )

    status, error = await _refused(uvicorn.ws_url, token="vk_" + "y" * 43)
    assert (status, error["code"], error["message"]) == (
        401,
        "invalid_api_key",
        "Invalid virtual key.",
    )
    assert error["type"] == "invalid_request_error"
    status, error = await _refused(uvicorn.ws_url)
    assert (status, error["code"]) == (401, "missing_api_key")
    status, error = await _refused(uvicorn.ws_url, token=revoked.token)
    assert (status, error["code"]) == (403, "key_revoked")
    status, error = await _refused(uvicorn.ws_url, token=limited.token)
    assert (status, error["code"]) == (403, "model_not_allowed")
    status, error = await _refused(uvicorn.ws_url, token=down.token)
    assert (status, error["code"]) == (502, "upstream_unavailable")

    assert fake_upstream.handshakes == []
    failed = await wait_for_row(virtual_key_name="down")
    assert (failed.status, failed.close_code) == ("failed", 4502)
    rows = [
        r
        async for r in RealtimeSession.objects.filter(status="rejected").order_by(
            "virtual_key_name"
        )
    ]
    assert [(r.virtual_key_name, r.close_code) for r in rows] == [
        ("limited", 4403),
        ("revoked", 4403),
    ]
    assert "Exception in ASGI application" not in uvicorn.log()


@pytest.mark.parametrize("server", ["uvicorn", None], ids=["uvicorn", "no-flags"])
async def test_sigterm_under_uvicorn_finalises_rows(
    server, gateway_process, fake_upstream, issue
):
    """`rungateway` with no `--server` (what a newcomer runs) is uvicorn too."""
    gateway = gateway_process(server=server)
    assert "Realtime gateway (uvicorn)" in gateway.log()
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


async def test_after_accept_uvicorn_still_sends_event_then_close(
    uvicorn, fake_upstream, issue
):
    """Revoked mid-session: the WebSocket is open, so an error event and 4403."""
    issued = await issue(fake_upstream.url)
    ws = await open_client(uvicorn.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await expect_refusal(ws, code=4403, error_code="key_revoked")


@pytest.mark.parametrize("server", ["uvicorn", "plain-uvicorn"])
async def test_only_the_gateway_reads_x_forwarded_for(
    server, gateway_process, fake_upstream, issue
):
    """uvicorn's own proxy handling (on by default, trusting 127.0.0.1) is off:
    with no GATEWAY_TRUSTED_PROXIES a local client cannot claim an address."""
    gateway = gateway_process(server=server)
    issued = await issue(fake_upstream.url)
    ws = await open_client(
        gateway.ws_url,
        headers={
            "Authorization": f"Bearer {issued.token}",
            "X-Forwarded-For": "198.51.100.77",
        },
    )
    assert (await receive_event(ws))["type"] == "session.created"
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.client_address == "127.0.0.1"
