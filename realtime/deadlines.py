"""A session's own time limits: its maximum duration and its idle timeout.

Pure (no I/O): the bridge's watcher asks `next_check` when to wake and
`check` whether the session must end, giving it the loop's time and the
meter's message count (both ways).

Idle is judged from that count, not from a time stamped on every frame: the hot
path already increments the meter's counters, so it does nothing new for this
limit (stamping `loop.time()` per frame would be exact, but costs a call and a
write on every frame of every session, for a limit measured in seconds). The
watcher samples the count; when it moved, some frame went by since the previous
sample, and the sample's time stands in for that frame's. So a session is never
closed early: it ends only once a full timeout has passed since a sample that
followed its last frame. It may be late by at most one sampling period;
sampling every `1/IDLE_SAMPLES` of the timeout bounds that at an eighth (a 60 s
timeout closes after 60 to 67.5 s of silence), for eight cheap wakes per
timeout and no query.
"""

from __future__ import annotations

import math

from realtime import endings
from realtime.endings import Ending

IDLE_SAMPLES = 8


class SessionClock:
    """When a session's maximum duration or idle timeout ends it."""

    __slots__ = ("_active_at", "_deadline", "_frames", "_idle", "_max", "_next")

    def __init__(
        self,
        *,
        started: float,
        max_seconds: float | None,
        idle_seconds: float | None,
        frames: int = 0,
    ) -> None:
        self._max = max_seconds
        self._deadline = started + max_seconds if max_seconds else math.inf
        self._idle = idle_seconds
        self._frames = frames
        self._active_at = started
        self._next = math.inf
        self._schedule(started)

    @property
    def limited(self) -> bool:
        """True when either limit is set (the watcher has something to time)."""
        return self._deadline != math.inf or self._idle is not None

    def next_check(self) -> float:
        """The loop time of the next check (inf: none is due)."""
        return min(self._deadline, self._next)

    def check(self, now: float, frames: int) -> Ending | None:
        """The session's ending if a limit is reached at `now`, with `frames`
        messages counted so far; else None (and the next check is scheduled)."""
        if now >= self._deadline:
            assert self._max is not None
            return endings.duration_exceeded(self._max)
        if self._idle is None:
            return None
        if frames != self._frames:
            self._frames = frames
            self._active_at = now
        elif now - self._active_at >= self._idle:
            return endings.idle_timeout(self._idle)
        self._schedule(now)
        return None

    def _schedule(self, now: float) -> None:
        if self._idle is not None:
            self._next = min(
                now + self._idle / IDLE_SAMPLES, self._active_at + self._idle
            )
