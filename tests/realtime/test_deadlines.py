"""The session clock: a key's maximum duration and idle timeout, from tables."""

from __future__ import annotations

import math

import pytest

from realtime.deadlines import IDLE_SAMPLES, SessionClock


def run_clock(clock: SessionClock, frames_at: list[float], *, until: float) -> float:
    """Wake the clock when it asks, with a frame counted at each of `frames_at`
    (between wakes, as the hot path counts them); the time it ends the session."""
    frames = 0
    now = 0.0
    while now < until:
        now = clock.next_check()
        assert now != math.inf
        frames = sum(1 for moment in frames_at if moment <= now)
        ending = clock.check(now, frames)
        if ending is not None:
            return now
    raise AssertionError("the clock never ended the session")


def test_no_limits_never_wake():
    clock = SessionClock(started=0.0, max_seconds=None, idle_seconds=None)
    assert not clock.limited
    assert clock.next_check() == math.inf
    assert clock.check(1e9, 5) is None


def test_the_maximum_duration_ends_the_session_on_time_whatever_the_traffic():
    clock = SessionClock(started=100.0, max_seconds=60, idle_seconds=None)
    assert clock.limited
    assert clock.next_check() == 160.0
    assert clock.check(159.9, 1) is None
    ending = clock.check(160.0, 2)
    assert ending is not None and ending.error is not None
    assert ending.error.code == "session_duration_exceeded"


@pytest.mark.parametrize("last_frame", [0.0, 0.1, 3.3, 7.49, 7.5, 7.51, 29.99])
def test_idle_is_never_early_and_late_by_at_most_an_eighth(last_frame):
    idle = 10.0
    clock = SessionClock(started=0.0, max_seconds=None, idle_seconds=idle)
    frames_at = [moment / 4 for moment in range(int(last_frame * 4))] + [last_frame]
    ended = run_clock(clock, frames_at, until=100.0)
    assert last_frame + idle <= ended <= last_frame + idle + idle / IDLE_SAMPLES


def test_the_idle_clock_wakes_eight_times_a_timeout():
    clock = SessionClock(started=0.0, max_seconds=None, idle_seconds=8.0)
    wakes = []
    while (ending := clock.check(clock.next_check(), 0)) is None:
        wakes.append(clock.next_check())
    assert ending.error is not None and ending.error.code == "idle_timeout"
    assert len(wakes) == IDLE_SAMPLES - 1


def test_frames_counted_before_the_clock_started_are_not_activity():
    clock = SessionClock(started=0.0, max_seconds=None, idle_seconds=1.0, frames=3)
    while (ending := clock.check(now := clock.next_check(), 3)) is None:
        pass
    assert ending.error is not None and ending.error.code == "idle_timeout"
    assert now == pytest.approx(1.0)


def test_whichever_limit_comes_first_ends_the_session():
    clock = SessionClock(started=0.0, max_seconds=5, idle_seconds=2.0)
    ending = None
    frames = 0
    while ending is None:
        now = clock.next_check()
        frames += 1  # busy: never idle
        ending = clock.check(now, frames)
    assert now == 5.0
    assert ending.error is not None
    assert ending.error.code == "session_duration_exceeded"
