"""Browsers' Origin is checked against the allow-list; programs send none."""

from __future__ import annotations

import pytest

from realtime.origins import BrowserOriginValidator

# A denial runs Channels' WebsocketDenier, which closes old database connections
# in the worker thread: one an earlier test left there needs database access.
pytestmark = [pytest.mark.timeout(10), pytest.mark.django_db]


async def _admitted(allowed: list[str], origin: bytes | None) -> bool:
    reached = []

    async def app(scope, receive, send):
        reached.append(scope)

    sent = []
    inbox = [
        {"type": "websocket.connect"},
        {"type": "websocket.disconnect", "code": 1006},
    ]

    async def receive():
        return inbox.pop(0)

    async def send(message):
        sent.append(message)

    headers = [(b"origin", origin)] if origin is not None else []
    scope = {"type": "websocket", "path": "/v1/realtime", "headers": headers}
    await BrowserOriginValidator(app, allowed)(scope, receive, send)
    if not reached:
        assert sent == [{"type": "websocket.close"}]  # Channels' denial
    return bool(reached)


@pytest.mark.parametrize(
    ("allowed", "origin", "admitted"),
    [
        (["*"], None, True),
        (["*"], b"https://anyone.example", True),
        (["https://app.example"], None, True),  # an SDK: no Origin header
        (["https://app.example"], b"https://app.example", True),
        (["https://app.example"], b"https://evil.example", False),
        (["https://app.example"], b"null", False),  # a sandboxed page
        (["https://.example.com"], b"https://a.example.com", True),
    ],
)  # fmt: skip
async def test_origins(allowed, origin, admitted):
    assert await _admitted(allowed, origin) is admitted
