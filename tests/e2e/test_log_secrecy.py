"""No log line of a real server, at its most verbose, holds a credential.

Each way of serving runs with every logger at level 1 (tests/support/
verbose_settings.py) and the server's own top verbosity: `rungateway -v 3`
(Daphne: Twisted's log and access lines; uvicorn: trace, which logs each
scope and the raw handshake headers) and the README's plain uvicorn command at
`--log-level trace`. Keys arrive in every place the gateway reads them, valid
(a session runs, the upstream handshake is logged) and invalid.
"""

from __future__ import annotations

import asyncio
import secrets
from pathlib import Path

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from realtime.credentials import KEY_QUERY_PARAMS
from realtime.providers import key_places
from tests.support.clients import MODEL, receive_event
from tests.support.keys import UPSTREAM_SECRET
from tests.support.processes import PLAIN_UVICORN, http_get

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

README = Path(__file__).resolve().parents[2] / "README.md"
VERBOSE = {"DJANGO_SETTINGS_MODULE": "tests.support.verbose_settings"}
WAYS = {
    "daphne": ("daphne", ("-v", "3")),
    "uvicorn": ("uvicorn", ("-v", "3")),
    "plain-uvicorn": ("plain-uvicorn", ("--log-level", "trace")),
}
# What shows that the log is as verbose as the server gets.
VERBOSE_MARKS = {
    "daphne": ("daphne.ws_protocol", '"GET /healthz'),
    "uvicorn": ("ASGI [", "< GET /v1/realtime", '"GET /healthz'),
    "plain-uvicorn": ("ASGI [", "< GET /v1/realtime", '"GET /healthz'),
}


def _places(key: str) -> list[dict]:
    """One handshake (query, headers, subprotocols) per place a key may arrive."""
    places = key_places()
    query = [{"query": f"{name}={key}"} for name in (*KEY_QUERY_PARAMS, *places.params)]
    header_names = (
        "x-portkey-virtual-key", "x-portkey-api-key", *places.headers,
    )  # fmt: skip
    headers = [{"headers": {name: key}} for name in header_names]
    headers.append({"headers": {"Authorization": f"Bearer {key}"}})
    prefixes = (*header_names, "openai-insecure-api-key")
    protocols = [{"subprotocols": ["realtime", f"{p}.{key}"]} for p in prefixes]
    return [*query, *headers, *protocols]


async def _present(url: str, *, query: str = "", headers=None, subprotocols=None):
    """Connect with a key somewhere, read the first event, leave. A refusal
    is "error" whether it comes as an event (Daphne) or an HTTP status."""
    try:
        ws = await connect(
            f"{url}?model={MODEL}{'&' + query if query else ''}",
            additional_headers=headers or {},
            subprotocols=subprotocols,
            open_timeout=10,
        )
    except InvalidStatus as exc:
        assert exc.response.status_code == 401
        return "error"
    try:
        event = await receive_event(ws)
    except ConnectionClosed:
        event = {}
    await ws.close()
    return event.get("type")


@pytest.mark.parametrize("way", WAYS)
async def test_no_credential_reaches_any_log_line(
    way, gateway_process, fake_upstream, issue
):
    server, args = WAYS[way]
    gateway = gateway_process(server=server, env_overrides=VERBOSE, extra_args=args)
    valid = (await issue(fake_upstream.url)).token
    invalid_token = "vk_" + secrets.token_urlsafe(32)[:43]
    raw_key = "sk-proj-" + secrets.token_hex(16)
    for key, expected in ((valid, "session.created"), (invalid_token, "error")):
        for place in _places(key):
            assert await _present(gateway.ws_url, **place) == expected, place
    for place in _places(raw_key)[:3]:
        assert await _present(gateway.ws_url, **place) == "error", place
    for path in (f"/healthz?api_key={valid}", f"/nothere?key={raw_key}"):
        await asyncio.to_thread(http_get, gateway.http_url + path)
    await asyncio.to_thread(gateway.stop)

    log = gateway.log()
    for secret in (valid, invalid_token, raw_key, UPSTREAM_SECRET):
        assert secret not in log, f"{secret[:8]}... in the {way} log"
    for mark in VERBOSE_MARKS[way]:
        assert mark in log, f"the {way} log is not verbose: no {mark!r}"
    if way != "daphne":
        # uvicorn's access lines come from the scope, stripped before they are
        # written (not masked as they are logged).
        assert f'"WebSocket /v1/realtime?model={MODEL}&' not in log
        assert f'"WebSocket /v1/realtime?model={MODEL}" [accepted]' in log
        assert '"GET /healthz HTTP/1.1" 200' in log


def test_the_plain_uvicorn_command_is_the_readmes():
    assert " ".join(PLAIN_UVICORN) in README.read_text()
