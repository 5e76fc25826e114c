"""GPT-Live and realtime translation through real Daphne and uvicorn processes,
against the fake upstream; the `openai` SDK's own `live` client included."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
from decimal import Decimal

import pytest
from openai import AsyncOpenAI
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from realtime.models import ModelPrice
from tests.support.clients import receive_event, wait_for_row
from tests.support.prices import gpt_live_list_price
from tests.support.processes import GatewayLauncher

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

START = {"type": "session.start", "session": {"model": "gpt-live-1"}}


@pytest.fixture(scope="module")
def servers(gateway_env, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("live")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        yield {name: launcher.start(server=name) for name in ("daphne", "uvicorn")}


@pytest.fixture
async def live_price():
    await gpt_live_list_price()


def _credential(place: str, token: str) -> tuple[str, dict, list[str] | None]:
    """(query, headers, subprotocols) presenting `token` at `place`."""
    if place == "header":
        return "", {"Authorization": f"Bearer {token}"}, None
    if place == "subprotocol":
        return "", {}, [f"openai-insecure-api-key.{token}"]
    return f"?api_key={token}", {}, None


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
@pytest.mark.parametrize("place", ["header", "subprotocol", "query"])
async def test_a_live_session_with_the_key_in_any_place(
    servers, fake_upstream, issue, live_price, server, place
):
    issued = await issue(fake_upstream.url, models=("gpt-live-1",))
    query, headers, subprotocols = _credential(place, issued.token)
    url = f"ws://127.0.0.1:{servers[server].port}/v1/live/sessions{query}"
    async with connect(
        url, additional_headers=headers, subprotocols=subprotocols, open_timeout=10
    ) as ws:
        await ws.send(json.dumps(START))
        assert (await receive_event(ws))["type"] == "session.started"
        await ws.send(json.dumps({"type": "session.close"}))
        closed = await receive_event(ws)
    row = await wait_for_row(virtual_key_name=issued.name)
    [handshake] = fake_upstream.handshakes
    assert (handshake.path, handshake.query_items) == ("/v1/live/sessions", ())
    assert closed["type"] == "session.closed"
    assert (row.interface, row.active_seconds) == ("live", closed["usage"]["seconds"])
    assert row.cost_usd is not None


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_the_openai_sdk_live_client_through_the_gateway(
    servers, fake_upstream, issue, live_price, server
):
    issued = await issue(fake_upstream.url, models=("gpt-live-1",))
    client = AsyncOpenAI(
        api_key=issued.token,
        base_url=f"http://127.0.0.1:{servers[server].port}/v1",
        websocket_base_url=f"ws://127.0.0.1:{servers[server].port}/v1",
    )
    audio = base64.b64encode(b"\0\0" * 4800).decode()
    kinds = []
    async with asyncio.timeout(20), client.live.connect() as conn:
        await conn.session.start(session={"model": "gpt-live-1"})
        await conn.session.input_audio.append(audio=audio)
        await conn.session.close()
        async for event in conn:
            kinds.append(event.type)
            if event.type == "session.closed":
                usage = event.usage
                break
    assert kinds[:2] == ["session.started", "session.output_audio.delta"]
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.interface, row.model, row.status) == ("live", "gpt-live-1", "finished")
    assert row.active_seconds == usage.seconds
    expected = Decimal(str(usage.seconds)) / 60 * Decimal("0.05")
    assert row.cost_usd == expected.quantize(Decimal("0.000001"))


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_the_sdk_meets_a_refused_model(servers, fake_upstream, issue, server):
    issued = await issue(fake_upstream.url, models=("gpt-live-1",))
    client = AsyncOpenAI(
        api_key=issued.token,
        websocket_base_url=f"ws://127.0.0.1:{servers[server].port}/v1",
    )
    async with asyncio.timeout(20), client.live.connect(max_retries=0) as conn:
        await conn.session.start(session={"model": "gpt-live-9"})
        event = await conn.recv()
    assert event.type == "error"
    assert (event.error.code, event.event_id[:6]) == ("model_not_allowed", "event_")
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code, row.model) == ("rejected", 4403, "gpt-live-9")
    assert "session.start" not in fake_upstream.client_events


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_a_vanished_client_gets_its_live_session_closed_upstream(
    servers, fake_upstream, issue, live_price, server
):
    issued = await issue(fake_upstream.url)
    url = f"ws://127.0.0.1:{servers[server].port}/v1/live/sessions"
    ws = await connect(
        url, additional_headers={"Authorization": f"Bearer {issued.token}"}
    )
    await ws.send(json.dumps(START))
    assert (await receive_event(ws))["type"] == "session.started"
    ws.transport.abort()  # no close frame
    row = await wait_for_row(virtual_key_name=issued.name)
    await fake_upstream.wait_closed_count(1, timeout=10)
    assert fake_upstream.client_events[-1] == "session.close"
    [billed] = fake_upstream.usage_sent
    assert (row.close_code, row.active_seconds) == (1006, billed["seconds"])


async def test_uvicorn_refuses_gpt_live_for_a_provider_without_it(servers, issue):
    issued = await issue("ws://127.0.0.1:9/ws", kind="google", slug="gemini")
    url = f"ws://127.0.0.1:{servers['uvicorn'].port}/v1/live/sessions"
    with pytest.raises(InvalidStatus) as refused:
        await connect(
            url, additional_headers={"Authorization": f"Bearer {issued.token}"}
        )
    response = refused.value.response
    assert response.status_code == 400
    assert json.loads(response.body)["error"]["code"] == "interface_not_served"


async def test_delegated_tokens_are_billed_as_the_backend_model(
    servers, fake_upstream, issue, live_price
):
    """gpt-live-1 has no token rates: the delegated Responses tokens cost the
    backend model's (`session.delegation.responses.model`)."""
    await ModelPrice.objects.acreate(
        provider_kind="openai",
        model="gpt-5.5",
        effective_from=datetime.date(2020, 1, 1),
        input_text_per_mtok=Decimal(5),
        output_text_per_mtok=Decimal(40),
    )
    issued = await issue(fake_upstream.url, models=("gpt-live-1", "gpt-5.5"))
    url = f"ws://127.0.0.1:{servers['daphne'].port}/v1/live/sessions"
    delegation = {"type": "responses", "responses": {"model": "gpt-5.5"}}
    start = {
        "type": "session.start",
        "session": {**START["session"], "delegation": delegation},
    }
    headers = {"Authorization": f"Bearer {issued.token}"}
    async with connect(url, additional_headers=headers, open_timeout=10) as ws:
        await ws.send(json.dumps(start))
        assert (await receive_event(ws))["type"] == "session.started"
        delegate = {"type": "fake.delegate", "input_tokens": 1000, "output_tokens": 500}
        await ws.send(json.dumps(delegate))
        await ws.send(json.dumps({"type": "session.close"}))
        while (closed := await receive_event(ws))["type"] != "session.closed":
            pass
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.model, row.input_tokens, row.output_tokens) == ("gpt-live-1", 1000, 500)
    session_time = Decimal(str(closed["usage"]["seconds"])) / 60 * Decimal("0.05")
    tokens = Decimal("0.005") + Decimal("0.02")  # 1,000 in at $5, 500 out at $40
    assert row.cost_usd == session_time.quantize(Decimal("0.000001")) + tokens
