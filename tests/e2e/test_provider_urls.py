"""Provider URLs pasted as the providers document them, end to end through Daphne.

Each provider row holds the full endpoint, path and query included; the fakes
record every query parameter, so a doubled path or a parameter sent twice shows.
(Rows holding a bare host, as saved before, are covered in test_providers.py.)
"""

from __future__ import annotations

import asyncio
import json

import pytest
from websockets.asyncio.client import connect

from realtime.testing import FakeAzureRealtime, FakeCartesiaTTS, FakeElevenLabs
from tests.support.clients import BIG, converse, receive_event, wait_for_row
from tests.support.keys import UPSTREAM_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


async def open_path(daphne, path: str, query: str, headers: dict):
    url = f"ws://127.0.0.1:{daphne.port}{path}" + (f"?{query}" if query else "")
    return await connect(url, max_size=BIG, open_timeout=10, additional_headers=headers)


async def receive_any(ws, timeout: float = 10) -> dict:
    async with asyncio.timeout(timeout):
        return json.loads(await ws.recv())


def sent_once(handshake) -> dict[str, str]:
    """The upstream query, checked to name every parameter once."""
    names = handshake.query_names()
    assert len(names) == len(set(names)), names
    return handshake.query


# --- Azure OpenAI: the portal's endpoints, GA and preview ---------------------------


@pytest.mark.parametrize(
    ("pasted", "path", "client", "upstream", "model"),
    [
        # The row records the model a deployment stands for: the one the
        # provider reports, mapped back through the `deployments` option.
        # GA: the URL names the deployment; a client that names none uses it.
        ("ga?model=rt-prod", "/v1/realtime", "", {"model": "rt-prod"}, "gpt-realtime"),
        # GA: the client's model (mapped) replaces the URL's, once.
        ("ga?model=rt-old", "/openai/v1/realtime", "model=gpt-realtime",
         {"model": "rt-prod"}, "gpt-realtime"),
        # Preview, as the portal shows it; a client that names nothing.
        ("preview?api-version=2025-04-01-preview&deployment=rt-prod", "/v1/realtime",
         "", {"api-version": "2025-04-01-preview", "deployment": "rt-prod"},
         "gpt-realtime"),
        # Preview with an Azure SDK client: its api-version and deployment win.
        ("preview?api-version=2025-04-01-preview&deployment=rt-old",
         "/openai/realtime", "api-version=2024-10-01-preview&deployment=rt-prod",
         {"api-version": "2024-10-01-preview", "deployment": "rt-prod"},
         "gpt-realtime"),
    ],
)  # fmt: skip
async def test_azure_pasted_endpoint(
    daphne, issue, pasted, path, client, upstream, model
):
    async with FakeAzureRealtime(
        api_key=UPSTREAM_SECRET, deployments=["rt-prod"]
    ) as azure:
        style, query = pasted.split("?")
        endpoint = azure.url if style == "ga" else azure.preview_url
        documented_path = endpoint.removeprefix(azure.base_url)
        issued = await issue(
            f"{endpoint}?{query}",
            kind="azure",
            slug="azure",
            options={"deployments": {"gpt-realtime": "rt-prod"}},
        )
        ws = await open_path(
            daphne, path, client, {"Authorization": f"Bearer {issued.token}"}
        )
        assert (await receive_event(ws))["type"] == "session.created"
        await converse(ws)
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = azure.handshakes[0]
    assert handshake.path == documented_path  # not doubled
    assert sent_once(handshake) == upstream
    assert (row.status, row.model) == ("finished", model)


# --- Cartesia: cartesia_version in the URL ---------------------------------------------


@pytest.mark.parametrize(
    ("client", "version"),
    [("", "2024-11-13"), ("cartesia_version=2025-04-16", "2025-04-16")],
)
async def test_cartesia_version_in_the_url(daphne, issue, client, version):
    async with FakeCartesiaTTS(api_key=UPSTREAM_SECRET) as cartesia:
        issued = await issue(
            f"{cartesia.url}?cartesia_version=2024-11-13",
            kind="cartesia",
            slug="cartesia",
        )
        ws = await open_path(
            daphne, "/tts/websocket", client, {"X-API-Key": issued.token}
        )
        await ws.send(
            json.dumps(
                {
                    "model_id": "sonic-2",
                    "transcript": "Hello.",
                    "voice": {"mode": "id", "id": "a0e99841"},
                    "context_id": "c1",
                    "output_format": {
                        "container": "raw",
                        "encoding": "pcm_s16le",
                        "sample_rate": 16000,
                    },
                }
            )
        )
        while (await receive_any(ws))["type"] != "done":
            pass
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = cartesia.handshakes[0]
    assert sent_once(handshake) == {"cartesia_version": version}
    assert (row.model, row.characters) == ("sonic-2", len("Hello."))


# --- ElevenLabs: a voice in the path, an agent in the query -----------------------------


async def test_elevenlabs_voice_in_the_url_serves_a_client_that_names_none(
    daphne, issue
):
    async with FakeElevenLabs(api_key=UPSTREAM_SECRET) as eleven:
        pasted = eleven.tts_url(
            "voice123", model_id="eleven_flash_v2_5", output_format="pcm_16000"
        )
        issued = await issue(pasted, kind="elevenlabs", slug="eleven")
        ws = await open_path(daphne, "/v1/realtime", "", {"xi-api-key": issued.token})
        for text in (" ", "Hello from the gateway. ", ""):
            await ws.send(json.dumps({"text": text}))
        while not (await receive_any(ws)).get("isFinal"):
            pass
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = eleven.handshakes[0]
        audio_seconds = eleven.audio_seconds_sent
    assert handshake.path == "/v1/text-to-speech/voice123/stream-input"
    assert sent_once(handshake) == {
        "model_id": "eleven_flash_v2_5",
        "output_format": "pcm_16000",
    }
    assert row.model == "eleven_flash_v2_5"  # named by the URL
    # Metered in the URL's output_format (pcm_16000), not the default mp3.
    assert audio_seconds > 0
    assert row.audio_seconds == pytest.approx(audio_seconds)


async def test_elevenlabs_agent_in_the_url(daphne, issue):
    async with FakeElevenLabs(api_key=UPSTREAM_SECRET) as eleven:
        issued = await issue(
            eleven.agent_url("agent-7"), kind="elevenlabs", slug="eleven"
        )
        ws = await open_path(
            daphne, "/v1/convai/conversation", "", {"xi-api-key": issued.token}
        )
        first = await receive_any(ws)
        assert first["type"] == "conversation_initiation_metadata"
        await ws.close()
        row = await wait_for_row(virtual_key_name=issued.name)
        handshake = eleven.handshakes[0]
    assert handshake.path == "/v1/convai/conversation"
    assert sent_once(handshake) == {"agent_id": "agent-7"}
    assert row.model == "agent:agent-7"
