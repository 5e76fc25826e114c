"""Open the upstream WebSocket, mapping every failure into a GatewayError."""

from __future__ import annotations

import asyncio
import functools
import logging
import urllib.request
from dataclasses import dataclass
from typing import Literal

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.frames import CloseCode
from websockets.typing import Subprotocol

from realtime.exceptions import LimitExceeded, UpstreamTimeout, UpstreamUnavailable
from realtime.providers import UpstreamTarget

logger = logging.getLogger(__name__)

USER_AGENT = "realtime-gateway/1.0"


class _connect_without_redirects(connect):
    """`connect` that never follows a redirect.

    `websockets` strips only Authorization and cookies on a cross-origin
    redirect, so a provider key sent as `api-key`, `x-goog-api-key`,
    `X-API-Key` or `xi-api-key` would go to whatever host a 3xx names. A
    redirect is a refusal instead (`upstream_refused`), and nothing is sent to
    its target.
    """

    def process_redirect(self, exc: Exception) -> Exception | str:
        return exc


class UpstreamConnection(ClientConnection):
    """websockets' client connection, its keepalive pings on a timer.

    websockets runs the keepalive in a task for the connection's whole life (a
    task, its coroutine and its sleep: ~1.4 KiB per idle session). Here a timer
    waits between pings and a task lives only while a ping waits for its pong;
    the rest is websockets' own `keepalive`: a ping every `ping_interval` less
    the last round trip, and a close with 1011 "keepalive ping timeout" when no
    pong comes back within `ping_timeout` (websockets.readthedocs.io, "Keepalive
    and latency").
    """

    _ping_timer: asyncio.TimerHandle | None = None

    def start_keepalive(self) -> None:
        """Schedule the first ping (none without a ping interval). Called once
        the handshake succeeded: its request, which holds the provider's key
        in its headers, and its response's headers are not read again (the
        protocol has taken the subprotocol and extensions from them), so they
        are not kept for the session (~1.5 KiB)."""
        self.request = None
        if self.response is not None:
            # Emptied, not dropped: websockets' parser keeps the response in
            # its generator's frame, and `process_event` tests `self.response`.
            self.response.headers.clear()
        if self.ping_interval is not None:
            self._schedule_ping(self.ping_interval)

    def _schedule_ping(self, delay: float) -> None:
        self._ping_timer = self.loop.call_later(delay, self._ping_due)

    def _ping_due(self) -> None:
        self._ping_timer = None
        # As websockets' own task: connection_lost cancels it.
        self.keepalive_task = self.loop.create_task(self._ping_once())

    async def _ping_once(self) -> None:
        assert self.ping_interval is not None
        latency = 0.0
        try:
            pong_received = await self.ping()
            if self.ping_timeout is not None:
                try:
                    async with asyncio.timeout(self.ping_timeout):
                        latency = await pong_received
                except TimeoutError:
                    async with self.send_context():
                        self.protocol.fail(
                            CloseCode.INTERNAL_ERROR, "keepalive ping timeout"
                        )
                    return
        except Exception:
            self.logger.error("keepalive ping failed", exc_info=True)
            return
        self.keepalive_task = None
        # If ping_timeout > latency > ping_interval, the next ping goes at once.
        self._schedule_ping(max(0.0, self.ping_interval - latency))

    def connection_lost(self, exc: Exception | None) -> None:
        """Stop pinging a closed connection."""
        super().connection_lost(exc)
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None


@dataclass(frozen=True, slots=True)
class UpstreamOptions:
    """Connection settings shared by every session of a process."""

    connect_timeout: float
    max_size: int
    compression: bool
    ping_interval: float
    ping_timeout: float
    close_timeout: float = 2.0


@functools.cache
def proxy_setting() -> Literal[True] | None:
    """True (websockets looks up the proxy for each URL, honouring no_proxy)
    when the environment names any proxy, else None: the lookup scans the
    whole environment on every dial, ~5% of a session's setup CPU. Decided
    once per process, as the environment of a server process does not change."""
    return True if urllib.request.getproxies() else None


async def open_upstream(
    target: UpstreamTarget, options: UpstreamOptions
) -> ClientConnection:
    """Open the upstream; UpstreamTimeout, UpstreamUnavailable or LimitExceeded."""
    try:
        async with asyncio.timeout(options.connect_timeout):
            return await _connect_without_redirects(
                target.url,
                additional_headers=list(target.headers),
                subprotocols=[Subprotocol(p) for p in target.subprotocols] or None,
                compression="deflate" if options.compression else None,
                open_timeout=None,  # the asyncio.timeout above bounds it
                ping_interval=options.ping_interval,
                ping_timeout=options.ping_timeout,
                close_timeout=options.close_timeout,
                max_size=options.max_size,
                user_agent_header=USER_AGENT,
                create_connection=UpstreamConnection,
                proxy=proxy_setting(),
            )
    except TimeoutError:
        raise UpstreamTimeout(
            f"The provider did not complete the handshake within "
            f"{options.connect_timeout:g} s."
        ) from None
    except InvalidStatus as exc:
        raise refused(exc.response.status_code, what="session") from exc
    except (OSError, InvalidHandshake, InvalidURI) as exc:
        logger.warning("upstream handshake failed: %s", type(exc).__name__)
        raise UpstreamUnavailable("The provider could not be reached.") from exc


def refused(status: int, *, what: str) -> UpstreamUnavailable | LimitExceeded:
    """The error for a provider's HTTP refusal (`status`) of a session or a call
    (`what`). The provider's body is not relayed: it may quote the credential."""
    if status == 429:
        return LimitExceeded(
            "The provider is rate-limiting this credential (HTTP 429).",
            code="upstream_rate_limited",
        )
    if status in (401, 403):
        return UpstreamUnavailable(
            f"The provider refused the virtual key's credential (HTTP {status}).",
            code="upstream_auth_failed",
        )
    return UpstreamUnavailable(
        f"The provider refused the {what} (HTTP {status}).", code="upstream_refused"
    )
