"""Who the client is: its address, seen through trusted proxies.

Behind a load balancer every TCP peer is the proxy, so the client's address
comes from `X-Forwarded-For`, but only from peers the operator trusts
(`GATEWAY_TRUSTED_PROXIES`): each proxy appends the address it saw, so the
client is the rightmost hop that is not itself a trusted proxy. From any other
peer the header is ignored (a client could write anything in it).

The throttle groups IPv6 clients by /64: one host is typically given a whole
/64, so per-address buckets would let it rotate through 2**64 of them.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_FORWARDED_FOR = b"x-forwarded-for"


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses or CIDRs as networks; ValueError names a bad entry."""
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"not an address or CIDR: {entry!r}") from None
    return tuple(networks)


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _trusted(address: Any, proxies: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in proxies)


def client_address(scope: dict[str, Any], proxies: Sequence[Network]) -> str:
    """The client's address: the TCP peer, or through trusted proxies."""
    client = scope.get("client")
    peer = str(client[0]) if client else ""
    if not proxies or not _trusted(_address(peer), proxies):
        return peer
    hops = [
        hop
        for name, value in scope.get("headers", ())
        if name.lower() == _FORWARDED_FOR
        for hop in value.decode("latin-1").split(",")
    ]
    seen = peer
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:  # garbage: the last trusted hop is all we know
            return seen
        seen = str(address)
        if not _trusted(address, proxies):
            return seen
    return seen  # every hop is a proxy: the leftmost one


def throttle_key(address: str) -> str:
    """The bucket an address's failures count in: IPv4 alone, IPv6 by /64."""
    parsed = _address(address)
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return address


class ForwardedClient:
    """ASGI wrapper: the scope's `client` becomes the real client's address.

    From a trusted proxy the app sees the address `X-Forwarded-For` names; so
    Django's REMOTE_ADDR (the admin's login throttle, the /metrics allow-list)
    and the realtime consumer (the handshake throttle, the session's row) agree
    on who the client is. The server's own scope is left as it was.
    """

    def __init__(self, app: Any, *, proxies: Callable[[], Sequence[Network]]) -> None:
        self.app = app
        self.proxies = proxies  # read per connection: settings may change (tests)

    def __call__(
        self, scope: dict[str, Any], receive: Any, send: Any
    ) -> Awaitable[None]:
        """The application's run, to await, with the client's address in
        `client` (a plain function: no frame of its own lives as long as the
        connection)."""
        proxies = self.proxies()
        if proxies and scope.get("type") in ("http", "websocket"):
            client = scope.get("client")
            address = client_address(scope, proxies)
            if client and address != client[0]:
                scope = {**scope, "client": (address, client[1])}
        return self.app(scope, receive, send)
