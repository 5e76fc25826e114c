"""A short-lived token's session configuration, applied upstream first.

A token (keys.ephemeral) binds its sessions to a model and a configuration.
The model binds at the handshake (`services.bound_handshake`: the URL names it,
and the session's allow-list is that model alone, so a client's `session.update`
naming another ends the session with 4403). The configuration binds here: its
provider's frames (OpenAI's `session.update`) go upstream after the upstream
opens and before the client is accepted.

Why not wait for the provider's `session.updated`: the provider reads one
socket in order, so the configuration is applied before any client frame
whether or not the gateway waits, and waiting would add a round trip to every
session's setup. The reply reaches the client like any event (so it learns the
configuration in force), and a configuration the provider refuses reaches it as
the provider's own `error` event. OpenAI's client secrets behave the same way
for what is not the model: "You can also attach session configuration options
to the client secret, which will be applied to any sessions created using that
client secret, but these can also be overridden by the client connection"
(OpenAI API reference, `POST /v1/realtime/client_secrets`).
"""

from __future__ import annotations

import asyncio
import logging

from django.conf import settings
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from keys.values import ResolvedCredential
from realtime.exceptions import GatewayError, UpstreamTimeout
from realtime.providers import adapter_for
from realtime.providers.base import OptionsError


def binding_frames(
    resolved: ResolvedCredential, *, log: logging.Logger | logging.LoggerAdapter
) -> tuple[str, ...]:
    """The frames that apply a token's configuration upstream (none for a
    virtual key); GatewayError when the key's provider takes none (its kind
    changed since the token was minted)."""
    if resolved.binding is None or not resolved.binding.session:
        return ()
    provider = resolved.provider
    try:
        adapter = adapter_for(provider.kind)
        return adapter.session_config_frames(resolved.binding.session, provider.options)
    except (LookupError, OptionsError) as exc:
        log.error("provider %s is misconfigured: %s", provider.slug, exc)
        raise GatewayError(
            "The provider is misconfigured; ask an admin.",
            code="provider_misconfigured",
        ) from None


async def apply(upstream: ClientConnection | None, frames: tuple[str, ...]) -> None:
    """Send the frames upstream, bounded (UpstreamTimeout). An upstream that
    closes meanwhile is left to the bridge, which relays what it said."""
    if upstream is None or not frames:
        return
    try:
        async with asyncio.timeout(settings.GATEWAY_UPSTREAM_SEND_TIMEOUT):
            for frame in frames:
                await upstream.send(frame)
    except ConnectionClosed:
        return
    except TimeoutError:
        raise UpstreamTimeout(
            "The provider did not take the session's configuration in time."
        ) from None
