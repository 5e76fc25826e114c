"""Find what a client presented at the handshake: key, provider, dialect.

Pure: works on the ASGI scope's raw parts. Accepted places, highest first:
headers (x-portkey-virtual-key, x-portkey-api-key, Authorization: Bearer, each
provider's own key header such as xi-api-key, x-portkey-provider), subprotocols
(x-portkey-virtual-key.K, x-portkey-api-key.K, openai-insecure-api-key.K,
"<provider header>.K", x-portkey-provider.P) and query parameters (virtual_key,
api_key, each provider's own key parameter such as key, provider). None of these
is ever forwarded upstream.

A browser cannot send headers, so it offers its key as a subprotocol, and it
fails a handshake that offered protocols and selected none, or selected one it
did not offer (RFC 6455 section 4.1, client step 6; the WHATWG WebSocket
standard also fails a reply without one). So whenever protocols are offered the
gateway selects one of them, the least revealing first: a protocol the
provider's clients expect (`realtime`), else one that holds no secret (the
provider slug, an unknown protocol), and only when nothing else was offered a
credential, echoed back to the client that sent it (Cloudflare AI Gateway's
browser form offers nothing else: `["xi-api-key.K"]`,
developers.cloudflare.com/ai-gateway/websockets-api/realtime-api/).

What providers' own clients do (their key places, the subprotocol to select,
how they announce a dialect) comes in a `KeyPlaces`, built from the adapters by
`realtime.providers.key_places()`; this module names no provider. The browser
convention `openai-insecure-api-key.K` is accepted for every provider.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from realtime.exceptions import BadRequest

_VIRTUAL_KEY_HEADER = b"x-portkey-virtual-key"
_API_KEY_HEADER = b"x-portkey-api-key"
_PROVIDER_HEADER = b"x-portkey-provider"
_AUTHORIZATION = b"authorization"

_VIRTUAL_KEY_PROTOCOL = "x-portkey-virtual-key."
_API_KEY_PROTOCOLS = ("x-portkey-api-key.", "openai-insecure-api-key.")
_PROVIDER_PROTOCOL = "x-portkey-provider."
# Sent alongside a browser credential; meaningless for the gateway's own key.
_DROPPED_PROTOCOLS = ("openai-organization.", "openai-project.")
# Another gateway's token (Cloudflare AI Gateway's); a secret, never forwarded.
_FOREIGN_SECRET_PROTOCOLS = ("cf-aig-authorization.",)

# The gateway's query parameters that carry a key (never logged: see redaction).
KEY_QUERY_PARAMS = frozenset({"virtual_key", "api_key"})
GATEWAY_QUERY_PARAMS = KEY_QUERY_PARAMS | {"provider"}
DEFAULT_DIALECT = "ga"


@dataclass(frozen=True, slots=True)
class DialectSign:
    """How a client announces a dialect other than the default: either sign."""

    dialect: str  # e.g. "beta"
    header: tuple[str, str] | None = None  # (lower-case name, a token its value holds)
    subprotocol: str | None = None  # an offered subprotocol

    def shown_by(self, headers: dict[bytes, str], protocols: list[str]) -> bool:
        """True when the handshake carries this sign."""
        if self.subprotocol is not None and self.subprotocol in protocols:
            return True
        if self.header is None:
            return False
        name, token = self.header
        return token in headers.get(name.encode(), "")


@dataclass(frozen=True, slots=True)
class KeyPlaces:
    """Where providers' own clients put a key, beyond the gateway's places, and
    what else they say at the handshake (a subprotocol to select, a dialect)."""

    headers: tuple[str, ...] = ()  # lower-case header names, e.g. xi-api-key
    params: tuple[str, ...] = ()  # query parameters, e.g. key
    # Protocols the providers' clients expect, best first: selected when offered.
    subprotocols: tuple[str, ...] = ()
    dialects: tuple[DialectSign, ...] = ()  # the first sign shown decides

    @property
    def protocol_prefixes(self) -> tuple[str, ...]:
        return tuple(f"{name}." for name in self.headers)

    @property
    def sign_headers(self) -> tuple[bytes, ...]:
        """Header names (lower-case bytes) that announce a dialect."""
        return tuple(s.header[0].encode() for s in self.dialects if s.header)


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
    # One of the offered protocols, echoed to the client (a credential only
    # when nothing else was offered); None when none was offered.
    selected_subprotocol: str | None
    dialect: str = DEFAULT_DIALECT  # else a DialectSign's, e.g. "beta"
    interface: str = "realtime"  # realtime.models.SessionInterface (its route's)

    def __repr__(self) -> str:
        selected = self.selected_subprotocol
        if selected is not None and selected not in self.subprotocols:
            selected = selected.partition(".")[0] + ".***"  # may be a credential
        return (
            f"Handshake(credentials={self.credentials!r}, model={self.model!r}, "
            f"query={self.query!r}, subprotocols={self.subprotocols!r}, "
            f"selected_subprotocol={selected!r}, dialect={self.dialect!r})"
        )


def _bearer(value: str) -> str | None:
    scheme, _, token = value.strip().partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None


def _first(*values: str | None) -> str | None:
    return next((value for value in values if value), None)


@dataclass(frozen=True, slots=True)
class _Lookups:
    """What `parse_handshake` derives from the key places, once per places."""

    provider_headers: tuple[bytes, ...]
    wanted: frozenset[bytes]  # the headers read
    api_key_protocols: tuple[str, ...]
    consumed: frozenset[str]  # query parameters the gateway takes


@functools.lru_cache(maxsize=8)
def _lookups(places: KeyPlaces) -> _Lookups:
    provider_headers = tuple(name.encode() for name in places.headers)
    return _Lookups(
        provider_headers=provider_headers,
        wanted=frozenset(
            (
                _VIRTUAL_KEY_HEADER,
                _API_KEY_HEADER,
                _PROVIDER_HEADER,
                _AUTHORIZATION,
                *provider_headers,
                *places.sign_headers,
            )
        ),
        api_key_protocols=_API_KEY_PROTOCOLS + places.protocol_prefixes,
        consumed=frozenset(GATEWAY_QUERY_PARAMS | set(places.params)),
    )


def parse_handshake(
    *,
    headers: Iterable[tuple[bytes, bytes]],
    query_string: bytes,
    subprotocols: Iterable[str],
    places: KeyPlaces = KeyPlaces(),
) -> Handshake:
    """Split a handshake into credentials and what may go upstream."""
    lookups = _lookups(places)
    provider_headers, wanted = lookups.provider_headers, lookups.wanted
    header: dict[bytes, str] = {}
    for name, value in headers:
        name = name.lower()
        if name in wanted:
            header.setdefault(name, value.decode("latin-1").strip())

    protocol_vk = protocol_key = protocol_provider = None
    api_key_protocols = lookups.api_key_protocols
    kept_protocols = []
    public, secret = [], []  # offered, in the client's order, for `_select`
    for protocol in subprotocols:
        protocol = protocol.strip()
        lowered = protocol.lower()
        if not protocol:
            continue
        if lowered.startswith(_VIRTUAL_KEY_PROTOCOL):
            protocol_vk = protocol_vk or protocol[len(_VIRTUAL_KEY_PROTOCOL) :]
            secret.append(protocol)
        elif lowered.startswith(api_key_protocols):
            prefix = next(p for p in api_key_protocols if lowered.startswith(p))
            protocol_key = protocol_key or protocol[len(prefix) :]
            secret.append(protocol)
        elif lowered.startswith(_FOREIGN_SECRET_PROTOCOLS):
            secret.append(protocol)
        elif lowered.startswith(_PROVIDER_PROTOCOL):
            protocol_provider = protocol_provider or protocol[len(_PROVIDER_PROTOCOL) :]
            public.append(protocol)
        elif lowered.startswith(_DROPPED_PROTOCOLS):
            public.append(protocol)
        else:
            kept_protocols.append(protocol)
            public.append(protocol)

    consumed = lookups.consumed
    query_params = parse_qsl(query_string.decode("latin-1"), keep_blank_values=True)
    own = {name: value for name, value in reversed(query_params) if name in consumed}
    forwarded = tuple((n, v) for n, v in query_params if n not in consumed)
    model = next((value for name, value in forwarded if name == "model"), "")

    # The first place that holds any key wins, whatever that key is called there.
    candidates = [
        (header.get(_VIRTUAL_KEY_HEADER), True),
        (header.get(_API_KEY_HEADER), False),
        (_bearer(header.get(_AUTHORIZATION, "")), False),
        *((header.get(name), False) for name in provider_headers),
        (protocol_vk, True),
        (protocol_key, False),
        (own.get("virtual_key"), True),
        (own.get("api_key"), False),
        *((own.get(name), False) for name in places.params),
    ]
    key, is_virtual = next(((k, v) for k, v in candidates if k), (None, False))
    credentials = ClientCredentials(
        virtual_key=key if is_virtual else None,
        api_key=None if is_virtual else key,
        provider=_first(
            header.get(_PROVIDER_HEADER), protocol_provider, own.get("provider")
        ),
    )
    dialect = next(
        (s.dialect for s in places.dialects if s.shown_by(header, kept_protocols)),
        DEFAULT_DIALECT,
    )
    expected = (p for p in places.subprotocols if p in kept_protocols)
    selected = next(expected, None) or _first(*public, *secret)
    return Handshake(
        credentials=credentials,
        model=model,
        query=forwarded,
        subprotocols=tuple(kept_protocols),
        selected_subprotocol=selected,
        dialect=dialect,
    )


# What a model (or deployment, voice, agent) name may look like before it is
# checked, logged or stored: providers' names are short and plain.
_MODEL_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,199}")


def check_model_name(name: str) -> None:
    """BadRequest unless `name` is empty or a plausible model name."""
    if name and not _MODEL_NAME.fullmatch(name):
        raise BadRequest(
            "The model name is not valid: at most 200 letters, digits and ._:/@+-.",
            code="invalid_model",
        )
