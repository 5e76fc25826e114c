"""Sessions opened with a short-lived token, through the real ASGI application:
every key place, the bound model and configuration, expiry and revocation."""

from __future__ import annotations

import asyncio
import datetime
import json
from types import SimpleNamespace

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone

import realtime.keycache
from keys import services as key_services
from keys.models import EphemeralToken, VirtualKey
from realtime.testing import FakeRealtimeServer
from tests.support.communicators import (
    expect_error_and_close,
    only_session,
    open_session,
    read_until,
)
from tests.support.events import USER_TEXT
from tests.support.keys import BOUND_SESSION, UPSTREAM_SECRET, mint_token

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(20)]

BARE = "/v1/realtime"


async def _mint(virtual_key: str, **options) -> str:
    return await sync_to_async(mint_token)(virtual_key, **options)


def assert_upstream_saw_no_client_secret(fake: FakeRealtimeServer, *secrets: str):
    """The fake saw the provider credential only: no key, no token, anywhere."""
    for handshake in fake.handshakes:
        assert handshake.header("authorization") == f"Bearer {UPSTREAM_SECRET}"
        seen = repr((handshake.path, handshake.query_items, handshake.headers))
        seen += repr(handshake.subprotocols)
        for secret in secrets:
            assert secret not in seen


async def test_the_bound_configuration_is_applied_before_the_first_client_frame(
    fake_upstream, issue
):
    """No `?model=`: the token's model is dialled; its configuration reaches
    the provider first, and the client reads the provider's reply."""
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    session = await open_session(token, path=BARE)
    await session.send_json_to(USER_TEXT)  # as early as a client can
    await session.send_json_to({"type": "response.create"})
    events = await read_until(session, "response.done")
    assert [e["type"] for e in events[:2]] == ["session.created", "session.updated"]
    updated = events[1]["session"]
    assert updated["instructions"] == BOUND_SESSION["instructions"]
    await session.disconnect(code=1000)
    assert fake_upstream.client_events[:3] == [
        "session.update",
        "conversation.item.create",
        "response.create",
    ]
    assert fake_upstream.handshakes[0].query["model"] == "gpt-realtime"
    assert_upstream_saw_no_client_secret(fake_upstream, token, issued.token)
    row = await only_session()
    assert (row.virtual_key_id, row.model) == (issued.key_id, "gpt-realtime")
    assert row.messages_from_client == 2  # the gateway's own frame is not the client's


@pytest.mark.parametrize(
    ("place", "value"),
    [
        ("header", "authorization"),
        ("header", "x-portkey-api-key"),
        ("header", "x-portkey-virtual-key"),
        ("subprotocol", "openai-insecure-api-key"),
        ("subprotocol", "x-portkey-api-key"),
        ("subprotocol", "x-portkey-virtual-key"),
        ("query", "api_key"),
        ("query", "virtual_key"),
    ],
)
async def test_a_token_works_in_every_key_place(fake_upstream, issue, place, value):
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    headers, subprotocols, path = [], None, BARE
    if place == "header":
        scheme = "Bearer " if value == "authorization" else ""
        headers = [(value.encode(), f"{scheme}{token}".encode())]
    elif place == "subprotocol":
        subprotocols = ["realtime", f"{value}.{token}"]
    else:
        path = f"{BARE}?{value}={token}"
    session = await open_session(path=path, headers=headers, subprotocols=subprotocols)
    assert (await session.receive_json_from())["type"] == "session.created"
    assert (await session.receive_json_from())["type"] == "session.updated"
    if subprotocols:
        assert session.subprotocol == "realtime"
    await session.disconnect(code=1000)
    assert_upstream_saw_no_client_secret(fake_upstream, token, issued.token)


async def test_the_same_model_may_be_named(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    session = await open_session(token, path=f"{BARE}?model=gpt-realtime")
    assert (await session.receive_json_from())["type"] == "session.created"
    await session.disconnect(code=1000)


async def test_another_model_at_the_handshake_is_4403(fake_upstream, issue):
    issued = await issue(fake_upstream.url)  # the key itself allows any model
    token = await _mint(issued.token)
    session = await open_session(token, path=f"{BARE}?model=gpt-realtime-mini")
    await expect_error_and_close(session, code=4403, error_code="model_not_allowed")
    assert fake_upstream.handshakes == []


async def test_the_client_cannot_switch_to_another_model(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    session = await open_session(token, path=BARE)
    await read_until(session, "session.updated")
    switch = {"type": "session.update", "session": {"model": "gpt-realtime-mini"}}
    await session.send_json_to(switch)
    await expect_error_and_close(session, code=4403, error_code="model_not_allowed")
    await fake_upstream.wait_closed_count(1)
    assert fake_upstream.client_events == ["session.update"]  # the bound one only


async def test_the_client_may_override_the_rest_of_the_configuration(
    fake_upstream, issue
):
    """As with OpenAI's client secrets, only the model is locked."""
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    session = await open_session(token, path=BARE)
    await read_until(session, "session.updated")
    change = {"type": "session.update", "session": {"instructions": "Be terse."}}
    await session.send_json_to(change)
    updated = await session.receive_json_from()
    assert updated["session"]["instructions"] == "Be terse."
    await session.disconnect(code=1000)


async def test_a_token_without_configuration_sends_nothing_first(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token, session={})
    session = await open_session(token)
    assert (await session.receive_json_from())["type"] == "session.created"
    await session.send_json_to(USER_TEXT)
    await read_until(session, "conversation.item.added")
    await session.disconnect(code=1000)
    assert fake_upstream.client_events == ["conversation.item.create"]


async def test_an_expired_token_is_4401_token_expired(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    # As if its ten minutes were over (a cached authorization of the token
    # expires with it: keys.ephemeral gives the identity the token's expiry).
    await EphemeralToken.objects.aupdate(expires_at=timezone.now())
    session = await open_session(token, path=BARE)
    event = await expect_error_and_close(session, code=4401, error_code="token_expired")
    assert "expired" in event["error"]["message"]
    assert token not in json.dumps(event)
    assert fake_upstream.handshakes == []


async def test_revoking_the_key_ends_its_tokens_sessions(
    fake_upstream, issue, settings
):
    """A live session opened with a token is the key's (the channel layer's
    announcement closes it); the token's cached authorization goes with it."""
    settings.GATEWAY_KEY_RECHECK_SECONDS = 60  # the announcement, not the re-check
    settings.GATEWAY_KEY_CACHE_SECONDS = 60
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    live = await open_session(token, path=BARE)
    await read_until(live, "session.updated")
    for _ in range(50):  # the revocation group is joined in the bridge task
        await asyncio.sleep(0.01)
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await expect_error_and_close(live, code=4403, error_code="key_revoked")
    again = await open_session(token, path=BARE)
    await expect_error_and_close(again, code=4403, error_code="key_revoked")
    assert len(fake_upstream.handshakes) == 1


async def test_a_key_revoked_behind_the_gateways_back_is_found_by_the_recheck(
    fake_upstream, issue, settings
):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.2
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token)
    live = await open_session(token, path=BARE)
    await read_until(live, "session.updated")
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    await expect_error_and_close(live, code=4403, error_code="key_revoked")


async def test_a_cached_authorization_ends_with_the_token(
    fake_upstream, issue, settings, process, monkeypatch
):
    settings.GATEWAY_KEY_CACHE_SECONDS = 3600
    issued = await issue(fake_upstream.url)
    token = await _mint(issued.token, seconds=10)
    session = await open_session(token, path=BARE)
    await session.disconnect(code=1000)
    cached = process.key_cache.get(token)
    assert cached is not None and cached.binding is not None
    row = await EphemeralToken.objects.aget()
    later = SimpleNamespace(now=lambda: row.expires_at + datetime.timedelta(seconds=1))
    monkeypatch.setattr(realtime.keycache, "timezone", later)
    assert process.key_cache.get(token) is None
