"""GPT-Live's frame handler for a WebRTC session, read from its sideband.

The events are those of a GPT-Live WebSocket session (`LiveSession`):
`session.usage.updated` and the final `session.closed` report the session's
cumulative time, `response.event` the delegated Responses usage. Two things
differ on a WebRTC session's sideband (openai-python `resources/live/
sideband.py`, `/live/sessions/{id}/attach`):

- no `session.start` passes: the session started when the gateway created it
  (`POST /live/sessions`), so its clock runs from then;
- the session may spend time in standby, billed at its own rate ("standby
  session time ... WebRTC only, while inference is paused",
  developers.openai.com/api/docs/models/gpt-live-1). openai-python's
  `SessionUsage` documents only the total `seconds`; where the usage also
  reports `standby_seconds`, that share is recorded as standby and the rest as
  active; otherwise every second is active (the higher rate: a reported total
  is never billed below its price).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from realtime.events import mapping, seconds
from realtime.providers.live import LiveSession

_USAGE_EVENTS = ("session.usage.updated", "session.closed")


class LiveCallSession(LiveSession):
    """`LiveSession` for a sideband: started at creation; standby split out."""

    inspects_client_text = False  # a sideband has no client frames

    def __init__(
        self,
        *,
        model: str,
        allowed_models: tuple[str, ...] = (),
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(model=model, allowed_models=allowed_models, clock=clock)
        self._started_at = clock()

    def _read(self, event: dict) -> None:
        super()._read(event)
        if event.get("type") not in _USAGE_EVENTS:
            return
        usage = mapping(event.get("usage"))
        total = seconds(usage.get("seconds"))
        standby = min(seconds(usage.get("standby_seconds")), total)
        self.usage = replace(
            self.usage, active_seconds=total - standby, standby_seconds=standby
        )
