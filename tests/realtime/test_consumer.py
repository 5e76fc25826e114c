"""The bridge through the real ASGI application, against the fake upstream."""

from __future__ import annotations

import asyncio
import json

import pytest
from asgiref.sync import sync_to_async
from django.utils import timezone
from websockets.asyncio.server import serve as websockets_serve

from keys import services as key_services
from keys.models import Provider, VirtualKey
from realtime.models import RealtimeSession
from realtime.testing import FakeRealtimeServer
from tests.support.communicators import (
    PATH,
    expect_error_and_close,
    only_session,
    open_session,
    read_until,
)
from tests.support.events import USER_TEXT
from tests.support.keys import REFUSED_KEY_CASES, UPSTREAM_SECRET, refused_key
from tests.support.processes import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(20)]


async def test_conversation_is_bridged_and_its_usage_logged(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token, path=PATH + "&foo=bar&virtual_key=x")
    assert (await session.receive_json_from())["type"] == "session.created"
    for _ in range(2):
        await session.send_json_to(USER_TEXT)
        await session.send_json_to({"type": "response.create"})
        events = await read_until(session, "response.done")
        assert any(e["type"] == "response.output_text.delta" for e in events)
    await session.disconnect(code=1000)

    row = await only_session()
    sent = fake_upstream.usage_sent
    assert len(sent) == 2
    assert row.status == "finished"
    assert row.close_code == 1000
    assert row.virtual_key_name == issued.name
    assert row.provider_slug == "fake"
    assert row.model == "gpt-realtime"
    assert row.messages_from_client == 4
    assert row.responses == 2
    assert row.input_tokens == sum(u["input_tokens"] for u in sent)
    assert row.output_tokens == sum(u["output_tokens"] for u in sent)
    assert row.total_tokens == sum(u["total_tokens"] for u in sent)
    assert row.cached_tokens == sum(
        u["input_token_details"]["cached_tokens"] for u in sent
    )
    assert row.input_text_tokens == row.input_tokens
    assert row.ended_at is not None and row.ended_at >= row.started_at

    handshake = fake_upstream.handshakes[0]
    assert handshake.header("authorization") == f"Bearer {UPSTREAM_SECRET}"
    assert handshake.header("openai-beta") is None
    assert handshake.query == {"model": "gpt-realtime", "foo": "bar"}
    assert issued.token not in repr(handshake.headers)


@pytest.mark.parametrize(
    "mode",
    ["x-portkey-virtual-key", "x-portkey-api-key", "bearer", "query", "protocol"],
)
async def test_every_credential_mode_opens_a_session(fake_upstream, issue, mode):
    issued = await issue(fake_upstream.url)
    headers, path, subprotocols = [], PATH, None
    if mode == "bearer":
        headers = [(b"authorization", f"Bearer {issued.token}".encode())]
    elif mode == "query":
        path = f"{PATH}&virtual_key={issued.token}"
    elif mode == "protocol":
        subprotocols = ["realtime", f"x-portkey-virtual-key.{issued.token}"]
    else:
        headers = [(mode.encode(), issued.token.encode())]
    session = await open_session(headers=headers, path=path, subprotocols=subprotocols)
    assert (await session.receive_json_from())["type"] == "session.created"
    assert session.subprotocol == ("realtime" if mode == "protocol" else None)
    await session.disconnect()
    assert fake_upstream.handshakes[0].query == {"model": "gpt-realtime"}
    assert fake_upstream.handshakes[0].subprotocols == ()


async def test_unknown_key_is_refused_without_a_row_or_upstream(fake_upstream, issue):
    await issue(fake_upstream.url)
    session = await open_session("vk_" + "Z" * 43)
    await expect_error_and_close(session, code=4401, error_code="invalid_api_key")
    assert await RealtimeSession.objects.acount() == 0
    assert fake_upstream.handshakes == []


async def test_missing_key_is_refused(fake_upstream):
    session = await open_session(headers=[])
    event = await expect_error_and_close(
        session, code=4401, error_code="missing_api_key"
    )
    assert "virtual key" in event["error"]["message"]


@pytest.mark.parametrize(("case", "error_code"), REFUSED_KEY_CASES)
async def test_known_keys_refused_leave_a_rejected_row(
    fake_upstream, issue, case, error_code
):
    issued = await refused_key(issue, fake_upstream.url, case)

    session = await open_session(issued.token)
    await expect_error_and_close(session, code=4403, error_code=error_code)

    row = await only_session()
    assert (row.status, row.close_code, row.virtual_key_name) == (
        "rejected",
        4403,
        issued.name,
    )
    assert row.ended_at is not None
    assert fake_upstream.handshakes == []


async def test_concurrent_session_limit(fake_upstream, issue):
    issued = await issue(fake_upstream.url, max_sessions=1)
    first = await open_session(issued.token)
    assert (await first.receive_json_from())["type"] == "session.created"

    second = await open_session(issued.token)
    await expect_error_and_close(
        second, code=4429, error_code="concurrent_sessions_exceeded"
    )
    await first.disconnect()

    third = await open_session(issued.token)
    assert (await third.receive_json_from())["type"] == "session.created"
    await third.disconnect()
    statuses = sorted(
        [s async for s in RealtimeSession.objects.values_list("status", flat=True)]
    )
    assert statuses == ["finished", "finished", "rejected"]


async def test_upstream_unreachable_fails_cleanly(issue):
    issued = await issue(f"ws://127.0.0.1:{free_port()}/v1/realtime")
    session = await open_session(issued.token)
    event = await expect_error_and_close(
        session, code=4502, error_code="upstream_unavailable"
    )
    assert UPSTREAM_SECRET not in json.dumps(event)
    row = await only_session()
    assert (row.status, row.close_code) == ("failed", 4502)
    assert row.error


async def test_upstream_refusing_the_credential(fake_upstream, issue):
    issued = await issue(fake_upstream.url, secret="sk-wrong-credential")
    session = await open_session(issued.token)
    event = await expect_error_and_close(
        session, code=4502, error_code="upstream_auth_failed"
    )
    assert "sk-wrong" not in json.dumps(event)
    assert (await only_session()).status == "failed"


async def test_upstream_rate_limit_and_server_errors(issue):
    for status, code, error_code in [
        (429, 4429, "upstream_rate_limited"),
        (500, 4502, "upstream_refused"),
    ]:
        async with FakeRealtimeServer(reject_status=status) as upstream:
            issued = await issue(upstream.url, name=f"key-{status}")
            session = await open_session(issued.token)
            await expect_error_and_close(session, code=code, error_code=error_code)


async def test_upstream_handshake_timeout(settings, issue):
    settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT = 0.3
    async with FakeRealtimeServer(handshake_delay=3) as upstream:
        issued = await issue(upstream.url)
        session = await open_session(issued.token)
        await expect_error_and_close(session, code=4504, error_code="upstream_timeout")
    assert (await only_session()).close_code == 4504


@pytest.mark.parametrize(
    ("upstream_code", "reason", "client_code", "status"),
    [
        (1000, "bye", 1000, "finished"),
        (4000, "custom", 4000, "finished"),
        (1008, "policy", 4008, "finished"),
        (1011, "boom", 4011, "failed"),
    ],
)
async def test_upstream_close_codes_are_relayed(
    fake_upstream, issue, upstream_code, reason, client_code, status
):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to(
        {"type": "fake.close", "code": upstream_code, "reason": reason}
    )
    closing = await session.receive_output(timeout=5)
    assert closing == {"type": "websocket.close", "code": client_code, "reason": reason}
    await session.disconnect()
    row = await only_session()
    assert (row.status, row.close_code, row.close_reason) == (
        status,
        client_code,
        reason,
    )


async def test_upstream_vanishing_is_reported(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.abort"})
    await expect_error_and_close(session, code=4502, error_code="upstream_unavailable")
    row = await only_session()
    assert (row.status, row.close_code) == ("failed", 4502)
    assert row.messages_from_client == 1


async def test_frames_are_forwarded_unchanged_both_ways(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    text = '{"type":  "fake.echo", "note": "héllo — ✓", "n": [1,2 ,3]}'
    binary = bytes(range(256)) * 10
    await session.send_to(text_data=text)
    assert await session.receive_from() == text
    await session.send_to(bytes_data=binary)
    assert (await session.receive_output())["bytes"] == binary
    await session.disconnect()
    row = await only_session()
    assert row.messages_from_client == 2
    assert row.bytes_from_client == len(text.encode()) + len(binary)
    # session.created + the two echoes
    assert row.messages_from_upstream == 3
    assert row.bytes_from_upstream > len(text.encode()) + len(binary)


async def test_order_is_kept_under_a_flood(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.flood", "count": 500, "size": 200})
    seqs = [(await session.receive_json_from())["seq"] for _ in range(500)]
    assert seqs == list(range(500))
    await session.disconnect()


async def test_revocation_closes_a_live_session_at_once(fake_upstream, issue, settings):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 60  # prove the channel layer path
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await asyncio.sleep(0)  # let the session join its revocation group
    key = await VirtualKey.objects.aget(pk=issued.key_id)
    for _ in range(50):  # the group join happens in the bridge task
        await asyncio.sleep(0.01)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await expect_error_and_close(session, code=4403, error_code="key_revoked")
    row = await only_session()
    assert (row.status, row.close_code) == ("finished", 4403)
    await fake_upstream.wait_closed_count(1)


async def test_revocation_without_an_announcement_is_found_by_the_recheck(
    fake_upstream, issue, settings
):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.2
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    # Revoked behind the gateway's back: no channel-layer message at all.
    await VirtualKey.objects.filter(pk=issued.key_id).aupdate(revoked_at=timezone.now())
    await expect_error_and_close(session, code=4403, error_code="key_revoked")


async def test_oversized_client_message_is_refused(fake_upstream, issue, settings):
    settings.GATEWAY_MAX_MESSAGE_BYTES = 2048
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_to(text_data="x" * 2049)
    await expect_error_and_close(session, code=4413, error_code="message_too_large")
    row = await only_session()
    assert row.close_code == 4413
    assert row.messages_from_client == 0


PASSTHROUGH_HEADERS = [
    (b"x-portkey-provider", b"fake"),
    (b"x-portkey-api-key", UPSTREAM_SECRET.encode()),
]


async def test_passthrough_only_when_enabled_and_the_provider_opts_in(
    fake_upstream, issue, settings
):
    await issue(fake_upstream.url)  # creates the provider "fake"
    headers = PASSTHROUGH_HEADERS
    session = await open_session(headers=headers)
    await expect_error_and_close(session, code=4401, error_code="invalid_api_key")

    settings.GATEWAY_ALLOW_PASSTHROUGH = True
    session = await open_session(headers=headers)  # the provider has not opted in
    await expect_error_and_close(session, code=4401, error_code="unknown_provider")
    assert fake_upstream.handshakes == []

    await Provider.objects.filter(slug="fake").aupdate(allow_passthrough=True)
    session = await open_session(headers=headers)
    assert (await session.receive_json_from())["type"] == "session.created"
    await session.disconnect()
    row = await only_session()
    assert (row.virtual_key_id, row.provider_slug, row.status) == (
        None,
        "fake",
        "finished",
    )


async def test_a_raw_key_the_provider_refuses_leaves_no_row_and_is_throttled(
    fake_upstream, issue, settings, process
):
    settings.GATEWAY_ALLOW_PASSTHROUGH = True
    settings.GATEWAY_AUTH_FAILURE_BURST = 2
    await issue(fake_upstream.url)
    await Provider.objects.filter(slug="fake").aupdate(allow_passthrough=True)
    wrong = [(b"x-portkey-provider", b"fake"), (b"x-portkey-api-key", b"sk-guess")]
    for _ in range(2):
        session = await open_session(headers=wrong)
        await expect_error_and_close(
            session, code=4502, error_code="upstream_auth_failed"
        )
    assert len(fake_upstream.handshakes) == 2
    # The address has used up its failed handshakes: refused before the upstream.
    session = await open_session(headers=wrong)
    await expect_error_and_close(
        session, code=4429, error_code="too_many_failed_attempts"
    )
    assert len(fake_upstream.handshakes) == 2
    assert await RealtimeSession.objects.acount() == 0


async def test_client_leaving_mid_stream_closes_the_upstream(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.flood", "count": 2000, "size": 1000})
    await session.receive_json_from()
    await session.disconnect(code=1006, timeout=5)  # a server's vanished client
    await fake_upstream.wait_closed_count(1)
    assert fake_upstream.closed == [(1001, "client vanished without a close frame")]
    row = await only_session()
    assert (row.status, row.close_code) == ("finished", 1006)
    assert "vanished" in row.close_reason


async def test_counters_are_checkpointed_while_live(fake_upstream, issue, settings):
    settings.GATEWAY_CHECKPOINT_SECONDS = 0.1
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.echo"})
    await session.receive_json_from()
    for _ in range(100):
        row = await only_session()
        if row.checkpointed_at and row.messages_from_client == 1:
            break
        await asyncio.sleep(0.05)
    assert row.status == "active"
    assert (row.messages_from_client, row.messages_from_upstream) == (1, 2)
    await session.disconnect()


async def test_a_cancelled_session_still_finalises_and_drops_the_upstream(
    fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.flood", "count": 5000, "size": 1000})
    await session.receive_json_from()
    # The server gives up on the application almost at once (as on shutdown).
    await session.disconnect(code=1000, timeout=0.05)
    await fake_upstream.wait_closed_count(1)
    row = await only_session()
    assert row.status == "finished"
    assert row.ended_at is not None


async def test_oversized_upstream_message_is_reported(fake_upstream, issue, settings):
    settings.GATEWAY_MAX_MESSAGE_BYTES = 4096
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.flood", "count": 1, "size": 8192})
    await expect_error_and_close(session, code=4413, error_code="message_too_large")
    row = await only_session()
    assert (row.status, row.close_code) == ("failed", 4413)


async def test_a_hung_upstream_is_found_by_its_missing_pongs(
    fake_upstream, issue, settings
):
    settings.GATEWAY_PING_INTERVAL = 0.3
    settings.GATEWAY_PING_TIMEOUT = 0.3
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.freeze"})
    await expect_error_and_close(session, code=4504, error_code="upstream_timeout")
    row = await only_session()
    assert (row.status, row.close_code) == ("failed", 4504)


async def test_an_invalid_upstream_frame_is_reported(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.garbage"})
    await expect_error_and_close(
        session, code=4502, error_code="upstream_protocol_error"
    )
    assert (await only_session()).status == "failed"


async def test_an_upstream_redirect_is_refused_and_never_followed(issue):
    """A 3xx from the provider is `upstream_refused`: the credential never goes
    to the host it names."""
    async with FakeRealtimeServer() as target:

        def redirect(connection, request):
            response = connection.respond(302, "moved\n")
            response.headers["Location"] = target.url
            return response

        async with websockets_serve(
            redirect_handler, "127.0.0.1", 0, process_request=redirect
        ) as redirector:
            port = redirector.sockets[0].getsockname()[1]
            issued = await issue(f"ws://127.0.0.1:{port}/v1/realtime")
            session = await open_session(issued.token)
            event = await expect_error_and_close(
                session, code=4502, error_code="upstream_refused"
            )
    assert "302" in event["error"]["message"]
    assert target.handshakes == []
    row = await only_session()
    assert (row.status, row.close_code) == ("failed", 4502)


async def redirect_handler(connection):  # never reached: every request redirects
    await connection.close()
