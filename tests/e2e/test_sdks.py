"""Providers' own SDKs through a real gateway, changing only their base URL."""

from __future__ import annotations

import asyncio
import json

import pytest
from agents import set_tracing_disabled
from agents.realtime import RealtimeAgent, RealtimeRunner
from asgiref.sync import sync_to_async
from google import genai
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeErrorEvent
from websockets.exceptions import ConnectionClosedError, InvalidStatus

from keys import services as key_services
from keys.models import VirtualKey
from realtime.testing import FakeGeminiLive
from tests.support.certificates import self_signed
from tests.support.clients import wait_for_row
from tests.support.keys import UPSTREAM_SECRET
from tests.support.processes import GatewayLauncher

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

GEMINI_MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"

# The Agents SDK exports traces to OpenAI by default; tests stay on 127.0.0.1.
set_tracing_disabled(True)


async def test_openai_beta_realtime_client_speaks_to_a_ga_upstream(
    daphne, fake_upstream, issue
):
    """The SDK's retired beta client sends `OpenAI-Beta: realtime=v1` and beta
    events; the gateway translates both ways for the GA upstream."""
    issued = await issue(fake_upstream.url)
    client = AsyncOpenAI(
        api_key=issued.token, websocket_base_url=f"ws://127.0.0.1:{daphne.port}/v1"
    )
    deltas = []
    async with (
        asyncio.timeout(20),
        client.beta.realtime.connect(model="gpt-realtime") as conn,
    ):
        await conn.session.update(session={"modalities": ["text"]})
        await conn.conversation.item.create(
            item={
                "type": "message",
                "role": "user",
                "content": [{"type": "input_text", "text": "beta says hi"}],
            }
        )
        await conn.response.create()
        async for event in conn:
            if event.type == "response.text.delta":
                deltas.append(event.delta)
            if event.type == "response.done":
                usage = event.response.usage
                break
    assert "".join(deltas) == "You said: beta says hi"
    assert fake_upstream.handshakes[0].header("openai-beta") is None
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.total_tokens) == ("finished", usage.total_tokens)


@pytest.fixture(scope="module")
def tls_daphne(gateway_env, tmp_path_factory):
    """A gateway serving wss:// with a certificate for 127.0.0.1."""
    directory = tmp_path_factory.mktemp("tls")
    cert, key, context = self_signed(directory)
    with GatewayLauncher(gateway_env, log_dir=directory) as launcher:
        process = launcher.start(
            server="daphne", extra_args=("--tls-cert", cert, "--tls-key", key)
        )
        yield process, context


async def test_google_genai_sdk_holds_a_live_session(tls_daphne, issue):
    """google-genai always dials wss://, so this gateway serves TLS."""
    gateway, context = tls_daphne
    async with FakeGeminiLive(api_key=UPSTREAM_SECRET) as gemini:
        issued = await issue(gemini.url, kind="google", slug="gemini")
        client = genai.Client(
            api_key=issued.token,
            http_options={
                "base_url": f"https://127.0.0.1:{gateway.port}",
                "async_client_args": {"ssl": context},
            },
        )
        texts, usage = [], None
        async with (
            asyncio.timeout(20),
            client.aio.live.connect(
                model=GEMINI_MODEL, config={"response_modalities": ["TEXT"]}
            ) as session,
        ):
            await session.send_client_content(
                turns={"role": "user", "parts": [{"text": "hello gemini"}]},
                turn_complete=True,
            )
            async for message in session.receive():
                if message.text:
                    texts.append(message.text)
                if message.usage_metadata:
                    usage = message.usage_metadata
                if message.server_content and message.server_content.turn_complete:
                    break
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = gemini.handshakes[0]
    assert texts and usage is not None
    assert handshake.header("x-goog-api-key") == UPSTREAM_SECRET
    assert row.model == GEMINI_MODEL
    assert (row.input_tokens, row.total_tokens) == (
        usage.prompt_token_count,
        usage.total_token_count,
    )


async def _revoked_key(issue, upstream_url: str) -> str:
    issued = await issue(upstream_url, name="revoked")
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    return issued.token


async def test_agents_sdk_learns_why_uvicorn_refused_it(
    gateway_process, fake_upstream, issue
):
    """The Agents SDK's realtime session meets the refusal as it would meet
    OpenAI's: the HTTP status, with the provider-shaped JSON body."""
    gateway = gateway_process(server="uvicorn")
    revoked = await _revoked_key(issue, fake_upstream.url)
    cases = [
        ("vk_" + "q" * 43, 401, "invalid_api_key", "Invalid virtual key."),
        (revoked, 403, "key_revoked", "virtual key was revoked"),
    ]
    for token, status, code, message in cases:
        runner = RealtimeRunner(RealtimeAgent(name="assistant"))
        session = await runner.run(
            model_config={
                "url": f"{gateway.ws_url}?model=gpt-realtime",
                "api_key": token,
            }
        )
        with pytest.raises(InvalidStatus) as refused:
            async with asyncio.timeout(20), session:
                pass
        response = refused.value.response
        error = json.loads(response.body)["error"]
        assert (response.status_code, error["code"]) == (status, code)
        assert message in error["message"]
    assert fake_upstream.handshakes == []


async def test_openai_sdk_reads_daphnes_refusal_event(daphne, fake_upstream, issue):
    """Daphne cannot refuse with HTTP: the SDK reads a typed error event, then 4403."""
    token = await _revoked_key(issue, fake_upstream.url)
    client = AsyncOpenAI(
        api_key=token, websocket_base_url=f"ws://127.0.0.1:{daphne.port}/v1"
    )
    async with (
        asyncio.timeout(20),
        client.realtime.connect(model="gpt-realtime") as conn,
    ):
        event = await conn.recv()
        assert isinstance(event, RealtimeErrorEvent)
        RealtimeErrorEvent.model_validate(event.to_dict())  # strictly, event_id too
        assert event.error.code == "key_revoked"
        assert "revoked" in event.error.message
        with pytest.raises(ConnectionClosedError) as closed:
            await conn.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
    assert fake_upstream.handshakes == []
