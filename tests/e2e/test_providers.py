"""Every provider end to end through Daphne, against protocol-faithful fakes."""

from __future__ import annotations

import asyncio
import base64
import datetime
import json
from decimal import Decimal

import pytest
from websockets.asyncio.client import connect

from realtime.models import ModelPrice, RealtimeSession
from realtime.testing import (
    FakeAzureRealtime,
    FakeCartesiaTTS,
    FakeElevenLabs,
    FakeGeminiLive,
    FakeRealtimeServer,
)
from tests.support.clients import (
    BIG,
    converse,
    expect_refusal,
    receive_event,
    wait_for_row,
)
from tests.support.events import USER_TEXT
from tests.support.keys import UPSTREAM_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

GEMINI_MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"


async def open_path(daphne, path: str, query: str = "", **options):
    """A client to the gateway at `path` (not only /v1/realtime)."""
    url = f"ws://127.0.0.1:{daphne.port}{path}" + (f"?{query}" if query else "")
    return await connect(url, max_size=BIG, open_timeout=10, **options)


def bearer(token: str) -> dict:
    return {"additional_headers": {"Authorization": f"Bearer {token}"}}


async def receive_any(ws, timeout: float = 10) -> dict:
    """The next JSON message, whether the frame is text or binary."""
    async with asyncio.timeout(timeout):
        frame = await ws.recv()
    return json.loads(frame)


# --- Azure OpenAI ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("style", "path"),
    [
        ("ga", "/v1/realtime"),
        ("preview", "/v1/realtime"),
        ("ga", "/openai/v1/realtime"),
    ],
)
async def test_azure(daphne, issue, style, path):
    async with FakeAzureRealtime(
        api_key=UPSTREAM_SECRET, deployments=["rt-prod"]
    ) as azure:
        issued = await issue(
            azure.base_url,
            kind="azure",
            slug="azure",
            options={
                "api_style": style,
                "api_version": "2025-04-01-preview",
                "deployments": {"gpt-realtime": "rt-prod"},
            },
        )
        ws = await open_path(daphne, path, "model=gpt-realtime", **bearer(issued.token))
        assert (await receive_event(ws))["type"] == "session.created"
        await converse(ws)
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = azure.handshakes[0]
    assert azure.deployments_used == ["rt-prod"]
    assert handshake.header("api-key") == UPSTREAM_SECRET
    assert handshake.header("authorization") is None
    if style == "preview":
        assert handshake.path == "/openai/realtime"
        assert handshake.query["api-version"] == "2025-04-01-preview"
    else:
        assert handshake.path == "/openai/v1/realtime"
        assert "api-version" not in handshake.query
    assert (row.status, row.model) == ("finished", "gpt-realtime")
    assert row.total_tokens == azure.usage_sent[0]["total_tokens"]


# --- Google Gemini Live -----------------------------------------------------------


async def gemini_turn(ws, text: str) -> list[dict]:
    await ws.send(
        json.dumps(
            {
                "clientContent": {
                    "turns": [{"role": "user", "parts": [{"text": text}]}],
                    "turnComplete": True,
                }
            }
        )
    )
    messages = []
    while not messages or "usageMetadata" not in messages[-1]:
        messages.append(await receive_any(ws))
    return messages


@pytest.fixture
async def prices():
    """List prices for the models these tests use (seeds are flushed between
    transactional tests, so each test that needs a price makes it)."""
    rates = {
        ("openai", "gpt-realtime*"): ("4.00", "16.00"),
        ("google", "gemini-2.5-flash-native-audio*"): ("0.50", "2.00"),
    }
    for (kind, model), (text_in, text_out) in rates.items():
        await ModelPrice.objects.acreate(
            provider_kind=kind,
            model=model,
            effective_from=datetime.date(2025, 1, 1),
            input_text_per_mtok=Decimal(text_in),
            output_text_per_mtok=Decimal(text_out),
        )


@pytest.mark.parametrize("path", ["/v1/realtime", "native"])
async def test_gemini_live(daphne, issue, prices, path):
    async with FakeGeminiLive(api_key=UPSTREAM_SECRET) as gemini:
        issued = await issue(gemini.url, kind="google", slug="gemini")
        if path == "native":
            path = (
                "/ws/google.ai.generativelanguage.v1beta."
                "GenerativeService.BidiGenerateContent"
            )
        # The client names a model in the query too: it must not reach Gemini.
        ws = await open_path(
            daphne,
            path,
            f"model={GEMINI_MODEL}",
            additional_headers={"x-goog-api-key": issued.token},
        )
        setup = {
            "setup": {
                "model": f"models/{GEMINI_MODEL}",
                "generationConfig": {"responseModalities": ["TEXT"]},
            }
        }
        await ws.send(json.dumps(setup))
        assert "setupComplete" in await receive_any(ws)
        await gemini_turn(ws, "hello there")
        await gemini_turn(ws, "and again")
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = gemini.handshakes[0]
    assert "model" not in handshake.query and "key" not in handshake.query
    assert handshake.header("x-goog-api-key") == UPSTREAM_SECRET
    sent = gemini.usage_sent
    assert len(sent) == 2
    assert row.model == GEMINI_MODEL
    assert row.responses == 2
    assert row.input_tokens == sum(u.get("promptTokenCount", 0) for u in sent)
    assert row.output_tokens == sum(u.get("responseTokenCount", 0) for u in sent)
    assert row.total_tokens == sum(u["totalTokenCount"] for u in sent)
    assert row.cost_usd is not None and row.cost_usd > 0  # a seeded price


async def test_gemini_model_outside_the_allow_list(daphne, issue):
    async with FakeGeminiLive(api_key=UPSTREAM_SECRET) as gemini:
        issued = await issue(
            gemini.url, kind="google", slug="gemini", models=("gemini-live-*",)
        )
        ws = await open_path(
            daphne, "/v1/realtime", additional_headers={"x-goog-api-key": issued.token}
        )
        await ws.send(json.dumps({"setup": {"model": f"models/{GEMINI_MODEL}"}}))
        await expect_refusal(ws, code=4403, error_code="model_not_allowed")
        row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code, row.model) == ("rejected", 4403, GEMINI_MODEL)
    assert gemini.setups == []  # the setup never reached Gemini


# --- Cartesia -------------------------------------------------------------------


async def test_cartesia(daphne, issue):
    async with FakeCartesiaTTS(api_key=UPSTREAM_SECRET) as cartesia:
        issued = await issue(cartesia.url, kind="cartesia", slug="cartesia")
        ws = await open_path(
            daphne,
            "/tts/websocket",
            "cartesia_version=2025-04-16",
            additional_headers={"X-API-Key": issued.token},
        )
        transcript = "Hello, world! I'm generating audio through the gateway."
        await ws.send(
            json.dumps(
                {
                    "model_id": "sonic-2",
                    "transcript": transcript,
                    "voice": {"mode": "id", "id": "a0e99841-438c-4a64-b679"},
                    "context_id": "ctx-1",
                    "output_format": {
                        "container": "raw",
                        "encoding": "pcm_s16le",
                        "sample_rate": 16000,
                    },
                    "continue": False,
                }
            )
        )
        chunks = 0
        while (message := await receive_any(ws))["type"] != "done":
            chunks += message["type"] == "chunk"
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = cartesia.handshakes[0]
        audio_seconds = cartesia.audio_seconds_sent
    assert handshake.header("x-api-key") == UPSTREAM_SECRET
    assert handshake.query["cartesia_version"] == "2025-04-16"
    assert (row.model, row.responses) == ("sonic-2", 1)
    assert row.characters == len(transcript)
    assert row.audio_chunks == chunks > 0
    assert row.audio_seconds == pytest.approx(audio_seconds)


# --- ElevenLabs -------------------------------------------------------------------


@pytest.mark.parametrize("native_path", [False, True])
async def test_elevenlabs_text_to_speech(daphne, issue, native_path):
    async with FakeElevenLabs(api_key=UPSTREAM_SECRET) as eleven:
        issued = await issue(eleven.url, kind="elevenlabs", slug="eleven")
        query = "model_id=eleven_flash_v2_5&output_format=pcm_16000"
        if native_path:
            path = "/v1/text-to-speech/voice123/stream-input"
        else:
            path, query = "/v1/realtime", f"voice_id=voice123&{query}"
        # A browser: the key as the provider's own header, as a subprotocol.
        ws = await open_path(
            daphne, path, query, subprotocols=["realtime", f"xi-api-key.{issued.token}"]
        )
        assert ws.subprotocol == "realtime"
        for text in (" ", "Hello from ", "the gateway. ", ""):
            await ws.send(json.dumps({"text": text}))  # "" ends the input
        audio_messages = 0
        while not (message := await receive_any(ws)).get("isFinal"):
            audio_messages += bool(message.get("audio"))
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = eleven.handshakes[0]
        audio_seconds = eleven.audio_seconds_sent
    assert handshake.path == "/v1/text-to-speech/voice123/stream-input"
    assert handshake.query == {
        "model_id": "eleven_flash_v2_5",
        "output_format": "pcm_16000",
    }
    assert handshake.header("xi-api-key") == UPSTREAM_SECRET
    assert handshake.subprotocols == ()
    assert row.model == "eleven_flash_v2_5"
    assert row.characters == len("Hello from the gateway. ")
    assert row.audio_chunks == audio_messages > 0
    assert row.audio_seconds == pytest.approx(audio_seconds)


async def test_elevenlabs_agent(daphne, issue):
    async with FakeElevenLabs(api_key=UPSTREAM_SECRET) as eleven:
        issued = await issue(eleven.url, kind="elevenlabs", slug="eleven")
        ws = await open_path(
            daphne,
            "/v1/convai/conversation",
            "agent_id=agent-7",
            additional_headers={"xi-api-key": issued.token},
        )
        first = await receive_any(ws)
        assert first["type"] == "conversation_initiation_metadata"
        await ws.send(json.dumps({"type": "user_message", "text": "Hi agent"}))
        # A reply is agent_response, its audio, then a ping: read all of it.
        seen, audio_bytes = [], 0
        while "agent_response" not in seen or seen[-1] != "ping":
            message = await receive_any(ws)
            seen.append(message["type"])
            if message["type"] == "audio":
                audio = message["audio_event"]["audio_base_64"]
                audio_bytes += len(base64.b64decode(audio))
            if message["type"] == "ping":
                event_id = message["ping_event"]["event_id"]
                await ws.send(json.dumps({"type": "pong", "event_id": event_id}))
        assert "audio" in seen
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
    assert row.model == "agent:agent-7"
    assert row.responses >= 1
    assert row.audio_chunks >= 1
    # What reached the client (pcm_16000: 32,000 bytes a second) is what counts.
    assert row.audio_seconds == pytest.approx(audio_bytes / 32_000)


async def test_elevenlabs_without_voice_or_agent_is_a_bad_request(daphne, issue):
    async with FakeElevenLabs(api_key=UPSTREAM_SECRET) as eleven:
        issued = await issue(eleven.url, kind="elevenlabs", slug="eleven")
        ws = await open_path(daphne, "/v1/realtime", **bearer(issued.token))
        await expect_refusal(ws, code=4400, error_code="invalid_request")
        assert eleven.handshakes == []


# --- OpenAI: beta clients on the GA upstream, and cost ------------------------------


async def test_beta_client_is_translated_to_ga(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    ws = await open_path(
        daphne,
        "/v1/realtime",
        "model=gpt-realtime",
        additional_headers={
            "Authorization": f"Bearer {issued.token}",
            "OpenAI-Beta": "realtime=v1",
        },
    )
    created = await receive_event(ws)
    assert created["type"] == "session.created"
    assert "modalities" in created["session"]  # the beta shape
    await ws.send(
        json.dumps(
            {
                "type": "session.update",
                "session": {"modalities": ["text"], "instructions": "Be brief."},
            }
        )
    )
    updated = await receive_event(ws)
    assert updated["type"] == "session.updated"
    assert updated["session"]["modalities"] == ["text"]
    await ws.send(json.dumps(USER_TEXT))
    await ws.send(json.dumps({"type": "response.create"}))
    types = []
    while not types or types[-1] != "response.done":
        types.append((await receive_event(ws))["type"])
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert "conversation.item.created" in types
    assert "response.text.delta" in types and "response.output_text.delta" not in types
    # The GA upstream saw a GA handshake and a GA session.update.
    assert fake_upstream.handshakes[0].header("openai-beta") is None
    assert row.total_tokens == fake_upstream.usage_sent[0]["total_tokens"]


async def test_a_priced_model_gets_a_cost(daphne, issue, prices):
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as upstream:
        issued = await issue(upstream.url)
        ws = await open_path(
            daphne, "/v1/realtime", "model=gpt-realtime", **bearer(issued.token)
        )
        await receive_event(ws)
        await converse(ws)
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        usage = upstream.usage_sent[0]
    text_in = usage["input_token_details"]["text_tokens"]
    text_out = usage["output_token_details"]["text_tokens"]
    # gpt-realtime list price: $4 per 1M text tokens in, $16 out (seeded).
    expected = (Decimal(text_in) * 4 + Decimal(text_out) * 16) / 1_000_000
    assert row.cost_usd == expected.quantize(Decimal("0.000001"))
    assert await RealtimeSession.objects.filter(cost_usd__isnull=False).acount() == 1
