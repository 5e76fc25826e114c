"""The session's model, wherever it is named or reported, through real Daphne.

The seed's flow (Portkey's example) connects without `?model=` and names the
model in `session.update`; the provider reports the model it runs in
`session.created` / `session.updated`. The row records and prices the latest;
the key's allow-list holds on each.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect

from realtime.models import ModelPrice
from realtime.testing import FakeElevenLabs, FakeGeminiLive, FakeRealtimeServer
from tests.support.clients import (
    BIG,
    converse,
    expect_refusal,
    receive_event,
    wait_for_row,
)
from tests.support.keys import UPSTREAM_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

DEFAULT = "gpt-4o-realtime-preview"  # the fake provider's default model
LISTED = ("gpt-realtime*",)


async def open_path(daphne, path: str = "/v1/realtime", query: str = "", **options):
    url = f"ws://127.0.0.1:{daphne.port}{path}" + (f"?{query}" if query else "")
    return await connect(url, max_size=BIG, open_timeout=10, **options)


def bearer(token: str) -> dict:
    return {"additional_headers": {"Authorization": f"Bearer {token}"}}


async def send(ws, event: dict) -> None:
    await ws.send(json.dumps(event))


def session_update(model: str) -> dict:
    return {"type": "session.update", "session": {"type": "realtime", "model": model}}


@pytest.fixture
async def prices():
    """$4 / $16 per 1M text tokens for gpt-realtime*, ten times that for the
    default, so the price shows which model was recorded."""
    for pattern, text_in, text_out in (
        ("gpt-realtime*", "4.00", "16.00"),
        (f"{DEFAULT}*", "40.00", "160.00"),
    ):
        await ModelPrice.objects.acreate(
            provider_kind="openai",
            model=pattern,
            effective_from=datetime.date(2025, 1, 1),
            input_text_per_mtok=Decimal(text_in),
            output_text_per_mtok=Decimal(text_out),
        )


async def test_session_update_model_recorded_and_priced(daphne, issue, prices):
    async with FakeRealtimeServer(
        api_key=UPSTREAM_SECRET, default_model=DEFAULT
    ) as upstream:
        issued = await issue(upstream.url)
        ws = await open_path(daphne, **bearer(issued.token))  # no ?model=
        created = await receive_event(ws)
        assert (created["type"], created["session"]["model"]) == (
            "session.created",
            DEFAULT,
        )
        await send(ws, session_update("gpt-realtime"))
        assert (await receive_event(ws))["type"] == "session.updated"
        await converse(ws)
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        usage = upstream.usage_sent[0]
    text_in = usage["input_token_details"]["text_tokens"]
    text_out = usage["output_token_details"]["text_tokens"]
    expected = (Decimal(text_in) * 4 + Decimal(text_out) * 16) / 1_000_000
    assert (row.status, row.model) == ("finished", "gpt-realtime")
    assert row.cost_usd == expected.quantize(Decimal("0.000001"))


async def test_the_reported_default_is_recorded_and_priced(daphne, issue, prices):
    async with FakeRealtimeServer(
        api_key=UPSTREAM_SECRET, default_model=DEFAULT
    ) as upstream:
        issued = await issue(upstream.url)
        ws = await open_path(daphne, **bearer(issued.token))
        await receive_event(ws)
        await converse(ws)
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        usage = upstream.usage_sent[0]
    text_in = usage["input_token_details"]["text_tokens"]
    text_out = usage["output_token_details"]["text_tokens"]
    expected = (Decimal(text_in) * 40 + Decimal(text_out) * 160) / 1_000_000
    assert row.model == DEFAULT
    assert row.cost_usd == expected.quantize(Decimal("0.000001"))


# --- a key with an allow-list, no model at the handshake -----------------------


async def test_a_default_outside_the_list_ends_with_4403_before_any_frame(
    daphne, issue
):
    async with FakeRealtimeServer(
        api_key=UPSTREAM_SECRET, default_model=DEFAULT
    ) as upstream:
        issued = await issue(upstream.url, models=LISTED)
        ws = await open_path(daphne, **bearer(issued.token))
        # The provider's session.created never reaches the client: the refusal
        # comes first, and the socket closes before the client could send.
        event = await expect_refusal(ws, code=4403, error_code="model_not_allowed")
        assert DEFAULT in event["error"]["message"]
        row = await wait_for_row(virtual_key_name=issued.name)
        assert len(upstream.handshakes) == 1
        assert upstream.client_events == []
    assert (row.status, row.close_code, row.model) == ("rejected", 4403, DEFAULT)


async def test_a_default_on_the_list_runs(daphne, issue):
    async with FakeRealtimeServer(
        api_key=UPSTREAM_SECRET, default_model="gpt-realtime"
    ) as upstream:
        issued = await issue(upstream.url, models=LISTED)
        ws = await open_path(daphne, **bearer(issued.token))
        created = await receive_event(ws)  # held back until checked, then sent
        assert created["type"] == "session.created"
        await converse(ws)
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.model) == ("finished", "gpt-realtime")
    assert row.messages_from_upstream >= 2  # session.created is counted


async def test_a_switch_outside_the_list_is_refused_and_not_forwarded(daphne, issue):
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as upstream:
        issued = await issue(upstream.url, models=LISTED)
        ws = await open_path(daphne, query="model=gpt-realtime", **bearer(issued.token))
        await receive_event(ws)
        await send(ws, session_update(DEFAULT))
        await expect_refusal(ws, code=4403, error_code="model_not_allowed")
        row = await wait_for_row(virtual_key_name=issued.name)
        assert upstream.client_events == []  # the session.update never left
    assert (row.status, row.model) == ("rejected", "gpt-realtime")


async def test_a_switch_inside_the_list_is_recorded(daphne, issue):
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as upstream:
        issued = await issue(upstream.url, models=LISTED)
        ws = await open_path(daphne, query="model=gpt-realtime", **bearer(issued.token))
        await receive_event(ws)
        await send(ws, session_update("gpt-realtime-mini"))
        updated = await receive_event(ws)
        assert updated["session"]["model"] == "gpt-realtime-mini"
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.model) == ("finished", "gpt-realtime-mini")


async def test_the_provider_switching_to_a_model_off_the_list_ends_it(daphne, issue):
    async with FakeRealtimeServer(
        api_key=UPSTREAM_SECRET, default_model="gpt-realtime"
    ) as upstream:
        issued = await issue(upstream.url, models=LISTED)
        ws = await open_path(daphne, **bearer(issued.token))
        await receive_event(ws)
        await send(ws, {"type": "fake.switch_model", "model": DEFAULT})
        await expect_refusal(ws, code=4403, error_code="model_not_allowed")
        row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code, row.model) == ("rejected", 4403, DEFAULT)


# --- duplicate copies of a checked parameter: 4400, the upstream never dialled ---


async def test_a_model_sent_twice_is_refused_before_the_upstream(daphne, issue):
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as upstream:
        issued = await issue(upstream.url, models=LISTED)
        ws = await open_path(
            daphne,
            query=f"model=gpt-realtime&model={DEFAULT}",
            **bearer(issued.token),
        )
        await expect_refusal(ws, code=4400, error_code="duplicate_parameter")
        row = await wait_for_row(virtual_key_name=issued.name)
        assert upstream.handshakes == []
    assert (row.status, row.close_code, row.model) == ("rejected", 4400, "")


async def test_a_voice_in_the_path_and_the_query_is_refused(daphne, issue):
    async with FakeElevenLabs(api_key=UPSTREAM_SECRET) as eleven:
        issued = await issue(eleven.url, kind="elevenlabs", slug="eleven")
        ws = await open_path(
            daphne,
            "/v1/text-to-speech/voice123/stream-input",
            "voice_id=other&model_id=eleven_flash_v2_5",
            additional_headers={"xi-api-key": issued.token},
        )
        await expect_refusal(ws, code=4400, error_code="duplicate_parameter")
        assert eleven.handshakes == []


# --- Gemini clients may send their JSON as binary frames --------------------------

GEMINI_MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"


@pytest.mark.parametrize("listed", [True, False])
async def test_a_binary_setup_is_checked_and_recorded(daphne, issue, listed):
    async with FakeGeminiLive(api_key=UPSTREAM_SECRET) as gemini:
        models = ("gemini-2.5-*",) if listed else ("gemini-live-*",)
        issued = await issue(gemini.url, kind="google", slug="gemini", models=models)
        ws = await open_path(
            daphne, additional_headers={"x-goog-api-key": issued.token}
        )
        setup = {"setup": {"model": f"models/{GEMINI_MODEL}"}}
        await ws.send(json.dumps(setup).encode())
        if listed:
            async with asyncio.timeout(10):
                assert "setupComplete" in json.loads(await ws.recv())
            await ws.close()
        else:
            await expect_refusal(ws, code=4403, error_code="model_not_allowed")
        row = await wait_for_row(virtual_key_name=issued.name)
        setups = gemini.setups
    assert row.model == GEMINI_MODEL
    assert row.status == ("finished" if listed else "rejected")
    assert len(setups) == (1 if listed else 0)
