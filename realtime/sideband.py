"""One WebRTC call, metered and governed from the provider's sideband.

A call's media flows between the browser and the provider; the gateway sees
none of it. What it sees is the call's "sideband": the provider's WebSocket for
that call (OpenAI: `wss://.../v1/realtime?call_id=...`, developers.openai.com/
api/docs/guides/realtime-server-controls; GPT-Live: `.../live/sessions/{id}/
attach`, openai-python `resources/live/sideband.py`), opened with the real
credential, which carries the same server events as the call's data channel:
`response.done` with its usage, GPT-Live's `session.closed` with the session's.

The monitor runs the sideband through the same `Bridge` as a WebSocket session,
with nothing on the other side: the provider's frame handler reads the usage,
the watcher times the key's maximum duration, re-checks the key and the row,
checkpoints and keeps a budget, and the process's hub announces revocations and
an operator's terminate. Whatever ends the call (the provider closes the
sideband, the gateway decides, the server stops), the end is carried out once:
a call the gateway ends is hung up (the provider's hangup endpoint, with the
real credential), its final events are read, bounded, and its row (interface
`webrtc`) is finalised. The key's idle timeout does not apply: the gateway
cannot hear whether anyone speaks.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from realtime import endings
from realtime.admission import Session, upstream_options
from realtime.bridge import Bridge
from realtime.endings import Ending
from realtime.exceptions import GatewayError
from realtime.http_upstream import HttpRequest, post
from realtime.models import SessionStatus
from realtime.providers import UpstreamTarget
from realtime.session_metrics import count_bridged, count_ended
from realtime.state import ProcessState
from realtime.upstream import open_upstream
from realtime.usage import text_size

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class CallTargets:
    """Where a call is watched and hung up (headers hold the credential)."""

    sideband: UpstreamTarget
    hangup: HttpRequest


async def _nobody(message: dict[str, Any]) -> None:
    """The sideband's frames go to no client: they are only read."""


class CallMonitor:
    """Meters and governs one call until it ends; owned by the CallRegistry."""

    def __init__(
        self,
        session: Session,
        *,
        call_id: str,
        targets: CallTargets,
        state: ProcessState,
        layer: Any,
    ) -> None:
        self.session = session
        self.session_id = session.id
        self.call_id = call_id
        self._targets = targets
        self._state = state
        self._layer = layer
        self._stopping = asyncio.Event()
        self.hung_up = False

    def shut_down(self) -> None:
        """End the call: the gateway is stopping."""
        self._stopping.set()

    async def run(self) -> None:
        """Open the sideband, watch the call, end it once."""
        ending = endings.shutting_down()  # if cancelled before anything else
        try:
            ending = await self._watch()
        except asyncio.CancelledError:
            raise
        except Exception:
            self.session.log.exception("call monitor fault")
            ending = endings.gateway_fault()
        finally:
            await asyncio.shield(self._end(ending))

    async def _watch(self) -> Ending:
        session = self.session
        try:
            session.upstream = await open_upstream(
                self._targets.sideband, upstream_options()
            )
        except GatewayError as exc:
            session.log.warning("the call's sideband did not open: %s", exc.code)
            return Ending.by_gateway(exc, status=SessionStatus.FAILED)
        count_bridged(self._state.metrics, session)
        session.log.info("watching call %s on its sideband", self.call_id)
        bridge = Bridge(session, send=_nobody, layer=self._layer, state=self._state)
        running = asyncio.ensure_future(bridge.run())
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            done, _ = await asyncio.wait(
                {running, stopping}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            for task in (running, stopping):
                task.cancel()
            await asyncio.gather(running, stopping, return_exceptions=True)
        if running in done:
            return running.result()
        return endings.shutting_down()

    async def _end(self, ending: Ending) -> None:
        """Hang up a call the gateway ends, read its last events, finalise."""
        session = self.session
        try:
            if ending.error is not None:  # not the provider's own end
                await self._hang_up()
                await self._read_final_events()
        finally:
            try:
                await session.record.finish(ending, session.meter, session.provider)
                self._metrics_ended(ending)
                session.log.info(
                    "call %s ended %s (%s)",
                    self.call_id,
                    ending.status,
                    ending.end_reason,
                )
            finally:
                await self._close_sideband()

    async def _hang_up(self) -> None:
        timeout = settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT
        try:
            answer = await post(self._targets.hangup, timeout=timeout)
        except GatewayError as exc:
            self.session.log.warning("could not hang up the call: %s", exc.code)
            return
        self.hung_up = answer.status < 300
        if not self.hung_up:
            self.session.log.warning(
                "the provider refused to hang up the call (HTTP %d)", answer.status
            )

    async def _read_final_events(self) -> None:
        """Until the provider closes the sideband (it does once the call is
        over), its events go through the handler: the last usage report of a
        hung-up call comes then. Bounded by GATEWAY_FINAL_USAGE_SECONDS, and
        no longer than the handler awaits usage."""
        session = self.session
        upstream = session.upstream
        if upstream is None:
            return
        # Even once closed (the provider may close it as it answers the hangup),
        # the frames it received before the close are still read from it.
        meter, provider = session.meter, session.provider
        if not provider.awaiting_usage:
            return  # nothing billed is outstanding
        with contextlib.suppress(TimeoutError, ConnectionClosed, GatewayError):
            async with asyncio.timeout(settings.GATEWAY_FINAL_USAGE_SECONDS):
                async for data in upstream:
                    meter.messages_from_upstream += 1
                    if isinstance(data, str):
                        meter.bytes_from_upstream += text_size(data)
                        provider.upstream_text(data)
                    else:
                        meter.bytes_from_upstream += len(data)
                        provider.upstream_bytes(data)
                    if not provider.awaiting_usage:
                        return  # the final usage is in

    async def _close_sideband(self) -> None:
        upstream = self.session.upstream
        if upstream is None:
            return
        with contextlib.suppress(ConnectionClosed, OSError, TimeoutError):
            async with asyncio.timeout(2.0):
                await upstream.close()
        if upstream.state is not State.CLOSED:
            upstream.transport.abort()

    def _metrics_ended(self, ending: Ending) -> None:
        if self.session.upstream is not None:  # else never counted as started
            count_ended(self._state.metrics, self.session, ending)
