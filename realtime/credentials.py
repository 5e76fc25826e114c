"""Find what a client presented at the handshake: key, provider, model.

Pure: works on the ASGI scope's raw parts. Accepted places, highest first:
headers (x-portkey-virtual-key, x-portkey-api-key, Authorization: Bearer,
x-portkey-provider), subprotocols (x-portkey-virtual-key.K, x-portkey-api-key.K,
openai-insecure-api-key.K, x-portkey-provider.P) and query parameters
(virtual_key, api_key, provider). None of these is ever forwarded upstream.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

_VIRTUAL_KEY_HEADER = b"x-portkey-virtual-key"
_API_KEY_HEADER = b"x-portkey-api-key"
_PROVIDER_HEADER = b"x-portkey-provider"
_AUTHORIZATION = b"authorization"

_VIRTUAL_KEY_PROTOCOL = "x-portkey-virtual-key."
_API_KEY_PROTOCOLS = ("x-portkey-api-key.", "openai-insecure-api-key.")
_PROVIDER_PROTOCOL = "x-portkey-provider."
# Sent alongside a browser credential; meaningless for the gateway's own key.
_DROPPED_PROTOCOLS = ("openai-organization.", "openai-project.")

GATEWAY_QUERY_PARAMS = frozenset({"virtual_key", "api_key", "provider"})
# Offered subprotocols the gateway may select, best first; never a credential.
SELECTABLE_PROTOCOLS = ("realtime", "openai-beta.realtime-v1")


@dataclass(frozen=True, slots=True)
class ClientCredentials:
    """The credential a client presented; which kind it is is decided later."""

    virtual_key: str | None = None  # presented as a virtual key
    api_key: str | None = None  # a virtual key or, with passthrough, a raw key
    provider: str | None = None

    def __repr__(self) -> str:
        return (
            f"ClientCredentials(virtual_key={'***' if self.virtual_key else None}, "
            f"api_key={'***' if self.api_key else None}, provider={self.provider!r})"
        )

    @property
    def presented(self) -> bool:
        """True when any key was presented."""
        return bool(self.virtual_key or self.api_key)


@dataclass(frozen=True, slots=True)
class Handshake:
    """What the gateway needs from a client's WebSocket handshake."""

    credentials: ClientCredentials
    model: str
    query: tuple[tuple[str, str], ...]  # the client's query, gateway params removed
    subprotocols: tuple[str, ...]  # offered, credentials removed
    selected_subprotocol: str | None


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


def parse_handshake(
    *,
    headers: Iterable[tuple[bytes, bytes]],
    query_string: bytes,
    subprotocols: Iterable[str],
) -> Handshake:
    """Split a handshake into credentials and what may go upstream."""
    header = {}
    for name, value in headers:
        name = name.lower()
        if name in (
            _VIRTUAL_KEY_HEADER,
            _API_KEY_HEADER,
            _PROVIDER_HEADER,
            _AUTHORIZATION,
        ):
            header.setdefault(name, value.decode("latin-1").strip())

    protocol_vk = protocol_key = protocol_provider = None
    kept_protocols = []
    for protocol in subprotocols:
        protocol = protocol.strip()
        if protocol.startswith(_VIRTUAL_KEY_PROTOCOL):
            protocol_vk = protocol_vk or protocol[len(_VIRTUAL_KEY_PROTOCOL) :]
        elif protocol.startswith(_API_KEY_PROTOCOLS):
            protocol_key = protocol_key or protocol.partition(".")[2]
        elif protocol.startswith(_PROVIDER_PROTOCOL):
            protocol_provider = protocol_provider or protocol[len(_PROVIDER_PROTOCOL) :]
        elif protocol and not protocol.startswith(_DROPPED_PROTOCOLS):
            kept_protocols.append(protocol)

    query_params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    own = {
        name: value
        for name, value in reversed(query_params)
        if name in GATEWAY_QUERY_PARAMS
    }
    forwarded = tuple((n, v) for n, v in query_params if n not in GATEWAY_QUERY_PARAMS)
    model = next((value for name, value in forwarded if name == "model"), "")

    # The first place that holds any key wins, whatever that key is called there.
    candidates = [
        (header.get(_VIRTUAL_KEY_HEADER), True),
        (header.get(_API_KEY_HEADER), False),
        (_bearer(header.get(_AUTHORIZATION, "")), False),
        (protocol_vk, True),
        (protocol_key, False),
        (own.get("virtual_key"), True),
        (own.get("api_key"), False),
    ]
    key, is_virtual = next(((k, v) for k, v in candidates if k), (None, False))
    credentials = ClientCredentials(
        virtual_key=key if is_virtual else None,
        api_key=None if is_virtual else key,
        provider=_first(
            header.get(_PROVIDER_HEADER), protocol_provider, own.get("provider")
        ),
    )
    selected = next((p for p in SELECTABLE_PROTOCOLS if p in kept_protocols), None)
    return Handshake(
        credentials=credentials,
        model=model,
        query=forwarded,
        subprotocols=tuple(kept_protocols),
        selected_subprotocol=selected,
    )
