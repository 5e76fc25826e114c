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
from django.urls import URLPattern, path, re_path

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


consumer = RealtimeConsumer.as_asgi()


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
