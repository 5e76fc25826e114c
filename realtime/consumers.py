"""One client session: authenticate, dial the upstream, bridge frames, log usage.

Channels' stock dispatch loop costs a thread hop (closing old DB connections)
and a fresh task per frame. The consumer keeps the AsyncWebsocketConsumer hooks
but runs its own receive loop, so a client frame reaches the upstream with one
`send` and nothing else; database work happens only off the hot path, through
`database_sync_to_async`, which handles stale connections itself.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import uuid
from dataclasses import dataclass

from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import Error as DatabaseError
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from keys import exceptions as key_errors
from keys import selectors as key_selectors
from realtime import (
    close_codes,
    keycache,
    metrics,
    revocations,
    services,
    throttle,
)
from realtime.credentials import parse_handshake
from realtime.exceptions import (
    AccessDenied,
    AuthenticationFailed,
    GatewayError,
    LimitExceeded,
    MessageTooLarge,
    ServiceUnavailable,
    ShuttingDown,
    SlowClient,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from realtime.instance import instance_name
from realtime.meter import Meter, text_size
from realtime.models import SessionStatus
from realtime.providers import (
    ConnectRequest,
    ProviderSession,
    UpstreamTarget,
    adapter_for,
    key_places,
)
from realtime.providers.base import OptionsError
from realtime.upstream import UpstreamOptions, open_upstream

logger = logging.getLogger(__name__)

# A key refused after the upstream opened (a model named in-band, say).
_REFUSED_LATE = SessionStatus.REJECTED
# Pauses between attempts to write a session's final row (None: give up); the
# total stays well inside Daphne's application close timeout (10 s).
_FINALISE_RETRIES = (0.5, 1.0, 2.0, None)
# How long ending a session waits for its tasks to stop.
_STOP_TIMEOUT = 2.0
# Upstream close codes that mean the provider failed rather than ended normally.
_UPSTREAM_FAULT_CODES = {1006, 1011, 1012, 1013, 1014}


@dataclass(frozen=True, slots=True)
class Ending:
    """How a session ends: what the row says and what each side is told."""

    status: str
    close_code: int | None  # sent to the client if it is still there; recorded
    upstream_code: int = close_codes.NORMAL
    reason: str = ""
    error: GatewayError | None = None  # sent as an error event before the close

    @classmethod
    def by_gateway(cls, error: GatewayError, *, status: str) -> Ending:
        """The gateway ends the session and tells the client why."""
        upstream = 1001 if isinstance(error, ShuttingDown) else close_codes.NORMAL
        return cls(status, error.close_code, upstream_code=upstream, error=error)

    @classmethod
    def by_client(cls, code: int | None) -> Ending:
        """The client closed (or vanished: 1006)."""
        return cls(
            SessionStatus.FINISHED,
            code,
            upstream_code=close_codes.to_upstream(code),
            reason="client vanished without a close frame" if code == 1006 else "",
        )

    @classmethod
    def by_upstream(cls, code: int, reason: str) -> Ending:
        """The upstream closed with a close frame: relay it."""
        status = (
            SessionStatus.FAILED
            if code in _UPSTREAM_FAULT_CODES
            else SessionStatus.FINISHED
        )
        return cls(status, close_codes.to_client(code), reason=reason)


_SLOW_CLIENT = Ending(
    SessionStatus.FINISHED,
    1006,
    upstream_code=1001,
    reason="client stopped reading; connection dropped",
)


class SessionLog(logging.LoggerAdapter):
    """Prefixes every line with the session id; never given keys or payloads."""

    def process(self, msg, kwargs):
        return f"[session {self.extra['session']}] {msg}", kwargs


def _keys_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable(
        "The gateway cannot check keys right now; try again shortly.",
        code="keys_unavailable",
    )


def _upstream_options() -> UpstreamOptions:
    return UpstreamOptions(
        connect_timeout=settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT,
        max_size=settings.GATEWAY_MAX_MESSAGE_BYTES,
        compression=settings.GATEWAY_UPSTREAM_COMPRESSION,
        ping_interval=settings.GATEWAY_PING_INTERVAL,
        ping_timeout=settings.GATEWAY_PING_TIMEOUT,
    )


class RealtimeConsumer(AsyncWebsocketConsumer):
    """Bridges one client WebSocket to one provider WebSocket."""

    async def __call__(self, scope, receive, send) -> None:
        """Serve one connection; whatever ends it, the session row is finalised."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer()
        self._log = SessionLog(logger, {"session": "-"})
        self._session_id = None
        self._key_id: int | None = None
        self._provider_slug = ""
        self._provider_kind = ""
        self._upstream = None
        self._provider: ProviderSession = ProviderSession(model="")
        self._meter = Meter()
        self._subprotocol: str | None = None
        self._accepted = False
        self._client_open = True
        self._slow_client = False
        self._bridge: asyncio.Task | None = None
        self._ending: Ending | None = None
        self._ended: asyncio.Future | None = None
        self._max_bytes = settings.GATEWAY_MAX_MESSAGE_BYTES
        self._send_timeout = settings.GATEWAY_UPSTREAM_SEND_TIMEOUT
        try:
            await self._serve(receive)
        except StopConsumer:
            pass
        except asyncio.CancelledError:
            # The server is stopping (Daphne cancels every application).
            error = ShuttingDown("The gateway is shutting down; reconnect.")
            await asyncio.shield(self._end(Ending.by_gateway(error, status="finished")))
            raise
        except Exception:
            self._log.exception("gateway fault")
            error = GatewayError("The gateway failed; the session was closed.")
            await asyncio.shield(self._end(Ending.by_gateway(error, status="failed")))
        finally:
            if self._ended is None:  # ended without a disconnect message
                await asyncio.shield(self._end(Ending.by_client(None)))
            await self._await_bridge()
            self._abort_upstream()

    async def _serve(self, receive) -> None:
        while True:
            message = await receive()
            kind = message["type"]
            if kind == "websocket.receive":
                await self.websocket_receive(message)
            elif kind == "websocket.connect":
                await self.connect()
            elif kind == "websocket.disconnect":
                await self.websocket_disconnect(message)

    # --- connect ---------------------------------------------------------------

    async def connect(self) -> None:
        """Authenticate, dial the upstream while writing the row, then accept."""
        handshake = parse_handshake(
            headers=self.scope.get("headers", ()),
            query_string=self.scope.get("query_string", b""),
            subprotocols=self.scope.get("subprotocols", ()),
            places=key_places(),
        )
        self._subprotocol = handshake.selected_subprotocol
        authorized = await self._authorize(handshake)
        if authorized is None:
            return
        self._session_id = uuid.uuid4()
        self._log = SessionLog(logger, {"session": str(self._session_id)})
        provider = authorized.resolved.provider
        key = authorized.resolved.key
        self._provider_slug = provider.slug
        self._provider_kind = provider.kind
        self._key_id = key.key_id if key is not None else None
        try:
            target = self._prepare(authorized, handshake)
        except GatewayError as exc:
            if await self._start_row(authorized):
                status = (
                    SessionStatus.FAILED
                    if exc.code == "provider_misconfigured"
                    else SessionStatus.REJECTED
                )
                await self._end(Ending.by_gateway(exc, status=status))
            return
        self._upstream = await self._start_and_dial(authorized, target)
        if self._upstream is None:
            return
        await self.accept(self._subprotocol)
        self._accepted = True
        metrics.session_started(provider=provider.slug)
        self._log.info(
            "bridging to %s model=%s", provider.slug, authorized.model or "-"
        )
        self._bridge = asyncio.create_task(self._run_bridge())

    async def _authorize(self, handshake) -> services.Authorized | None:
        """The authorized handshake, or None once the client has been refused."""
        address = self._client_address()
        if throttle.blocked(address):
            await self._refuse(
                LimitExceeded(
                    "Too many failed handshakes from this address; slow down.",
                    code="too_many_failed_attempts",
                )
            )
            return None
        token = handshake.credentials.virtual_key or handshake.credentials.api_key
        cached = keycache.get(token) if token else None
        if cached is not None:
            try:
                model = services.handshake_model(cached, handshake)
                return services.Authorized(resolved=cached, model=model)
            except (key_errors.KeyRefused, GatewayError):
                pass  # refusals go through the database, which logs them
        authorized = await self._authorize_in_database(handshake)
        if authorized is not None and token:
            keycache.put(token, authorized.resolved)
        return authorized

    async def _authorize_in_database(self, handshake) -> services.Authorized | None:
        try:
            return await database_sync_to_async(services.session_authorize)(
                handshake=handshake,
                client_address=self._client_address(),
                instance=instance_name(),
                allow_passthrough=settings.GATEWAY_ALLOW_PASSTHROUGH,
            )
        except AuthenticationFailed as exc:
            throttle.failed(self._client_address())
            await self._refuse(exc)
        except GatewayError as exc:
            await self._refuse(exc)
        except DatabaseError:
            self._log.exception("cannot check keys: database error")
            await self._refuse(_keys_unavailable())
        return None

    def _prepare(self, authorized: services.Authorized, handshake) -> UpstreamTarget:
        """The upstream target; opens the provider's per-session handler."""
        provider = authorized.resolved.provider
        key = authorized.resolved.key
        try:
            adapter = adapter_for(provider.kind)
            request = ConnectRequest(
                base_url=adapter.upstream_url(provider.upstream_url, provider.options),
                credential=authorized.resolved.credential,
                query=handshake.query,
                subprotocols=handshake.subprotocols,
                options=provider.options,
                dialect=handshake.dialect,
            )
            target = adapter.target(request)
        except OptionsError as exc:
            self._log.error("provider %s is misconfigured: %s", provider.slug, exc)
            raise GatewayError(
                "The provider is misconfigured; ask an admin.",
                code="provider_misconfigured",
            ) from None
        self._provider = adapter.open_session(
            model=authorized.model or "",
            request=request,
            allowed_models=key.allowed_models if key is not None else (),
        )
        return target

    async def _start_row(self, authorized: services.Authorized) -> bool:
        """Write the session's row; False once the client has been refused."""
        try:
            await database_sync_to_async(services.session_start)(
                session_id=self._session_id,
                authorized=authorized,
                client_address=self._client_address(),
                instance=instance_name(),
            )
            return True
        except GatewayError as exc:  # over the key's limit: a rejected row
            await self._refuse(exc)
        except DatabaseError:
            self._log.exception("cannot write the session row: database error")
            await self._refuse(_keys_unavailable())
        return False

    async def _start_and_dial(self, authorized: services.Authorized, target):
        """The open upstream, or None once the session has ended.

        The row is written while the upstream handshake is under way, since both
        take a round trip; a key with a concurrency limit writes (and so checks)
        its row first, because a refused session must never reach the upstream.
        """
        if authorized.limited and not await self._start_row(authorized):
            return None
        row = (
            None
            if authorized.limited
            else asyncio.create_task(self._start_row(authorized))
        )
        try:
            upstream = await open_upstream(target, _upstream_options())
        except GatewayError as exc:
            if row is None or await row:
                self._log.warning(
                    "upstream %s refused: %s", self._provider_slug, exc.code
                )
                await self._end(Ending.by_gateway(exc, status=SessionStatus.FAILED))
            return None
        except BaseException:
            if row is not None:
                row.cancel()
                await asyncio.gather(row, return_exceptions=True)
            raise
        if row is not None and not await row:
            upstream.transport.abort()  # never bridge a session that is not logged
            return None
        return upstream

    async def _refuse(self, error: GatewayError) -> None:
        """Refuse a handshake: no upstream, one error event, then the close."""
        metrics.handshake_refused(code=error.code)
        self._log.warning(
            "refused a handshake from %s: %s", self._client_address(), error.code
        )
        self._ending = Ending.by_gateway(error, status=SessionStatus.REJECTED)
        self._ended = asyncio.get_running_loop().create_future()
        self._ended.set_result(None)
        await self._close_client(self._ending)

    def _client_address(self) -> str:
        client = self.scope.get("client")
        return str(client[0]) if client else ""

    # --- the bridge --------------------------------------------------------------

    async def websocket_receive(self, message: dict) -> None:
        """The hot path: one client frame to the upstream, counted."""
        upstream = self._upstream
        if upstream is None or self._ending is not None:
            return
        payload = message.get("text")
        size = (
            len(message.get("bytes") or b"") if payload is None else text_size(payload)
        )
        if size > self._max_bytes:
            error = MessageTooLarge(
                f"A message of {size} bytes is over the gateway's limit of "
                f"{self._max_bytes} bytes."
            )
            await self._end(Ending.by_gateway(error, status=SessionStatus.FINISHED))
            return
        if payload is None:
            payload = message.get("bytes") or b""
        elif self._provider.inspects_client_text:
            try:
                payload = self._provider.client_text(payload)
            except GatewayError as exc:
                await self._end(Ending.by_gateway(exc, status=_REFUSED_LATE))
                return
        meter = self._meter
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
            await self._end(Ending.by_gateway(error, status=SessionStatus.FAILED))

    async def _run_bridge(self) -> None:
        """Run the pump and the watcher; the first to finish ends the session."""
        revoked = await self._watch_revocation()
        tasks = [
            asyncio.create_task(self._pump_upstream()),
            asyncio.create_task(self._watch_session()),
        ]
        try:
            done, _ = await asyncio.wait(
                [*tasks, *([revoked] if revoked else [])],
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if revoked is not None:
                await revocations.hub_for(self.channel_layer).unwatch(
                    self._key_id, revoked
                )
        finished = next((task for task in tasks if task in done), None)
        if finished is None:
            ending = self._key_refused("the virtual key was revoked", "key_revoked")
        else:
            try:
                ending = finished.result()
            except Exception:
                self._log.exception("bridge fault")
                error = GatewayError("The gateway failed; the session was closed.")
                ending = Ending.by_gateway(error, status=SessionStatus.FAILED)
        await self._end(ending)

    async def _watch_revocation(self) -> asyncio.Future | None:
        """Have the process's hub tell this session when its key is revoked."""
        if self.channel_layer is None or self._key_id is None:
            return None
        try:
            return await revocations.hub_for(self.channel_layer).watch(self._key_id)
        except Exception:  # the layer is optional: the watcher re-checks anyway
            self._log.warning("channel layer unavailable for revocations")
            return None

    async def _pump_upstream(self) -> Ending:
        """Forward upstream frames to the client until the upstream closes."""
        upstream = self._upstream
        send = self.base_send
        meter = self._meter
        upstream_text = self._provider.upstream_text
        upstream_bytes = self._provider.upstream_bytes
        try:
            async for data in upstream:
                if type(data) is str:
                    meter.messages_from_upstream += 1
                    meter.bytes_from_upstream += text_size(data)
                    await send({"type": "websocket.send", "text": upstream_text(data)})
                else:
                    meter.messages_from_upstream += 1
                    meter.bytes_from_upstream += len(data)
                    await send(
                        {"type": "websocket.send", "bytes": upstream_bytes(data)}
                    )
        except ConnectionClosed:
            pass
        except SlowClient:
            # Flagged before the server even queues the disconnect it causes.
            self._slow_client = True
            return _SLOW_CLIENT
        except OSError:  # the client is gone (uvicorn raises on a send after it)
            return Ending.by_client(1006)
        return self._upstream_ended()

    def _upstream_ended(self) -> Ending:
        upstream = self._upstream
        received = upstream.protocol.close_rcvd
        sent = upstream.protocol.close_sent
        if received is not None:
            return Ending.by_upstream(received.code, received.reason)
        if sent is not None and sent.code == 1009:
            error = MessageTooLarge(
                f"The provider sent a message over the gateway's limit of "
                f"{self._max_bytes} bytes."
            )
        elif sent is not None and sent.code == 1011:
            error = UpstreamTimeout("The provider stopped answering pings.")
        elif sent is not None and sent.code in (1002, 1007):
            error = UpstreamUnavailable(
                "The provider sent an invalid WebSocket message.",
                code="upstream_protocol_error",
            )
        else:
            error = UpstreamUnavailable("The connection to the provider was lost.")
        return Ending.by_gateway(error, status=SessionStatus.FAILED)

    async def _watch_session(self) -> Ending:
        """Re-check the key and checkpoint the counters, every so often."""
        loop = asyncio.get_running_loop()
        recheck = settings.GATEWAY_KEY_RECHECK_SECONDS
        checkpoint = settings.GATEWAY_CHECKPOINT_SECONDS
        # Jitter the first check so sessions opened together do not query together.
        next_recheck = loop.time() + recheck * random.uniform(0.5, 1.0)
        if self._key_id is None:
            next_recheck = float("inf")
        next_checkpoint = loop.time() + checkpoint
        while True:
            await asyncio.sleep(
                max(0.0, min(next_recheck, next_checkpoint) - loop.time())
            )
            now = loop.time()
            try:
                if now >= next_recheck:
                    next_recheck = now + recheck
                    refusal = await database_sync_to_async(
                        key_selectors.virtual_key_refusal
                    )(key_id=self._key_id)
                    if refusal is not None:
                        keycache.forget(self._key_id)
                        return self._key_refused(str(refusal), refusal.code)
                if now >= next_checkpoint:
                    next_checkpoint = now + checkpoint
                    await database_sync_to_async(services.session_checkpoint)(
                        session_id=self._session_id,
                        counters=self._meter.snapshot(),
                        usage=self._provider.usage,
                        model=self._provider.model,
                    )
            except DatabaseError:
                # The session goes on; its counters stay in memory until it ends.
                self._log.warning(
                    "database unavailable for housekeeping", exc_info=True
                )

    def _key_refused(self, message: str, code: str) -> Ending:
        self._log.info("closing: %s", code)
        error = AccessDenied(message[:1].upper() + message[1:] + ".", code=code)
        return Ending.by_gateway(error, status=SessionStatus.FINISHED)

    # --- the end -----------------------------------------------------------------

    async def websocket_disconnect(self, message: dict) -> None:
        """The client closed or vanished: close the upstream, finalise the row."""
        self._client_open = False
        ending = _SLOW_CLIENT if self._slow_client else None
        await self._end(ending or Ending.by_client(message.get("code")))
        raise StopConsumer()

    async def _end(self, ending: Ending) -> None:
        """End the session once: stop the bridge, close both sides, finalise."""
        if self._ended is not None:  # already ending: wait until the row is written
            await asyncio.shield(self._ended)
            return
        self._ending = ending
        self._ended = asyncio.get_running_loop().create_future()
        try:
            await self._stop_bridge()
            await self._close_client(ending)
        finally:
            # The row first: the upstream's close handshake may take a while.
            try:
                await self._finalise(ending)
                await self._close_upstream(ending)
            finally:
                self._ended.set_result(None)

    async def _stop_bridge(self) -> None:
        bridge = self._bridge
        if bridge is not None and bridge is not asyncio.current_task():
            bridge.cancel()
            # Bounded: a slow channel layer must not hold up the session's row.
            # A bridge still stopping is awaited again when the consumer exits.
            await asyncio.wait({bridge}, timeout=_STOP_TIMEOUT)

    async def _close_client(self, ending: Ending) -> None:
        if not self._client_open:
            return
        self._client_open = False
        try:
            if not self._accepted:
                # Accept first: a close before accept is an HTTP 403 with no reason.
                await self.accept(self._subprotocol)
                self._accepted = True
            if ending.error is not None:
                await self.send(text_data=json.dumps(ending.error.event()))
            await self.close(code=ending.close_code, reason=ending.reason or None)
        except OSError:
            pass  # the client is already gone

    async def _close_upstream(self, ending: Ending) -> None:
        if self._upstream is None:
            return
        try:
            await self._upstream.close(
                code=ending.upstream_code, reason=ending.reason[:120]
            )
        except (ConnectionClosed, OSError):
            pass
        finally:
            self._abort_upstream()

    async def _await_bridge(self) -> None:
        bridge = self._bridge
        if bridge is None or bridge.done():
            return
        bridge.cancel()
        done, _ = await asyncio.wait({bridge}, timeout=_STOP_TIMEOUT)
        if not done:
            self._log.warning("bridge tasks did not stop within %s s", _STOP_TIMEOUT)

    def _abort_upstream(self) -> None:
        """Drop the upstream TCP connection if a close was interrupted."""
        if self._upstream is not None and self._upstream.state is not State.CLOSED:
            self._upstream.transport.abort()

    async def _finalise(self, ending: Ending) -> None:
        bridged = self._bridge is not None
        if self._session_id is None:
            return
        error = ending.error.message if ending.error is not None else ending.reason
        finish = database_sync_to_async(services.session_finish)
        for attempt, pause in enumerate(_FINALISE_RETRIES, start=1):
            try:
                await finish(
                    session_id=self._session_id,
                    status=ending.status,
                    close_code=ending.close_code,
                    close_reason=ending.reason,
                    error=error,
                    counters=self._meter.snapshot(),
                    usage=self._provider.usage,
                    model=self._provider.model,
                    provider_kind=self._provider_kind,
                )
                break
            except DatabaseError:
                if pause is None:  # out of attempts: say exactly what is lost
                    self._log.error(
                        "could not finalise the session row after %d attempts; "
                        "lost: status=%s %s %s",
                        attempt,
                        ending.status,
                        self._meter.snapshot(),
                        self._provider.usage.as_fields(),
                    )
                    break
                self._log.warning("database unavailable; retrying the session row")
                await asyncio.sleep(pause)
        metrics.session_ended(
            provider=self._provider_slug,
            status=ending.status,
            meter=self._meter,
            usage=self._provider.usage,
            bridged=bridged,
        )
        self._log.info(
            "ended %s code=%s in=%d out=%d tokens=%d",
            ending.status,
            ending.close_code,
            self._meter.messages_from_client,
            self._meter.messages_from_upstream,
            self._provider.usage.total_tokens,
        )
