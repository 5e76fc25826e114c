"""The bridge: frames both ways between an admitted session's client and upstream.

Client frames arrive through the consumer, one handler at a time, and go
upstream in `forward_client_frame` (the hot path: a size check, the provider's
hook only when it inspects client frames, a bounded send). Upstream frames go to
the client from the pump task. Beside the pump, a watcher on a timer
(`realtime.watcher`) times the key's session limits, re-checks the row and the
key, checkpoints the counters and keeps a budgeted session's view of its spend,
and the process's revocation hub wakes the session when its key is revoked or
an operator terminates it. `run` owns them and returns the `Ending` of
whichever finishes first, after stopping the others.
"""

from __future__ import annotations

import asyncio

from django.conf import settings
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from keys.selectors import revocation_group
from realtime import endings
from realtime.admission import Session
from realtime.budgets import SessionBudget
from realtime.client import Send
from realtime.endings import Ending
from realtime.exceptions import (
    GatewayError,
    MessageTooLarge,
    SlowClient,
    UpstreamTimeout,
)
from realtime.models import SessionStatus
from realtime.revocations import RevocationHub, termination_group
from realtime.state import ProcessState
from realtime.usage import text_size
from realtime.watcher import SessionWatcher, key_refused, over_budget, terminated

# A key refused after the upstream opened (a model named or reported in-band).
_REFUSED_LATE = SessionStatus.REJECTED


class Bridge:
    """Moves one session's frames and watches over it while it runs."""

    __slots__ = (
        "_layer",
        "_max_bytes",
        "_send",
        "_send_timeout",
        "_state",
        "client_dropped",
        "session",
    )

    def __init__(
        self, session: Session, *, send: Send, layer: object, state: ProcessState
    ) -> None:
        self.session = session
        self._send = send
        self._layer = layer
        self._state = state
        self._max_bytes: int = settings.GATEWAY_MAX_MESSAGE_BYTES
        self._send_timeout: float = settings.GATEWAY_UPSTREAM_SEND_TIMEOUT
        # True once the server dropped the client for not reading; the client's
        # disconnect may reach the consumer before this bridge's ending does.
        self.client_dropped = False

    # --- client -> upstream (called by the consumer, one frame at a time) ------

    async def forward_client_frame(self, message: dict) -> Ending | None:
        """The hot path: one client frame to the upstream, counted.

        Returns the session's ending when this frame ends it.
        """
        session = self.session
        upstream = session.upstream
        if upstream is None:
            return None
        payload = message.get("text")
        size = (
            len(message.get("bytes") or b"") if payload is None else text_size(payload)
        )
        if size > self._max_bytes:
            too_large = MessageTooLarge(
                f"A message of {size} bytes is over the gateway's limit of "
                f"{self._max_bytes} bytes."
            )
            return Ending.by_gateway(too_large, status=SessionStatus.FINISHED)
        provider = session.provider
        if provider.inspects_client_text:  # binary frames too (JSON as bytes)
            try:
                payload = (
                    provider.client_bytes(message.get("bytes") or b"")
                    if payload is None
                    else provider.client_text(payload)
                )
            except GatewayError as exc:
                return Ending.by_gateway(exc, status=_REFUSED_LATE)
        elif payload is None:
            payload = message.get("bytes") or b""
        meter = session.meter
        meter.messages_from_client += 1
        meter.bytes_from_client += size
        try:
            # Bounded: a handler that waits here delays disconnects and revocations.
            async with asyncio.timeout(self._send_timeout):
                await upstream.send(payload)
        except ConnectionClosed:
            pass  # the upstream pump sees the close and ends the session
        except TimeoutError:
            error = UpstreamTimeout("The provider stopped reading from the session.")
            return Ending.by_gateway(error, status=SessionStatus.FAILED)
        return None

    # --- upstream -> client, and the watchers ---------------------------------

    async def run(self) -> Ending:
        """Run the pump and the watchers; the ending of the first to finish."""
        hub, announced, groups = await self._watch_announcements()
        pump = asyncio.create_task(self._pump_upstream())
        watcher = SessionWatcher(self.session, state=self._state)
        watched: tuple[asyncio.Future, ...] = (pump, watcher.ended)
        if announced is not None:
            watched += (announced,)
        # The first of them to finish, through one future and a callback on
        # each: `asyncio.wait` would hold ~1.3 KiB more per idle session.
        first: asyncio.Future[asyncio.Future] = (
            asyncio.get_running_loop().create_future()
        )

        def finish(future: asyncio.Future) -> None:
            if not first.done():
                first.set_result(future)

        for future in watched:
            future.add_done_callback(finish)
        try:
            finished = await first
        finally:
            for future in watched:
                future.remove_done_callback(finish)
            pump.cancel()
            await asyncio.gather(pump, watcher.stop(), return_exceptions=True)
            if hub is not None and announced is not None:
                await hub.unwatch(announced, *groups)
        if finished is announced:
            if announced.result() == termination_group(self.session.id):
                return terminated(self.session)
            return key_refused(
                self.session, "the virtual key was revoked", "key_revoked"
            )
        try:
            return finished.result()
        except Exception:
            self.session.log.exception("bridge fault")
            return endings.gateway_fault()

    async def _watch_announcements(
        self,
    ) -> tuple[RevocationHub | None, asyncio.Future[str] | None, tuple[str, ...]]:
        """Have the process's hub tell this session when its key is revoked or
        an operator terminates it."""
        session = self.session
        if self._layer is None:
            return None, None, ()
        groups: tuple[str, ...] = (termination_group(session.id),)
        if session.key_id is not None:
            groups += (revocation_group(session.key_id),)
        try:
            hub = self._state.revocation_hub(self._layer)
            return hub, await hub.watch(*groups), groups
        except Exception:  # the layer is optional: the watcher re-checks anyway
            session.log.warning("channel layer unavailable for revocations")
            return None, None, ()

    async def _pump_upstream(self) -> Ending:
        """Forward upstream frames to the client until the upstream closes (or,
        for a session under a budget, a frame's usage reaches it)."""
        session = self.session
        upstream = session.upstream
        assert upstream is not None
        send = self._send
        try:
            for early in session.early_frames:  # read before the client was in
                key = "text" if isinstance(early, str) else "bytes"
                await send({"type": "websocket.send", key: early})
            if session.budget is None:
                await self._relay(upstream)
            else:
                over = await self._relay_under_budget(upstream, session.budget)
                if over is not None:
                    return over
        except ConnectionClosed:
            pass
        except GatewayError as exc:  # a reported model outside the allow-list
            return Ending.by_gateway(exc, status=_REFUSED_LATE)
        except SlowClient:
            # Flagged before the server even queues the disconnect it causes.
            self.client_dropped = True
            return endings.SLOW_CLIENT
        except OSError:  # the client is gone (uvicorn raises on a send after it)
            return Ending.by_client(endings.ABNORMAL_CLOSURE)
        received = upstream.protocol.close_rcvd
        sent = upstream.protocol.close_sent
        return endings.upstream_lost(
            received=(received.code, received.reason) if received else None,
            sent_code=sent.code if sent is not None else None,
            max_bytes=self._max_bytes,
        )

    async def _relay(self, upstream: ClientConnection) -> None:
        """The pump's loop: each upstream frame through the provider to the client."""
        send = self._send
        meter = self.session.meter
        upstream_text = self.session.provider.upstream_text
        upstream_bytes = self.session.provider.upstream_bytes
        async for data in upstream:
            if isinstance(data, str):
                meter.messages_from_upstream += 1
                meter.bytes_from_upstream += text_size(data)
                await send({"type": "websocket.send", "text": upstream_text(data)})
            else:
                meter.messages_from_upstream += 1
                meter.bytes_from_upstream += len(data)
                await send({"type": "websocket.send", "bytes": upstream_bytes(data)})

    async def _relay_under_budget(
        self, upstream: ClientConnection, budget: SessionBudget
    ) -> Ending | None:
        """`_relay` for a session under a budget: after a frame that changed the
        provider's usage has been sent, the budget is checked (no I/O; see
        realtime.budgets), and a budget reached ends the session. A separate
        loop, so that sessions without a budget pay nothing for budgets."""
        send = self._send
        meter = self.session.meter
        provider = self.session.provider
        upstream_text = provider.upstream_text
        upstream_bytes = provider.upstream_bytes
        usage = provider.usage
        async for data in upstream:
            if isinstance(data, str):
                meter.messages_from_upstream += 1
                meter.bytes_from_upstream += text_size(data)
                await send({"type": "websocket.send", "text": upstream_text(data)})
            else:
                meter.messages_from_upstream += 1
                meter.bytes_from_upstream += len(data)
                await send({"type": "websocket.send", "bytes": upstream_bytes(data)})
            if provider.usage is not usage:  # usage is immutable: a new report
                usage = provider.usage
                refusal = budget.check(usage, provider.billing)
                if refusal is not None:
                    return over_budget(self.session, refusal)
        return None

    async def settle_usage(self, *, timeout: float) -> None:
        """After the pumps stop: if the provider is at work it bills (a response
        under way), ask it to stop and read its frames through the provider's
        handler, for the usage they report, until it has reported or `timeout`
        passes. Nothing goes to the client: it is gone, or being closed.

        A client that leaves mid-response does not stop the provider's bill;
        without this, that response's usage would never reach the row.
        """
        session = self.session
        provider = session.provider
        upstream = session.upstream
        if upstream is None or timeout <= 0 or not provider.awaiting_usage:
            return
        meter = session.meter
        try:
            async with asyncio.timeout(timeout):
                for request in provider.stop_requests():
                    await upstream.send(request)
                while provider.awaiting_usage:
                    data = await upstream.recv()
                    meter.messages_from_upstream += 1
                    if isinstance(data, str):
                        meter.bytes_from_upstream += text_size(data)
                        provider.upstream_text(data)
                    else:
                        meter.bytes_from_upstream += len(data)
                        provider.upstream_bytes(data)
        except TimeoutError:
            session.log.warning(
                "the provider reported no final usage within %.1f s", timeout
            )
        except (ConnectionClosed, GatewayError):
            pass  # the upstream is gone, or reports a model the key may not use
