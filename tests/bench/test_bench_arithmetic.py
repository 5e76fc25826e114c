"""The bench's arithmetic (bench/stats.py, bench/profile.py): no I/O, no timing."""

from __future__ import annotations

import itertools

import pytest

from bench import stats
from bench.plan import FULL, QUICK
from bench.profile import breakdown, layer_of, parse_frame
from bench.targets import ROOT


@pytest.mark.parametrize(
    ("samples", "q", "expected"),
    [
        ([5.0], 0, 5.0),
        ([5.0], 99, 5.0),
        ([1.0, 2.0, 3.0, 4.0], 0, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 100, 4.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),  # halfway between the middle two
        ([4.0, 1.0, 3.0, 2.0], 50, 2.5),  # order does not matter
        ([10.0, 20.0], 25, 12.5),
        (list(range(1, 101)), 99, 99.01),  # rank 98.01 of 0..99
    ],
)
def test_percentile_interpolates_between_ranks(samples, q, expected):
    assert stats.percentile(samples, q) == pytest.approx(expected)


@pytest.mark.parametrize(("samples", "q"), [([], 50), ([1.0], -1), ([1.0], 100.5)])
def test_percentile_rejects_empty_samples_and_bad_ranks(samples, q):
    with pytest.raises(ValueError):
        stats.percentile(samples, q)


def test_summarize():
    summary = stats.summarize([3.0, 1.0, 2.0, 10.0])
    assert summary == stats.Summary(count=4, p50=2.5, p99=pytest.approx(9.79),
                                    mean=4.0, max=10.0)  # fmt: skip


@pytest.mark.parametrize(
    ("value", "baseline", "expected"),
    [
        (3.0, 1.5, 2.0),
        (1.0, 4.0, 0.25),
        (None, 1.0, None),
        (1.0, None, None),
        (1.0, 0.0, None),  # no ratio to nothing
        (0.0, 2.0, 0.0),
    ],
)
def test_ratio(value, baseline, expected):
    assert stats.ratio(value, baseline) == expected


def test_per_unit_and_rate():
    assert stats.per_unit(0.12 * 1e6, 4000) == pytest.approx(30.0)  # us per frame
    assert stats.per_unit(35_000, 1000) == 35.0  # KiB per session
    assert stats.per_unit(10, 0) is None
    assert stats.rate(500, 2.0) == 250.0
    assert stats.rate(0, 2.0) is None
    assert stats.rate(10, 0.0) is None


def test_added_latency_is_a_plain_difference():
    assert stats.added_latency(27.5, 7.5) == 20.0
    assert stats.added_latency(3.0, 4.0) == -1.0  # noise can make it negative


def _step(sessions, p99, *, expected=1000, received=1000, failed=0):
    return stats.VoiceStep(
        sessions=sessions,
        expected=expected,
        received=received,
        p50_ms=None if p99 is None else p99 / 2,
        p99_ms=p99,
        failed_sessions=failed,
    )


@pytest.mark.parametrize(
    ("step", "direct", "passes"),
    [
        (_step(25, 27.0), 7.0, True),  # exactly 20 ms added
        (_step(25, 27.1), 7.0, False),
        (_step(25, 19.0), None, True),  # no direct figure: absolute budget
        (_step(25, 21.0), None, False),
        (_step(25, 5.0, received=950), 1.0, True),  # 95 % delivered
        (_step(25, 5.0, received=949), 1.0, False),
        (_step(25, 5.0, expected=0, received=0), 1.0, False),
        (_step(25, 5.0, failed=1), 1.0, False),  # a lost session fails the step
        (_step(25, None), 1.0, False),  # nothing came back
    ],
)
def test_step_passes(step, direct, passes):
    assert stats.step_passes(step, direct_p99_ms=direct) is passes


def test_capacity_is_the_last_passing_step_before_the_first_failure():
    direct = {25: 2.0, 50: 3.0, 100: 5.0, 200: 9.0}
    steps = [_step(25, 4.0), _step(50, 9.0), _step(100, 30.0), _step(200, 10.0)]
    assert stats.capacity(steps, direct) == 50  # 200 passes, but after a failure


def test_capacity_when_every_step_passes_or_none_does():
    direct = {25: 2.0, 50: 3.0}
    assert stats.capacity([_step(25, 4.0), _step(50, 9.0)], direct) == 50
    assert stats.capacity([_step(25, 40.0)], direct) == 0
    assert stats.capacity([], direct) == 0


def test_capacity_without_direct_uses_the_absolute_budget():
    assert stats.capacity([_step(25, 15.0), _step(50, 25.0)], {}) == 25


@pytest.mark.parametrize("plan", [FULL, QUICK], ids=["full", "quick"])
def test_voice_steps_grow_and_the_full_ramp_steps_finely_to_the_target(plan):
    steps = plan.voice_steps
    assert steps[0] > 0
    assert all(a < b for a, b in itertools.pairwise(steps))
    if plan is FULL:  # 400 (the target) is a step, reached in steps of <= 50
        assert 400 in steps
        assert all(b - a <= 50 for a, b in itertools.pairwise(steps) if b <= 500)


def test_delivery():
    assert _step(25, 1.0, expected=200, received=150).delivery == 0.75
    assert _step(25, 1.0, expected=0, received=0).delivery == 0.0


# --- the profile's grouping ----------------------------------------------------

SITE = "/venv/lib/python3.11/site-packages"
STDLIB = "/usr/lib/python3.11"


def test_parse_frame():
    assert parse_frame("Conn.doRead (/x/twisted/internet/tcp.py:278)") == (
        "Conn.doRead",
        "/x/twisted/internet/tcp.py",
    )
    assert parse_frame("<native>") == ("<native>", "")


@pytest.mark.parametrize(
    ("path", "layer"),
    [
        (f"{SITE}/twisted/internet/tcp.py", "Daphne/Twisted/autobahn"),
        (f"{SITE}/autobahn/websocket/protocol.py", "Daphne/Twisted/autobahn"),
        (f"{SITE}/daphne/ws_protocol.py", "Daphne/Twisted/autobahn"),
        (f"{SITE}/channels/consumer.py", "Channels/asgiref"),
        (f"{SITE}/asgiref/sync.py", "Channels/asgiref"),
        (f"{SITE}/websockets/protocol.py", "websockets (upstream leg)"),
        (f"{SITE}/django/db/models/query.py", "Django"),
        (f"{ROOT}/realtime/consumers.py", "gateway code"),
        (f"{STDLIB}/asyncio/base_events.py", "asyncio event loop"),
        (f"{STDLIB}/json/decoder.py", "other stdlib"),
        (f"{SITE}/uvloop/__init__.py", "uvicorn/uvloop"),
        (f"{SITE}/uvicorn/protocols/websockets/websockets_impl.py", "uvicorn/uvloop"),
        (f"{SITE}/click/termui.py", "other"),
    ],
)
def test_layer_of(path, layer):
    assert layer_of(path) == layer


def test_breakdown_shares_leave_waiting_threads_out():
    loop = f"BaseEventLoop._run_once ({STDLIB}/asyncio/base_events.py:1)"
    job = f"{loop};Handle._run ({STDLIB}/asyncio/events.py:80)"
    consumer = f"RealtimeConsumer.websocket_receive ({ROOT}/realtime/consumers.py:9)"
    send = f"Connection.send ({SITE}/websockets/asyncio/connection.py:1)"
    write = f"untilConcludes ({SITE}/twisted/python/util.py:760)"
    epoll = f"EpollSelector.select ({STDLIB}/selectors.py:468)"
    text = "\n".join(
        [
            f"{job};{consumer};{send} 30",
            f"{loop};{write} 50",  # the reactor's own I/O: no job is running
            f"{job};{consumer} 20",
            f"{loop};{epoll} 100",  # waiting: left out
            "garbage line",
        ]
    )
    result = breakdown(text)
    assert (result.samples, result.waiting) == (100, 100)
    assert dict(result.self_by_layer) == {
        "Daphne/Twisted/autobahn": 0.5,
        "websockets (upstream leg)": 0.3,
        "gateway code": 0.2,
    }
    # Inclusive counts the job above Handle._run, not the loop every stack shares.
    assert dict(result.inclusive_by_layer) == {
        "Daphne/Twisted/autobahn": 0.5,
        "gateway code": 0.5,
        "websockets (upstream leg)": 0.3,
    }
    assert result.top_self[0] == ("untilConcludes (util.py)",
                                  "Daphne/Twisted/autobahn", 0.5)  # fmt: skip
    assert ("RealtimeConsumer.websocket_receive (consumers.py)", "gateway code",
            0.5) in result.top_inclusive  # fmt: skip
    hotspots = dict(result.hotspots)
    assert hotspots["Twisted's socket send/recv (client leg syscalls)"] == 0.5
    assert hotspots["websockets upstream send (Connection.send)"] == 0.3
    assert hotspots["Django ORM / database"] == 0.0


def test_breakdown_of_nothing():
    result = breakdown("")
    assert (result.samples, result.self_by_layer, result.top_self) == (0, [], [])
