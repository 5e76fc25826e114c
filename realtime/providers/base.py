"""The small interface every provider adapter implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from keys.values import Secret
from realtime.events import Usage


@dataclass(frozen=True, slots=True)
class UpstreamTarget:
    """How to open the upstream WebSocket for one session."""

    url: str
    headers: tuple[tuple[str, str], ...]
    subprotocols: tuple[str, ...] = ()

    def __repr__(self) -> str:
        names = ", ".join(name for name, _ in self.headers)
        return f"UpstreamTarget(url={self.url!r}, headers=[{names}] (values hidden))"


def join_query(base_url: str, query: tuple[tuple[str, str], ...]) -> str:
    """`base_url` with the client's query parameters added after its own."""
    parts = urlsplit(base_url)
    params = parse_qsl(parts.query, keep_blank_values=True) + list(query)
    return urlunsplit(parts._replace(query=urlencode(params)))


class ProviderAdapter:
    """Knows one provider: its endpoint, its credential scheme, its usage events.

    Frames pass through unchanged; an adapter only builds the upstream target
    and reads usage from the few upstream frames that can carry it.
    """

    kind: ClassVar[str]
    default_url: ClassVar[str]

    def upstream_url(self, configured_url: str) -> str:
        """The provider row's URL, or the public endpoint when it is blank."""
        return configured_url or self.default_url

    def target(
        self,
        *,
        base_url: str,
        credential: Secret,
        query: tuple[tuple[str, str], ...],
        subprotocols: tuple[str, ...],
    ) -> UpstreamTarget:
        """The upstream URL, headers and subprotocols for a session."""
        raise NotImplementedError

    def usage_in(self, text: str) -> Usage | None:
        """Usage reported by one upstream text frame, or None (the common case)."""
        return None
