"""Bad input through a real Daphne gateway: it is forwarded or refused, never a crash.

The gateway does not validate client JSON (the provider does), so malformed
frames reach the fake upstream, which answers with an error event, and the
session goes on. What the server itself cannot take (a bad path, a botched
upgrade, oversized headers, bad keys by the thousand) is refused at the
handshake, and the process keeps serving everyone else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import string
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus

from realtime.models import RealtimeSession
from realtime.testing import FakeRealtimeServer
from tests.support import metrics
from tests.support.clients import (
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)
from tests.support.events import USER_TEXT
from tests.support.processes import http_get, rss_kib

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

URL_SAFE = string.ascii_letters + string.digits + "-_"


async def healthy(gateway) -> None:
    """/healthz answers 200 ok (off the event loop: the fake upstream runs on it)."""
    status, body = await asyncio.to_thread(http_get, f"{gateway.http_url}/healthz")
    assert status == 200, body
    assert json.loads(body)["status"] == "ok"


async def raw_request(port: int, request: bytes) -> bytes:
    """Send `request` as it is on a fresh TCP connection; the status line back."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        async with asyncio.timeout(10):
            return await reader.readline()
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


async def still_serving(gateway, fake_upstream, issue, *, name: str) -> None:
    """Health answers and a fresh session holds a conversation and is logged."""
    await healthy(gateway)
    issued = await issue(fake_upstream.url, name=name)
    ws = await open_client(gateway.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    await converse(ws)
    await ws.close()
    row = await wait_for_row(virtual_key_name=name)
    assert (row.status, row.close_code) == ("finished", 1000)


# --- frames -------------------------------------------------------------------------

MALFORMED_TEXT = [
    "{",
    "not json at all",
    '{"type": ',
    "[1, 2, 3]",
    "null",
    '"a string"',
    '{"type": 42}',
    '{"no_type": true}',
    "{'type': 'single quotes'}",
    "\x00\x01\x02 control characters",
    "\ufffd\u202e\U0001f600 unicode",
    '{"type":"response.create"' + "," * 10_000,
    "x" * 100_000,
]


async def test_malformed_frames_are_forwarded_and_the_session_goes_on(
    daphne, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"

    for text in MALFORMED_TEXT:
        await ws.send(text)
        answer = await receive_event(ws)
        assert answer["type"] == "error", answer
        assert answer["error"]["code"] in ("invalid_json", "missing_type")
    garbage = [b"\x00", b"\xff\xfe\xfd", os.urandom(4096), b'{"type":"fake.echo"}']
    for data in garbage:
        await ws.send(data)
        async with asyncio.timeout(10):
            assert await ws.recv() == data  # binary stays binary, byte for byte

    events = await converse(ws)  # the session still works
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("finished", 1000)
    assert row.messages_from_client == len(MALFORMED_TEXT) + len(garbage) + 2
    assert row.messages_from_upstream == (
        1 + len(MALFORMED_TEXT) + len(garbage) + len(events)
    )
    conversation = [json.dumps(USER_TEXT), json.dumps({"type": "response.create"})]
    assert row.bytes_from_client == sum(
        len(frame.encode()) if isinstance(frame, str) else len(frame)
        for frame in [*MALFORMED_TEXT, *garbage, *conversation]
    )


async def test_invalid_utf8_in_a_text_frame_ends_only_that_session(
    daphne, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await receive_event(ws)
    # A text frame must be UTF-8; the server fails the connection (RFC 6455 8.1).
    await ws.send(b'{"type":"fake.echo","x":"\xff\xfe"}', text=True)
    with contextlib.suppress(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    assert ws.close_code in (1007, 1006), ws.close_code
    row = await wait_for_row(virtual_key_name=issued.name)
    assert row.status == "finished"
    assert row.messages_from_client == 0  # never forwarded
    await fake_upstream.wait_closed_count(1, timeout=10)
    await still_serving(daphne, fake_upstream, issue, name="after-bad-utf8")


async def test_deeply_nested_json_is_not_a_gateway_fault(daphne, issue):
    # Cartesia sessions read every client frame (model_id, transcript).
    async with FakeRealtimeServer() as cartesia:
        issued = await issue(cartesia.url, kind="cartesia")
        ws = await open_client(daphne.ws_url, token=issued.token)
        await receive_event(ws)
        logged = len(daphne.log())
        deep = '{"transcript":"hi","x":' + "[" * 3000 + "]" * 3000 + "}"
        await ws.send(deep)  # valid JSON, 6 KB
        # Forwarded, the fake upstream cannot parse it either and closes (1011).
        events = []
        with contextlib.suppress(ConnectionClosed):
            async with asyncio.timeout(10):
                while True:
                    events.append(json.loads(await ws.recv()))
        row = await wait_for_row(virtual_key_name=issued.name)
    assert ws.close_code != 4500, events
    assert row.close_code != 4500
    assert "gateway fault" not in daphne.log()[logged:]


FLOOD = 5_000


async def test_a_burst_of_tiny_frames_is_forwarded_in_order(
    daphne, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    ws = await open_client(daphne.ws_url, token=issued.token)
    await receive_event(ws)

    async def read(n: int) -> list[int]:
        return [json.loads(await ws.recv())["seq"] for _ in range(n)]

    reader = asyncio.create_task(read(FLOOD))
    try:
        started = time.monotonic()
        for seq in range(FLOOD):  # no await between frames but the send itself
            await ws.send(f'{{"type":"fake.echo","seq":{seq}}}')
        async with asyncio.timeout(30):
            echoed = await reader
        elapsed = time.monotonic() - started
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)
    assert echoed == list(range(FLOOD))  # none lost, none doubled, in order

    events = await converse(ws)
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    assert (row.status, row.close_code) == ("finished", 1000)
    assert row.messages_from_client == FLOOD + 2
    assert row.messages_from_upstream == 1 + FLOOD + len(events)
    print(f"{FLOOD} frames echoed through the gateway in {elapsed:.2f} s")


# --- handshakes ---------------------------------------------------------------------


UNKNOWN_PATHS = ("/v1/nope", "/", "/v1/realtime/extra", "/admin/")


async def test_an_unknown_websocket_path_is_refused(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    for path in UNKNOWN_PATHS:
        url = f"ws://127.0.0.1:{daphne.port}{path}"
        with pytest.raises(InvalidStatus) as caught:
            await open_client(url, token=issued.token)
        assert caught.value.response.status_code >= 400
    assert daphne.process.poll() is None
    assert fake_upstream.handshakes == []
    await still_serving(daphne, fake_upstream, issue, name="after-bad-path")


async def test_an_unknown_websocket_path_is_a_client_error(daphne):
    logged = len(daphne.log())
    with pytest.raises(InvalidStatus) as caught:
        await open_client(f"ws://127.0.0.1:{daphne.port}/v1/nope", headers={})
    assert 400 <= caught.value.response.status_code < 500, caught.value
    assert "Exception inside application" not in daphne.log()[logged:]


@pytest.mark.parametrize(
    ("request_line", "headers", "status"),
    [
        # No upgrade at all: Django has no HTTP view there.
        ("GET /v1/realtime HTTP/1.1", "", 404),
        ("POST /v1/realtime HTTP/1.1", "Content-Length: 2\r\n", 404),
        # An upgrade without Sec-WebSocket-Key / -Version.
        ("GET /v1/realtime HTTP/1.1", "Upgrade: websocket\r\nConnection: Upgrade\r\n", 400),
        # Not HTTP at all.
        ("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", "", None),
    ],
)  # fmt: skip
async def test_plain_http_on_the_websocket_path_gets_an_http_error(
    daphne, request_line, headers, status
):
    request = f"{request_line}\r\nHost: 127.0.0.1\r\n{headers}\r\n".encode("latin-1")
    if "Content-Length" in headers:
        request += b"{}"
    line = await raw_request(daphne.port, request)
    if status is None:  # refused somehow: an error status or a closed connection
        assert line == b"" or re.match(rb"HTTP/1\.[01] 4\d\d ", line), line
    else:
        assert line.startswith(f"HTTP/1.1 {status} ".encode()), line
    await healthy(daphne)


@pytest.mark.parametrize(
    "oversize",
    ["one 64 KiB header value", "1,000 headers", "a 64 KiB query string"],
)
async def test_oversized_handshakes_are_refused_and_others_still_served(
    daphne, fake_upstream, issue, oversize
):
    issued = await issue(fake_upstream.url)
    headers = {"Authorization": f"Bearer {issued.token}"}
    query = "model=gpt-realtime"
    if oversize.startswith("one"):
        headers["X-Huge"] = "a" * (64 * 1024)
    elif oversize.startswith("1,000"):
        headers.update({f"X-Many-{i}": "v" for i in range(1000)})
    else:
        query += "&pad=" + "a" * (64 * 1024)
    # Twisted answers 400 to too many headers and drops the connection on a
    # line over its 16 KiB limit: either way, no WebSocket and no server error.
    with pytest.raises((InvalidStatus, InvalidMessage)) as caught:
        await open_client(daphne.ws_url, headers=headers, query=query)
    if isinstance(caught.value, InvalidStatus):
        assert 400 <= caught.value.response.status_code < 500, caught.value
    assert daphne.process.poll() is None
    assert fake_upstream.handshakes == []
    await still_serving(daphne, fake_upstream, issue, name="after-oversize")


BAD_KEY_HANDSHAKES = 2_000
WARM_UP = 500
WORKERS = 4
# What a refused handshake allocates (Twisted's and autobahn's protocol objects,
# the ASGI scope, the consumer and its task) weighs more than 10 KiB; were it
# kept, 2,000 refusals would add well over 20 MiB. Measured: +3 to +9 MiB over
# the first 2,000 after the warm-up (thread-pool database connections and
# malloc arenas coming into use), then flat over 10,000 more.
RSS_GROWTH_BOUND_KIB = 20 * 1024


def bad_keys(real: str, rng: random.Random):
    """Ways to present a key that is not one, each refused with 4401."""
    near = real[:-1] + ("A" if real[-1] != "A" else "B")
    forged = "vk_" + "".join(rng.choice(URL_SAFE) for _ in range(43))
    bearer = {"Authorization": f"Bearer {near}"}
    while True:
        yield {"headers": bearer}, "invalid_api_key"
        yield {"headers": {"Authorization": f"Bearer {forged}"}}, "invalid_api_key"
        yield (
            {"headers": {"x-portkey-virtual-key": "sk-" + "0" * 48}},
            "invalid_api_key",
        )
        yield (
            {"subprotocols": ["realtime", f"x-portkey-api-key.{near}"]},
            "invalid_api_key",
        )
        yield {"query": f"virtual_key={forged}"}, "invalid_api_key"
        yield {"headers": {"Authorization": "Bearer"}}, "missing_api_key"


async def refuse_all(url: str, attempts: list[tuple[dict, str]]) -> None:
    """Present each bad key in turn; each gets its error event, then 4401."""
    for options, error_code in attempts:
        query = options.get("query", "model=gpt-realtime")
        ws = await connect(
            f"{url}?{query}",
            additional_headers=options.get("headers", {}),
            subprotocols=options.get("subprotocols"),
            ping_interval=None,  # a refusal takes milliseconds
            open_timeout=10,
            compression=None,
        )
        await expect_refusal(ws, code=4401, error_code=error_code)


async def refused_total(gateway) -> int:
    """The gateway's count of handshakes refused with 4401, from /metrics."""
    _, body = await asyncio.to_thread(http_get, f"{gateway.http_url}/metrics")
    text = body.decode()
    return int(
        metrics.value(text, "gateway_handshakes_refused_total", code="invalid_api_key")
        + metrics.value(
            text, "gateway_handshakes_refused_total", code="missing_api_key"
        )
    )


async def refuse_concurrently(url: str, attempts: list[tuple[dict, str]]) -> None:
    """`attempts` over WORKERS connections at a time; one failure stops them all."""
    async with asyncio.TaskGroup() as group:
        for i in range(WORKERS):
            group.create_task(refuse_all(url, attempts[i::WORKERS]))


@pytest.mark.timeout(120)
async def test_thousands_of_bad_keys_are_refused_without_growing_the_gateway(
    daphne, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    keys = bad_keys(issued.token, random.Random(4401))
    await refuse_concurrently(daphne.ws_url, [next(keys) for _ in range(WARM_UP)])
    counted = await refused_total(daphne)
    before = rss_kib(daphne.process.pid)

    started = time.monotonic()
    async with asyncio.timeout(90):
        attempts = [next(keys) for _ in range(BAD_KEY_HANDSHAKES)]
        await refuse_concurrently(daphne.ws_url, attempts)
    elapsed = time.monotonic() - started
    after = rss_kib(daphne.process.pid)

    assert fake_upstream.handshakes == []
    assert await RealtimeSession.objects.acount() == 0  # unknown keys leave no row
    assert await refused_total(daphne) - counted == BAD_KEY_HANDSHAKES
    assert after - before < RSS_GROWTH_BOUND_KIB, (before, after)
    print(
        f"{BAD_KEY_HANDSHAKES} bad-key handshakes in {elapsed:.1f} s; gateway RSS "
        f"{before / 1024:.1f} -> {after / 1024:.1f} MiB"
    )
    await still_serving(daphne, fake_upstream, issue, name="after-bad-keys")
