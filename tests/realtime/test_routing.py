"""The WebSocket router: exact paths by lookup, the rest through Channels'
URLRouter, with the same first-match-wins order."""

from __future__ import annotations

import pytest
from django.urls import path, re_path

from realtime.routing import ByScopeType, WebSocketRouter

pytestmark = pytest.mark.timeout(10)


def _app(name: str, seen: list):
    async def app(scope, receive, send) -> None:
        seen.append((name, scope.get("url_route", {}).get("kwargs")))

    return app


def _router(seen: list) -> WebSocketRouter:
    return WebSocketRouter(
        [
            path("v1/realtime", _app("realtime", seen)),
            path("a/<str:voice>", _app("with-parameter", seen)),
            path("a/b", _app("shadowed", seen)),  # the pattern above matches first
            re_path(r"", _app("unknown", seen)),
        ]
    )


def _scope(path: str, **extra) -> dict:
    return {"type": "websocket", "path": path, "headers": [], **extra}


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/v1/realtime", ("realtime", None)),  # looked up: no url_route added
        ("/a/b", ("with-parameter", {"voice": "b"})),
        ("/a/c", ("with-parameter", {"voice": "c"})),
        ("/v1/realtime/more", ("unknown", {})),
        ("/elsewhere", ("unknown", {})),
    ],
)
async def test_each_path_reaches_the_first_pattern_that_matches_it(path, expected):
    seen: list = []
    await _router(seen)(_scope(path), None, None)
    assert seen == [expected]


async def test_a_root_path_is_left_to_channels_router():
    seen: list = []
    scope = _scope("/gw/v1/realtime", root_path="/gw")
    await _router(seen)(scope, None, None)
    assert seen == [("realtime", {})]


async def test_the_scope_type_picks_the_application():
    seen: list = []
    router = ByScopeType({"websocket": _app("ws", seen), "http": _app("http", seen)})
    await router({"type": "http"}, None, None)
    assert seen == [("http", None)]
    with pytest.raises(ValueError, match="lifespan"):
        router({"type": "lifespan"}, None, None)
