"""Credentials out of log records and out of the scope servers log from."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

import pytest

from realtime.redaction import (
    CredentialFilter,
    ScrubQuery,
    guard_log_handlers,
    redact,
    strip_query,
)

TOKEN = "vk_" + "A1b2C3d4" * 5 + "xyz"  # the shape of keys.tokens
EPHEMERAL = "ek_" + "A1b2C3d4" * 5 + "xyz"  # a short-lived token's (keys.ephemeral)

# Lines the servers really write (uvicorn trace/debug, Twisted under Daphne,
# websockets' upstream handshake at debug), with a key in each.
REDACTED = [
    (
        '127.0.0.1:1 - "WebSocket /v1/realtime?model=m&virtual_key=S1" [accepted]',
        '127.0.0.1:1 - "WebSocket /v1/realtime?model=m&virtual_key=***" [accepted]',
    ),
    (
        '"GET /healthz?api_key=S1&x=1 HTTP/1.1" 200 77 "-" "Python-urllib/3.11"',
        '"GET /healthz?api_key=***&x=1 HTTP/1.1" 200 77 "-" "Python-urllib/3.11"',
    ),
    ("< GET /v1/realtime?key=S1 HTTP/1.1", "< GET /v1/realtime?key=*** HTTP/1.1"),
    ("< GET /v1?api%5Fkey=S1 HTTP/1.1", "< GET /v1?api%5Fkey=*** HTTP/1.1"),
    ("< x-portkey-api-key: S1", "< x-portkey-api-key: ***"),
    ("< XI-API-KEY: S1", "< XI-API-KEY: ***"),
    ("> Authorization: Bearer S1", "> Authorization: Bearer ***"),
    ("< cookie: sessionid=S1; csrftoken=S2", "< cookie: ***"),
    (
        "< sec-websocket-protocol: realtime, openai-insecure-api-key.S1",
        "< sec-websocket-protocol: realtime, openai-insecure-api-key.***",
    ),
    (
        "scope={'query_string': b'api_key=S1&model=m', 'headers': '<...>', "
        "'subprotocols': ['realtime', 'x-portkey-virtual-key.S1']}",
        "scope={'query_string': b'api_key=***&model=m', 'headers': '<...>', "
        "'subprotocols': ['realtime', 'x-portkey-virtual-key.***']}",
    ),
    (
        "[(b'authorization', b'Bearer S1'), (b'xi-api-key', b'S1')]",
        "[(b'authorization', b'Bearer ***'), (b'xi-api-key', b'***')]",
    ),
    ("{'x-goog-api-key': 'S1'}", "{'x-goog-api-key': '***'}"),
    (f"refused {TOKEN} again", f"refused {TOKEN[:10]}*** again"),
    (f"a page sent {EPHEMERAL}", f"a page sent {EPHEMERAL[:10]}***"),
]
UNTOUCHED = [
    '127.0.0.1:1 - "WebSocket /v1/realtime?model=gpt-realtime" [accepted]',
    "refused a handshake from 127.0.0.1: invalid_api_key",
    "closing: key_revoked",
    "ended finished code=1000 in=3 out=9 tokens=42",
    "ClientCredentials(virtual_key=None, api_key=***, provider='openai')",
    "bridging to fake model=gpt-realtime",
]


@pytest.mark.parametrize(("line", "expected"), REDACTED)
def test_credentials_are_masked(line, expected):
    assert redact(line) == expected
    assert "S1" not in redact(line) and "S2" not in redact(line)


@pytest.mark.parametrize("line", UNTOUCHED)
def test_other_lines_are_left_alone(line):
    assert redact(line) == line


def _record(msg, args=(), exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("x", logging.INFO, __file__, 1, msg, args, exc_info)


def test_the_filter_keeps_an_argument_tuple_that_formatters_unpack():
    # uvicorn's access formatter unpacks exactly five arguments.
    record = _record(
        '%s - "%s %s HTTP/%s" %d', ("1.2.3.4:5", "GET", "/h?key=S1", "1.1", 200)
    )
    assert CredentialFilter().filter(record)
    assert record.args == ("1.2.3.4:5", "GET", "/h?key=***", "1.1", 200)


def test_the_filter_masks_a_credential_split_over_arguments():
    record = _record("< %s: %s", ("x-portkey-api-key", "S1"))
    CredentialFilter().filter(record)
    assert record.getMessage() == "< x-portkey-api-key: ***"


def test_the_filter_masks_non_string_arguments_and_tracebacks():
    try:
        raise ValueError("bad URI ws://h/v1?api_key=S1")
    except ValueError:
        import sys

        record = _record("scope=%s", ({"query_string": b"key=S1"},), sys.exc_info())
    CredentialFilter().filter(record)
    formatted = logging.Formatter().format(record)
    assert "S1" not in formatted
    assert "key=***" in formatted and "api_key=***" in formatted


def test_guarding_handlers_adds_one_filter_to_each():
    logger = logging.getLogger("tests.redaction.guarded")
    handler = logging.NullHandler()
    logger.addHandler(handler)
    try:
        guard_log_handlers()
        guard_log_handlers()
        assert [type(f) for f in handler.filters] == [CredentialFilter]
    finally:
        logger.removeHandler(handler)


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        (b"model=m&api_key=S1", b"model=m"),
        (b"virtual_key=S1&model=m&key=S2&voice=a%20b", b"model=m&voice=a%20b"),
        (b"api%5Fkey=S1&model=m", b"model=m"),  # parse_qsl decodes names too
        (b"api_key&model=m", b"model=m"),
        (b"model=m&provider=openai", b"model=m&provider=openai"),
        (b"monkey=1&keys=2", b"monkey=1&keys=2"),
    ],
)
def test_strip_query(query, expected):
    names = {"virtual_key", "api_key", "key"}
    stripped = strip_query(query, names)
    assert stripped == expected
    kept = [n for n, _ in parse_qsl(query.decode(), keep_blank_values=True)]
    assert [n for n, _ in parse_qsl(stripped.decode())] == [
        n for n in kept if n not in names
    ]


async def _run(scope: dict) -> dict:
    seen: dict = {}

    async def app(inner, receive, send):
        seen.update(inner)

    await ScrubQuery(app, params={"api_key", "key"})(scope, None, None)
    return seen


async def test_a_websocket_app_reads_the_key_the_server_no_longer_has():
    scope = {"type": "websocket", "query_string": b"model=m&api_key=S1"}
    seen = await _run(scope)
    assert scope["query_string"] == b"model=m"  # the dict the server logs from
    assert seen["query_string"] == b"model=m&api_key=S1"


async def test_an_http_app_never_sees_key_parameters():
    scope = {"type": "http", "query_string": b"key=S1"}
    seen = await _run(scope)
    assert scope["query_string"] == seen["query_string"] == b""


async def test_a_scope_without_key_parameters_is_passed_as_it_is():
    scope = {"type": "websocket", "query_string": b"model=m"}
    captured = []

    async def app(inner, receive, send):
        captured.append(inner)

    await ScrubQuery(app, params={"key"})(scope, None, None)
    assert captured[0] is scope
