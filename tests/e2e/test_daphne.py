"""End to end through a real Daphne process (`manage.py rungateway`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from openai import AsyncOpenAI
from websockets.exceptions import ConnectionClosed

from keys import services as key_services
from keys.models import VirtualKey
from realtime.models import RealtimeSession
from tests.support.clients import (
    MODEL,
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)
from tests.support.keys import UPSTREAM_SECRET
from tests.support.processes import GatewayLauncher, free_port

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


@pytest.mark.parametrize(
    "mode", ["bearer", "x-portkey-virtual-key", "x-portkey-api-key", "query",
             "protocol", "openai-insecure-api-key"],
)  # fmt: skip
async def test_each_credential_mode(daphne, fake_upstream, issue, mode):
    issued = await issue(fake_upstream.url)
    options: dict = {"headers": {}}
    if mode == "bearer":
        options = {"token": issued.token}
    elif mode.startswith("x-portkey"):
        options["headers"] = {mode: issued.token}
    elif mode == "query":
        options["query"] = f"model={MODEL}&virtual_key={issued.token}"
    else:
        prefix = "x-portkey-virtual-key" if mode == "protocol" else mode
        options["subprotocols"] = ["realtime", f"{prefix}.{issued.token}"]
    ws = await open_client(daphne.ws_url, **options)
    assert ws.subprotocol == ("realtime" if "subprotocols" in options else None)
    assert (await receive_event(ws))["type"] == "session.created"
    events = await converse(ws)
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("finished", 1000)
    assert row.total_tokens == fake_upstream.usage_sent[0]["total_tokens"] > 0
    assert row.messages_from_upstream == 1 + len(events)
    handshake = fake_upstream.handshakes[0]
    assert handshake.header("authorization") == f"Bearer {UPSTREAM_SECRET}"
    assert handshake.query == {"model": MODEL}
    assert handshake.subprotocols == ()
    names = {name for name, _ in handshake.headers}
    assert not names & {"x-portkey-virtual-key", "x-portkey-api-key", "cookie"}


async def test_openai_sdk_holds_a_conversation(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    client = AsyncOpenAI(
        api_key=issued.token,
        base_url=f"{daphne.http_url}/v1",
        websocket_base_url=f"ws://127.0.0.1:{daphne.port}/v1",
    )
    text = []
    async with asyncio.timeout(20), client.realtime.connect(model=MODEL) as conn:
        await conn.session.update(
            session={"type": "realtime", "output_modalities": ["text"]}
        )
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "hi from the SDK"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_text.delta":
                text.append(event.delta)
            if event.type == "response.done":
                usage = event.response.usage
                break
    assert "".join(text) == "You said: hi from the SDK"
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.status == "finished"
    assert (row.input_tokens, row.output_tokens) == (
        usage.input_tokens,
        usage.output_tokens,
    )


async def test_binary_and_multi_megabyte_frames_both_ways(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await receive_event(ws)
    binary = bytes(range(256)) * (5 * 4096)  # 5 MiB
    await ws.send(binary)
    async with asyncio.timeout(20):
        assert await ws.recv() == binary
    text = json.dumps({"type": "fake.echo", "audio": "A" * (6 * 1024 * 1024)})
    await ws.send(text)
    async with asyncio.timeout(20):
        echoed = await ws.recv()
    assert isinstance(echoed, str) and echoed == text
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.bytes_from_client == len(binary) + len(text)
    assert row.status == "finished"


@pytest.mark.parametrize(
    ("sent", "relayed"), [(4000, 4000), (1011, 4011), (1000, 1000)]
)
async def test_upstream_close_codes_reach_the_client(
    daphne, fake_upstream, issue, sent, relayed
):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await receive_event(ws)
    await ws.send(json.dumps({"type": "fake.close", "code": sent, "reason": "bye"}))
    async with asyncio.timeout(10):
        await ws.wait_closed()
    assert ws.close_code == relayed
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.close_code == relayed


async def test_refusals_are_explained_then_closed(daphne, fake_upstream, issue):
    revoked = await issue(fake_upstream.url, name="revoked")
    key = await VirtualKey.objects.aget(pk=revoked.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    limited = await issue(fake_upstream.url, name="limited", models=("gpt-other",))

    ws = await open_client(daphne.ws_url, token="vk_" + "x" * 43)
    await expect_refusal(ws, code=4401, error_code="invalid_api_key")
    ws = await open_client(daphne.ws_url)
    await expect_refusal(ws, code=4401, error_code="missing_api_key")
    ws = await open_client(daphne.ws_url, token=revoked.token)
    await expect_refusal(ws, code=4403, error_code="key_revoked")
    ws = await open_client(daphne.ws_url, token=limited.token)
    await expect_refusal(ws, code=4403, error_code="model_not_allowed")

    assert fake_upstream.handshakes == []
    rows = [r async for r in RealtimeSession.objects.order_by("virtual_key_name")]
    assert [(r.virtual_key_name, r.status, r.close_code) for r in rows] == [
        ("limited", "rejected", 4403),
        ("revoked", "rejected", 4403),
    ]


async def test_upstream_down(daphne, issue):
    issued = await issue(f"ws://127.0.0.1:{free_port()}/v1/realtime")
    ws = await open_client(daphne.ws_url, token=issued.token)
    await expect_refusal(ws, code=4502, error_code="upstream_unavailable")
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("failed", 4502)


async def test_client_vanishing_finalises_the_row_and_closes_upstream(
    daphne, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await receive_event(ws)
    await ws.send(json.dumps({"type": "fake.echo"}))
    await receive_event(ws)
    ws.transport.abort()  # no close frame, just a dropped TCP connection
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.status == "finished"
    assert row.close_code == 1006
    assert row.messages_from_client == 1
    await fake_upstream.wait_closed_count(1, timeout=10)
    assert fake_upstream.closed[0][0] == 1001


async def test_no_secret_reaches_the_database_or_the_logs(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await receive_event(ws)
    await converse(ws)
    await ws.close()
    await wait_for_row(virtual_key_name=issued.name)
    wrong = issued.token[:-1] + ("Q" if issued.token[-1] != "Q" else "R")
    ws = await open_client(daphne.ws_url, token=wrong)
    await expect_refusal(ws, code=4401, error_code="invalid_api_key")

    stored = await sync_to_async(_dump_tables)()
    for secret in (UPSTREAM_SECRET, issued.token):
        assert secret not in stored
        assert secret not in daphne.log()
    assert "refused a handshake" in daphne.log()


def _dump_tables() -> str:
    with connection.cursor() as cursor:
        text = []
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')
            text.append(repr(cursor.fetchall()))
    database = connection.settings_dict["NAME"]
    if connection.vendor == "sqlite":  # the file itself, WAL included
        for suffix in ("", "-wal"):
            try:
                with open(f"{database}{suffix}", "rb") as handle:
                    text.append(handle.read().decode("latin-1"))
            except FileNotFoundError:
                pass
    return "\n".join(text)


def test_health_and_styled_admin_are_served(daphne):
    with urllib.request.urlopen(f"{daphne.http_url}/healthz", timeout=5) as response:
        assert json.load(response)["status"] == "ok"
    url = f"{daphne.http_url}/static/admin/css/base.css"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert b"body" in response.read()
    with urllib.request.urlopen(f"{daphne.http_url}/admin/login/", timeout=5) as page:
        assert b"admin/css/base.css" in page.read()


@pytest.fixture(scope="module")
def small_daphne(gateway_env, tmp_path_factory):
    """A Daphne process whose gateway limit is 64 KiB (so Daphne's is 1 MiB more)."""
    overrides = {"GATEWAY_MAX_MESSAGE_BYTES": str(64 * 1024)}
    log_dir = tmp_path_factory.mktemp("small")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        yield launcher.start(server="daphne", env_overrides=overrides)


async def test_over_the_limit_under_daphne(small_daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    ws = await open_client(small_daphne.ws_url, token=issued.token)
    await receive_event(ws)
    await ws.send("x" * (100 * 1024))  # over ours, under Daphne's: a clear refusal
    await expect_refusal(ws, code=4413, error_code="message_too_large")
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("finished", 4413)

    second = await issue(fake_upstream.url, name="second")
    ws = await open_client(small_daphne.ws_url, token=second.token)
    await receive_event(ws)
    # Over Daphne's own limit: it drops the connection (no close frame), maybe
    # while the client is still writing the frame.
    with contextlib.suppress(ConnectionClosed, OSError):
        await ws.send(b"x" * (2 * 1024 * 1024))
    async with asyncio.timeout(10):
        await ws.wait_closed()
    assert ws.close_code == 1006
    row = await wait_for_row(virtual_key_name="second")
    assert row.status == "finished"
