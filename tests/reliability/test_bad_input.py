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
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from realtime.models import RealtimeSession
from tests.support.events import USER_TEXT
from tests.e2e.helpers import (
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

URL_SAFE = string.ascii_letters + string.digits + "-_"


def rss_kib(pid: int) -> int:
    """The resident set size of process `pid`, in KiB."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"^VmRSS:\s+(\d+) kB$", status, re.MULTILINE).group(1))


def http_get(url: str) -> tuple[int, bytes]:
    """Status and body of a GET, error statuses included."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


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
    garbage = [b"\x00", b"\xff\xfe\xfd", os.urandom(4096), b"{\"type\":\"fake.echo\"}"]
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


async def test_an_unknown_websocket_path_is_refused(daphne, fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    for path in ("/v1/nope", "/", "/v1/realtime/extra", "/admin/"):
        url = f"ws://127.0.0.1:{daphne.port}{path}"
        with pytest.raises((InvalidHandshake, ConnectionClosed, OSError)):
            ws = await open_client(url, token=issued.token)
            # Should the handshake pass, the server must close at once.
            async with asyncio.timeout(10):
                await ws.recv()
    assert fake_upstream.handshakes == []
    await still_serving(daphne, fake_upstream, issue, name="after-bad-path")


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
    with pytest.raises((InvalidHandshake, ConnectionClosed, OSError)) as caught:
        ws = await open_client(daphne.ws_url, headers=headers, query=query)
        async with asyncio.timeout(10):
            await ws.recv()
    if isinstance(caught.value, InvalidStatus):
        assert 400 <= caught.value.response.status_code < 500, caught.value
    assert daphne.process.poll() is None
    assert fake_upstream.handshakes == []
    await still_serving(daphne, fake_upstream, issue, name="after-oversize")


BAD_KEY_HANDSHAKES = 2_000
WORKERS = 4
# Each refused handshake allocates a consumer, its scope and Twisted's protocol
# objects: several KiB at the least. Were any of that kept, 2,000 of them would
# show up as well over 20 MiB; allocator noise (arenas, free lists) is a few MiB.
RSS_GROWTH_BOUND_KIB = 20 * 1024


def bad_keys(real: str, rng: random.Random):
    """Ways to present a key that is not one, each refused with 4401."""
    near = real[:-1] + ("A" if real[-1] != "A" else "B")
    forged = "vk_" + "".join(rng.choice(URL_SAFE) for _ in range(43))
    while True:
        yield {"token": near}, "invalid_api_key"
        yield {"token": forged}, "invalid_api_key"
        yield {"headers": {"x-portkey-virtual-key": "sk-" + "0" * 48}}, "invalid_api_key"
        yield {"headers": {}, "subprotocols": ["realtime", f"x-portkey-api-key.{near}"]}, "invalid_api_key"
        yield {"headers": {}, "query": f"model=gpt-realtime&virtual_key={forged}"}, "invalid_api_key"
        yield {"headers": {"Authorization": "Bearer"}}, "missing_api_key"


async def refuse_all(url: str, attempts: list[tuple[dict, str]]) -> None:
    for options, error_code in attempts:
        ws = await open_client(url, **options)
        await expect_refusal(ws, code=4401, error_code=error_code)


async def test_thousands_of_bad_keys_are_refused_without_growing_the_gateway(
    daphne, fake_upstream, issue
):
    issued = await issue(fake_upstream.url)
    keys = bad_keys(issued.token, random.Random(4401))
    warm_up = [next(keys) for _ in range(200)]
    attempts = [next(keys) for _ in range(BAD_KEY_HANDSHAKES)]

    await asyncio.gather(
        *(refuse_all(daphne.ws_url, warm_up[i::WORKERS]) for i in range(WORKERS))
    )
    before = rss_kib(daphne.process.pid)
    started = time.monotonic()
    async with asyncio.timeout(45):
        await asyncio.gather(
            *(refuse_all(daphne.ws_url, attempts[i::WORKERS]) for i in range(WORKERS))
        )
    elapsed = time.monotonic() - started
    after = rss_kib(daphne.process.pid)

    assert fake_upstream.handshakes == []
    assert await RealtimeSession.objects.acount() == 0  # unknown keys leave no row
    assert after - before < RSS_GROWTH_BOUND_KIB, (before, after)
    print(
        f"{BAD_KEY_HANDSHAKES} bad-key handshakes in {elapsed:.1f} s; gateway RSS "
        f"{before / 1024:.1f} -> {after / 1024:.1f} MiB"
    )
    await still_serving(daphne, fake_upstream, issue, name="after-bad-keys")
