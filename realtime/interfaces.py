"""Which of a provider's realtime interfaces a connection uses, and its upstream.

One consumer serves them all; the route decides the interface (`InterfaceRoute`
marks the connection's scope), and a realtime connection that asks for
transcription (`?intent=transcription`, OpenAI's realtime transcription guide,
developers.openai.com/api/docs/guides/realtime-transcription) is a
transcription session. The realtime and transcription interfaces dial the
provider row's URL as before; GPT-Live and translation have endpoints of their
own on the same origin (`ProviderAdapter.interface_url`), so one OpenAI or Azure
row serves every interface. A provider that serves none of them refuses the
session with 4400 `interface_not_served` (HTTP 400 where the server can say so).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from realtime.exceptions import BadRequest, GatewayError
from realtime.models import SessionInterface
from realtime.providers import ConnectRequest, ProviderSession, UpstreamTarget
from realtime.providers.base import OptionsError, ProviderAdapter, Query, query_value
from realtime.providers.live import LiveSession, live_target
from realtime.providers.translation import TranslationSession, translation_target

_SCOPE_KEY = "gateway.interface"
# Interfaces with an endpoint of their own beside the realtime endpoint.
OWN_ENDPOINT = frozenset({SessionInterface.LIVE, SessionInterface.TRANSLATION})


class InterfaceRoute:
    """ASGI wrapper: marks a route's connections with the interface it serves."""

    def __init__(self, app: Callable[..., Awaitable[None]], interface: str) -> None:
        self.app = app
        self.interface = interface

    def __call__(
        self, scope: dict[str, Any], receive: Any, send: Any
    ) -> Awaitable[None]:
        """The application's run, to await, with the interface in the scope (a
        plain call: no frame of its own lives as long as the connection)."""
        return self.app({**scope, _SCOPE_KEY: self.interface}, receive, send)


def of_connection(scope: Mapping[str, Any], query: Query) -> str:
    """The interface of a connection: its route's, else realtime or, when the
    client asks for it, transcription."""
    marked = scope.get(_SCOPE_KEY)
    if marked:
        return str(marked)
    if query_value(query, "intent") == "transcription":
        return SessionInterface.TRANSCRIPTION
    return SessionInterface.REALTIME


def prepare(
    interface: str,
    adapter: ProviderAdapter,
    request: ConnectRequest,
    *,
    model: str,
    allowed_models: tuple[str, ...],
) -> tuple[UpstreamTarget, ProviderSession]:
    """The upstream target and frame handler of a GPT-Live or translation
    session; BadRequest when the provider does not serve the interface."""
    try:
        if interface == SessionInterface.LIVE:
            target = live_target(adapter, request)
            handler: ProviderSession = LiveSession(
                model=model, allowed_models=allowed_models
            )
        else:
            target = translation_target(adapter, request)
            handler = TranslationSession(model=model, allowed_models=allowed_models)
    except OptionsError:
        raise not_served(interface) from None
    return target, handler


def not_served(interface: str) -> GatewayError:
    """The refusal of an interface the key's provider does not serve."""
    label = SessionInterface(interface).label
    return BadRequest(
        f"This virtual key's provider does not serve {label} sessions.",
        code="interface_not_served",
    )
