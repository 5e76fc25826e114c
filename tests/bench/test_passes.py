"""Two passes of the short workloads, in order and then reversed: the schedule
and how the passes' figures combine (bench/run.py, bench/report.py,
bench/stats.py). No servers: plain results in, figures out."""

from __future__ import annotations

import pytest

from bench import report, stats
from bench.measure import SHORT_WORKLOADS, Measurer
from bench.plan import QUICK
from bench.run import ONCE, PASS_1, PASS_2, _combined, _schedule
from bench.scaleout import SCALE_OUT_TARGETS, WORKLOADS
from bench.targets import TARGETS


def test_pooled_is_the_weighted_mean_of_the_passes_that_gave_a_figure():
    assert stats.pooled([1.0, 3.0], [1.0, 1.0]) == 2.0
    # 400 sessions in 2 s, then 400 in 1 s: 800 in 3 s, not the mean of 200, 400
    assert stats.pooled([200.0, 400.0], [2.0, 1.0]) == pytest.approx(800 / 3)
    assert stats.pooled([None, 5.0], [1.0, 1.0]) == 5.0  # one pass failed
    assert stats.pooled([4.0, 5.0], [None, 1.0]) == 5.0  # no weight: left out
    assert stats.pooled([None, None], [1.0, 1.0]) is None
    assert stats.pooled([], []) is None


def _pass(**figures: float) -> dict[str, float | None]:
    return dict(figures)


def test_combine_passes_means_percentiles_and_totals_per_unit_figures():
    first = _pass(
        small_p50_ms=0.4,
        small_p99_ms=0.9,
        cpu_us_frame=100.0,
        frames=4000,
        throughput=9000.0,
        throughput_s=2.0,
        cpu_us_frame_loaded=50.0,
        frames_loaded=36000,
        setup_sequential=200.0,
        setup_sequential_s=2.0,  # 400 sessions
    )
    second = _pass(
        small_p50_ms=0.2,
        small_p99_ms=0.5,
        cpu_us_frame=60.0,
        frames=4000,
        throughput=11000.0,
        throughput_s=2.0,
        cpu_us_frame_loaded=40.0,
        frames_loaded=44000,
        setup_sequential=400.0,
        setup_sequential_s=1.0,  # 400 sessions
    )
    combined = report.combine_passes([first, second])
    assert combined == {
        "small_p50_ms": pytest.approx(0.3),  # the mean of the percentiles
        "small_p99_ms": pytest.approx(0.7),
        "cpu_us_frame": pytest.approx(80.0),  # 560,000 us over 8,000 frames
        "throughput": pytest.approx(10000.0),  # 40,000 echoes over 4 s
        # 1,800,000 + 1,760,000 us over 80,000 frames
        "cpu_us_frame_loaded": pytest.approx(44.5),
        "setup_sequential": pytest.approx(800 / 3),  # 800 sessions over 3 s
    }


def test_combine_passes_keeps_a_figure_only_one_pass_gave():
    combined = report.combine_passes([_pass(mib_p50_ms=9.0), _pass()])
    assert combined == {"mib_p50_ms": 9.0}
    assert report.combine_passes([]) == {}


def _result(name: str = "bare", **fields) -> report.TargetResult:
    return report.TargetResult(name=name, label=name, **fields)


def test_with_passes_adds_the_combined_figures_and_keeps_each_pass():
    once = _result(
        figures={"rss_kib_session": 30.0, "voice_capacity": 200},
        foreign_cores=0.1,
        steal_cores=0.0,
        notes=["voice: fine"],
    )
    first = _result(
        figures=_pass(small_p50_ms=0.5), foreign_cores=0.2, notes=["slow start"]
    )
    second = _result(figures=_pass(small_p50_ms=0.3), foreign_cores=0.05)
    merged = report.with_passes(once, [first, second])
    assert merged.figures == {
        "rss_kib_session": 30.0,
        "voice_capacity": 200,
        "small_p50_ms": pytest.approx(0.4),
    }
    assert merged.passes == [first, second]
    assert merged.foreign_cores == 0.2  # the most any run saw
    assert merged.steal_cores == 0.0
    assert merged.notes == ["voice: fine", "pass 1: slow start"]
    assert once.figures == {"rss_kib_session": 30.0, "voice_capacity": 200}


def test_the_short_workloads_run_in_order_then_reversed_and_the_rest_once():
    direct, bare, rungateway = TARGETS[:3]
    nginx = SCALE_OUT_TARGETS[0]
    schedule = [
        (part, target.name)
        for part, target in _schedule([direct, bare, rungateway, nginx])
    ]
    assert schedule == [
        (PASS_1, "direct"),
        (PASS_1, "bare"),
        (PASS_1, "rungateway"),
        (PASS_2, "rungateway"),
        (PASS_2, "bare"),
        (PASS_2, "direct"),
        (ONCE, "direct"),  # first: the voice ramps are read against it
        (ONCE, "bare"),
        (ONCE, "rungateway"),
        (ONCE, "nginx-1"),  # single pass: all its workloads at once
    ]


def test_the_runs_of_a_target_combine_into_one_result():
    runs = {
        PASS_1: _result(figures=_pass(setup_sequential=200.0, setup_sequential_s=2.0)),
        PASS_2: _result(figures=_pass(setup_sequential=400.0, setup_sequential_s=1.0)),
        ONCE: _result(figures={"voice_capacity": 250}),
    }
    combined = _combined(runs)
    assert combined.figures == {
        "voice_capacity": 250,
        "setup_sequential": pytest.approx(800 / 3),
    }
    assert len(combined.passes) == 2


def test_a_run_that_failed_stands_for_the_target():
    runs = {
        PASS_1: _result(figures=_pass(small_p50_ms=0.4)),
        PASS_2: _result(status="failed", reason="died"),
    }
    combined = _combined(runs)
    assert (combined.status, combined.reason) == ("failed", "pass 2: died")
    skipped = _combined({PASS_1: _result(status="skipped", reason="not installed")})
    assert (skipped.status, skipped.reason) == ("skipped", "not installed")


def test_a_scale_out_target_has_no_passes():
    once = _result("nginx-1", figures={"throughput": 9000.0})
    combined = _combined({ONCE: once})
    assert combined.figures == {"throughput": 9000.0}
    assert combined.passes == []


def test_a_pass_measures_the_short_workloads_and_the_once_run_the_rest():
    passed = Measurer(QUICK, _result(), (), only=SHORT_WORKLOADS)
    rest = Measurer(QUICK, _result(), (), skip=SHORT_WORKLOADS)
    for name in ("200 B latency", "throughput", "setup, 10 in flight"):
        assert passed.wants(name) and not rest.wants(name)
    for name in ("relay check", "idle memory", "voice ramp", "profile (py-spy)"):
        assert rest.wants(name) and not passed.wants(name)
    scale_out = Measurer(QUICK, _result(), (), only=WORKLOADS)
    assert scale_out.wants("throughput") and not scale_out.wants("idle memory")


def test_a_figure_not_measured_leaves_no_key():
    result = _result()
    Measurer(QUICK, result, ()).put(small_p50_ms=0.3, small_p99_ms=None)
    assert result.figures == {"small_p50_ms": 0.3}


def test_the_report_shows_each_pass_and_says_how_they_were_run():
    bare = report.with_passes(
        _result(figures={"rss_kib_session": 30.0}),
        [
            _result(figures=_pass(small_p50_ms=0.5, setup_sequential=200.0)),
            _result(figures=_pass(small_p50_ms=0.3, setup_sequential=240.0)),
        ],
    )
    run = report.Run(
        mode="quick",
        command="bash bench/run.sh --quick",
        date="today",
        seconds=60.0,
        machine={},
        plan={
            "small_count": 1,
            "audio_count": 1,
            "mib_count": 1,
            "throughput_sessions": 20,
            "throughput_seconds": 1.0,
            "idle_sessions": 1,
            "setup_sequential": 100,
            "setup_concurrent": 150,
            "voice_steps": [25],
            "voice_seconds": 1.0,
        },
        targets=[bare],
        direct_voice_p99={},
    )
    text = report.text_table(run)
    assert "in order and then in reverse order" in text
    assert "0.500 / 0.300" in text and "200 / 240" in text
    data = report.to_json(run)
    assert data["passes"] == report.PASSES_NOTE
    passes = data["targets"]["bare"]["passes"]
    assert [p["figures"]["small_p50_ms"] for p in passes] == [0.5, 0.3]
    assert "two passes" in report.markdown(run)
