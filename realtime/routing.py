"""WebSocket routes.

`/v1/realtime` serves every provider: the virtual key decides which. The other
paths are where providers' own SDKs connect, so an SDK works by changing only
its base URL; each adapter declares its own (`client_routes`), they reach the
same consumer, and the route parameters an adapter names (an ElevenLabs
voice_id) join the query string before the consumer sees it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from channels.generic.websocket import AsyncWebsocketConsumer
from channels.routing import URLRouter
from django.urls import URLPattern, path, re_path
from django.urls.resolvers import RoutePattern

from realtime.client import Receive, Send
from realtime.consumers import RealtimeConsumer
from realtime.interfaces import InterfaceRoute
from realtime.models import SessionInterface
from realtime.providers import ClientRoute, client_routes


class UnknownPath(AsyncWebsocketConsumer):
    """Any other path: refuse the handshake (HTTP 403), quietly."""

    async def connect(self) -> None:
        await self.close()


class RouteParamsToQuery:
    """ASGI wrapper: appends the named route parameters to the query string."""

    def __init__(self, app: Callable[..., Awaitable[None]], names: tuple[str, ...]):
        self.app = app
        self.names = names

    async def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        """Serve the connection with the parameters in `query_string`."""
        kwargs = scope.get("url_route", {}).get("kwargs", {})
        params = [(name, kwargs[name]) for name in self.names if name in kwargs]
        if params:
            query = scope.get("query_string", b"")
            extra = urlencode(params).encode("latin-1")
            scope = {**scope, "query_string": query + b"&" + extra if query else extra}
        await self.app(scope, receive, send)


class ConsumerPerConnection:
    """Channels' `as_asgi()`: a new consumer for each connection; but a plain
    call, returning the consumer's run to await, so no frame of its own lives
    as long as the connection."""

    def __init__(self, consumer_class: type[AsyncWebsocketConsumer]) -> None:
        self.consumer_class = consumer_class

    def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Awaitable[None]:
        """The new consumer's run."""
        return self.consumer_class()(scope, receive, send)


class ByScopeType:
    """Channels' `ProtocolTypeRouter` as a plain call (no frame of its own
    lives as long as the connection)."""

    def __init__(self, apps: dict[str, Callable[..., Awaitable[None]]]) -> None:
        self.apps = apps

    def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Awaitable[None]:
        """The run of the application for the scope's type."""
        app = self.apps.get(scope["type"])
        if app is None:
            raise ValueError(
                f"No application configured for scope type {scope['type']!r}"
            )
        return app(scope, receive, send)


class WebSocketRouter:
    """Channels' `URLRouter` over `patterns`, but a path that one of them names
    exactly (no parameters) is found in a dict and its application called
    directly: `URLRouter` tries each pattern in turn, copies the scope and
    awaits the route, so its frame and the copy live as long as the
    connection. Paths with parameters, and the rest, go through `URLRouter`;
    the first pattern that matches a path still wins."""

    def __init__(self, patterns: list[URLPattern]) -> None:
        self._router = URLRouter(patterns)
        self._exact: dict[str, Callable[..., Awaitable[None]]] = {}
        for index, pattern in enumerate(patterns):
            route = pattern.pattern
            if not isinstance(route, RoutePattern) or route.converters:
                continue
            text = str(route)
            earlier = patterns[:index]
            if not any(other.pattern.match(text) for other in earlier):
                self._exact[text] = pattern.callback

    def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> Awaitable[None]:
        """The run of the application the path routes to."""
        if not scope.get("root_path") and "path_remaining" not in scope:
            app = self._exact.get(scope["path"].lstrip("/"))
            if app is not None:
                return app(scope, receive, send)
        return self._router(scope, receive, send)


# Channels routes ASGI apps where Django's stubs expect views.
consumer: Any = ConsumerPerConnection(RealtimeConsumer)


def _native(route: ClientRoute) -> URLPattern:
    if route.query_params:
        # Channels routes ASGI apps where Django's stubs expect views.
        app: Any = RouteParamsToQuery(consumer, route.query_params)
        return path(route.path, app)
    return path(route.path, consumer)


def _interface(route: str, interface: str) -> URLPattern:
    app: Any = InterfaceRoute(consumer, interface)
    return path(route, app)


# GPT-Live and realtime translation, OpenAI's paths and Azure's (/openai/v1):
# the same consumer, the interface chosen by the route (realtime.interfaces).
_OTHER_INTERFACES = [
    _interface(f"{base}{route}", interface)
    for base in ("v1/", "openai/v1/")
    for route, interface in (
        ("live/sessions", SessionInterface.LIVE),
        ("realtime/translations", SessionInterface.TRANSLATION),
    )
]

websocket_urlpatterns = [
    path("v1/realtime", consumer),
    *_OTHER_INTERFACES,
    *(_native(route) for route in client_routes()),
    re_path(r"", UnknownPath.as_asgi()),
]
