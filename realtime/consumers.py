"""One client connection: admit, bridge, end.

Channels' stock dispatch loop costs a thread hop (closing old DB connections)
and a fresh task per frame. The consumer keeps the AsyncWebsocketConsumer shape
but runs its own receive loop, so a client frame reaches the upstream with one
`send` and nothing else. Admission (`realtime.admission`), the bridge
(`realtime.bridge`) and the close policy (`realtime.endings`) each live in their
own module; this shell wires them together and makes sure that, whatever ends
the connection, the session ends exactly once and its row is finalised.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from realtime import admission, endings, interfaces
from realtime.bridge import Bridge
from realtime.client import ClientSide, Receive, Send, can_deny
from realtime.credentials import parse_handshake
from realtime.endings import Ending
from realtime.exceptions import GatewayError
from realtime.models import SessionStatus
from realtime.providers import key_places
from realtime.recorder import session_log
from realtime.session_metrics import count_bridged, count_ended
from realtime.state import process_state

logger = logging.getLogger(__name__)

# How long ending a session waits for its bridge to stop.
_STOP_TIMEOUT = 2.0


class RealtimeConsumer(AsyncWebsocketConsumer):
    """Bridges one client WebSocket to one provider WebSocket."""

    async def __call__(
        self, scope: dict[str, Any], receive: Receive, send: Send
    ) -> None:
        """Serve one connection; whatever ends it, the session row is finalised."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer()
        self._state = process_state()
        self._client = ClientSide(send, can_deny=can_deny(scope))
        self._session: admission.Session | None = None
        self._bridge: Bridge | None = None
        self._bridge_task: asyncio.Task | None = None
        self._ending: asyncio.Task | None = None  # the one run of `_carry_out`
        try:
            await self._serve(receive)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # The server is stopping (Daphne cancels every application).
            await self._end(endings.shutting_down())
            raise
        except Exception:
            logger.exception("gateway fault")
            await self._end(endings.gateway_fault())
        finally:
            if self._ending is None:  # ended without a disconnect message
                await self._end(Ending.by_client(None))
            await self._await_ending()
            self._abort_upstream()

    async def _serve(self, receive: Receive) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                bridge = self._bridge
                if bridge is not None and self._ending is None:
                    ending = await bridge.forward_client_frame(message)
                    if ending is not None:
                        await self._end(ending)
            elif kind == "websocket.connect":
                await self.connect()
            elif kind == "websocket.disconnect":
                await self.websocket_disconnect(message)

    async def connect(self) -> None:
        """Admit the handshake, accept it, and start the bridge."""
        handshake = parse_handshake(
            headers=self.scope.get("headers", ()),
            query_string=self.scope.get("query_string", b""),
            subprotocols=self.scope.get("subprotocols", ()),
            places=key_places(),
        )
        interface = interfaces.of_connection(self.scope, handshake.query)
        handshake = dataclasses.replace(handshake, interface=interface)
        self._client.subprotocol = handshake.selected_subprotocol
        address = self._client_address()
        try:
            session = await admission.admit(
                handshake, client_address=address, state=self._state
            )
        except admission.Refused as refused:
            await self._refuse(refused.error, address=address)
            return
        except admission.NotAdmitted as failed:
            self._session = failed.session
            await self._end(failed.ending)
            return
        self._session = session
        await self._client.accept()
        count_bridged(self._state.metrics, session)
        session.log.info(
            "bridging to %s model=%s",
            session.provider_slug,
            session.provider.model or "-",
        )
        self._bridge = Bridge(
            session, send=self.base_send, layer=self.channel_layer, state=self._state
        )
        self._bridge_task = asyncio.create_task(self._run_bridge(self._bridge))

    async def _run_bridge(self, bridge: Bridge) -> None:
        await self._end(await bridge.run())

    async def _refuse(self, error: GatewayError, *, address: str) -> None:
        """Refuse a handshake: no upstream; an HTTP refusal where the server can
        send one, else an error event and the close (`ClientSide.close`)."""
        self._state.metrics.handshake_refused(code=error.code)
        session_log(None).warning(
            "refused a handshake from %s: %s", address, error.code
        )
        ending = Ending.by_gateway(error, status=SessionStatus.REJECTED)
        self._ending = asyncio.ensure_future(self._client.close(ending))
        await asyncio.shield(self._ending)

    def _client_address(self) -> str:
        # Through trusted proxies, `client` is already the real client's
        # (realtime.addresses.ForwardedClient, in gateway_project/asgi.py).
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        """The client closed or vanished: close the upstream, finalise the row."""
        self._client.open = False
        if self._bridge is not None and self._bridge.client_dropped:
            await self._end(endings.SLOW_CLIENT)
        else:
            await self._end(Ending.by_client(message.get("code")))
        raise StopConsumer()

    # --- the end ---------------------------------------------------------------

    async def _end(self, ending: Ending) -> None:
        """End the session once; later callers wait for that one end."""
        if self._ending is None:
            self._ending = asyncio.ensure_future(self._carry_out(ending))
        # Shielded: a caller that is cancelled must not cut the row's write short.
        await asyncio.shield(self._ending)

    async def _carry_out(self, ending: Ending) -> None:
        """Stop the bridge, close the client, let the provider report the usage
        of work under way (bounded), finalise the row, close upstream."""
        try:
            await self._stop_bridge()
            await self._client.close(ending)
            await self._settle_usage()
        finally:
            # The row first: the upstream's close handshake may take a while.
            try:
                await self._finalise(ending)
            finally:
                await self._close_upstream(ending)

    async def _stop_bridge(self) -> None:
        task = self._bridge_task
        if task is not None and not task.done():
            task.cancel()
            # Bounded: a slow channel layer must not hold up the session's row.
            # A bridge still stopping is awaited again when the consumer exits.
            await asyncio.wait({task}, timeout=_STOP_TIMEOUT)

    async def _settle_usage(self) -> None:
        """However the session ends (the client gone or closing, the gateway
        ending it), a response the provider is still generating is billed: ask
        the provider to stop it and wait, bounded, for its usage (the bridge's
        `settle_usage`). Only once the pump has stopped: it reads the upstream."""
        bridge, task = self._bridge, self._bridge_task
        if bridge is None or task is None or not task.done():
            return
        await bridge.settle_usage(timeout=settings.GATEWAY_FINAL_USAGE_SECONDS)

    async def _finalise(self, ending: Ending) -> None:
        session = self._session
        if session is None:
            return
        await session.record.finish(ending, session.meter, session.provider)
        count_ended(self._state.metrics, session, ending)
        session.log.info(
            "ended %s code=%s in=%d out=%d tokens=%d",
            ending.status,
            ending.close_code,
            session.meter.messages_from_client,
            session.meter.messages_from_upstream,
            session.provider.usage.total_tokens,
        )

    async def _close_upstream(self, ending: Ending) -> None:
        upstream = self._session.upstream if self._session is not None else None
        if upstream is None:
            return
        try:
            await upstream.close(code=ending.upstream_code, reason=ending.reason[:120])
        except (ConnectionClosed, OSError):
            pass
        finally:
            self._abort_upstream()

    async def _await_ending(self) -> None:
        """Wait for the end and the bridge task, bounded, as the consumer exits."""
        pending = {t for t in (self._ending, self._bridge_task) if t is not None}
        if self._bridge_task is not None:
            self._bridge_task.cancel()
        if not pending:
            return
        bound = _STOP_TIMEOUT * 3 + settings.GATEWAY_FINAL_USAGE_SECONDS
        _, late = await asyncio.wait(pending, timeout=bound)
        if late:
            logger.warning("session tasks did not stop within the bound")

    def _abort_upstream(self) -> None:
        """Drop the upstream TCP connection if a close was interrupted."""
        upstream = self._session.upstream if self._session is not None else None
        if upstream is not None and upstream.state is not State.CLOSED:
            upstream.transport.abort()
