"""Short-lived tokens end to end: the official SDK mints one through a real
gateway with a virtual key; a client (the SDK, headless Chromium) connects with
it alone. The browser never holds the virtual key."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from openai import AsyncOpenAI
from openai.types.realtime import RealtimeSessionCreateResponse

from keys.models import EphemeralToken
from realtime.testing import FakeRealtimeServer
from tests.support.browser import chromium_page, require_browser
from tests.support.events import USER_TEXT
from tests.support.keys import UPSTREAM_SECRET

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

SESSION = {
    "type": "realtime",
    "model": "gpt-realtime",
    "instructions": "Answer in haiku.",
    "output_modalities": ["text"],
}
TURN = (json.dumps(USER_TEXT), json.dumps({"type": "response.create"}))


async def _mint(gateway, virtual_key: str, **options):
    """What an application's server does: mint with the SDK, base URL changed."""
    server = AsyncOpenAI(api_key=virtual_key, base_url=f"{gateway.http_url}/v1")
    async with asyncio.timeout(20):
        return await server.realtime.client_secrets.create(session=SESSION, **options)


def _saw_no_client_secret(fake: FakeRealtimeServer, *secrets: str) -> None:
    for handshake in fake.handshakes:
        assert handshake.header("authorization") == f"Bearer {UPSTREAM_SECRET}"
        assert handshake.subprotocols == ()
        for secret in secrets:
            assert secret not in repr(handshake)


async def test_the_sdk_mints_a_token_and_connects_with_it(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url, models=("gpt-realtime", "gpt-realtime-*"))
    secret = await _mint(
        daphne, issued.token, expires_after={"anchor": "created_at", "seconds": 120}
    )
    assert secret.value.startswith("ek_")
    assert isinstance(secret.session, RealtimeSessionCreateResponse)
    assert secret.session.model == "gpt-realtime"
    client = AsyncOpenAI(
        api_key=secret.value, websocket_base_url=f"ws://127.0.0.1:{daphne.port}/v1"
    )
    deltas = []
    async with asyncio.timeout(20), client.realtime.connect() as conn:  # no model
        created = await conn.recv()
        updated = await conn.recv()
        assert (created.type, updated.type) == ("session.created", "session.updated")
        assert updated.session.instructions == "Answer in haiku."
        await conn.conversation.item.create(item=USER_TEXT["item"])
        await conn.response.create()
        async for event in conn:
            if event.type == "response.output_text.delta":
                deltas.append(event.delta)
            if event.type == "response.done":
                break
    assert "".join(deltas)
    assert fake_upstream.client_events[0] == "session.update"
    assert fake_upstream.handshakes[0].query["model"] == "gpt-realtime"
    _saw_no_client_secret(fake_upstream, secret.value, issued.token)
    token_row = await EphemeralToken.objects.aget()
    assert token_row.virtual_key_id == issued.key_id
    log = daphne.log()
    assert secret.value not in log and issued.token not in log


@pytest.mark.browser
@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_a_browser_connects_with_a_minted_token(
    request, gateway_process, issue, server
):
    """OpenAI's browser form, `["realtime", "openai-insecure-api-key.ek_..."]`,
    with no model in the URL: the token names it."""
    require_browser()
    gateway = (
        request.getfixturevalue("daphne")
        if server == "daphne"
        else gateway_process(server="uvicorn")
    )
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as fake:
        issued = await issue(fake.url)
        secret = await _mint(gateway, issued.token)
        async with chromium_page(gateway.http_url) as page:
            seen = await page.open_socket(
                f"{gateway.ws_url}",
                ["realtime", f"openai-insecure-api-key.{secret.value}"],
                messages=TURN,
                until='"response.done"',
            )
        events = [json.loads(message) for message in seen.messages]
        client_events = list(fake.client_events)
        _saw_no_client_secret(fake, secret.value, issued.token)
    assert seen.opened and not seen.errored, seen
    assert seen.protocol == "realtime"
    assert [e["type"] for e in events[:2]] == ["session.created", "session.updated"]
    assert events[1]["session"]["instructions"] == "Answer in haiku."
    assert events[-1]["type"] == "response.done"
    assert client_events[:3] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    log = gateway.log()
    assert secret.value not in log and issued.token not in log


@pytest.mark.browser
async def test_a_browser_with_an_expired_token_reads_why(daphne, issue):
    require_browser()
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as fake:
        issued = await issue(fake.url)
        secret = await _mint(daphne, issued.token)
        await sync_to_async(_expire_tokens)()
        async with chromium_page(daphne.http_url) as page:
            seen = await page.open_socket(
                daphne.ws_url, ["realtime", f"openai-insecure-api-key.{secret.value}"]
            )
        assert fake.handshakes == []
    error = json.loads(seen.messages[0])
    assert (error["type"], error["error"]["code"]) == ("error", "token_expired")
    # Daphne has been seen (about once in twenty full runs, under load) to
    # drop the close frame of a connection it accepts and closes at once: the
    # page then sees 1006. Not understood yet; what the page needs, the error
    # event, arrived either way (asserted above).
    assert seen.close_code in (4401, 1006)


def _expire_tokens() -> None:
    EphemeralToken.objects.update(expires_at=timezone.now())
