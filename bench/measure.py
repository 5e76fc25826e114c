"""One target's measurements, in order, each bounded and each after a settle.

A workload that fails or overruns becomes a note on the target's result and the
run goes on; the figures it would have given stay empty ("n/a" in the report).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

from bench import profile as profiling
from bench import report, stats, voice, workloads
from bench.client import SMALL_FRAME_BYTES, audio_frame
from bench.plan import Plan
from bench.procs import settle
from bench.targets import Endpoint

T = TypeVar("T")

# The short, comparable workloads (by their progress names). bench/run.py
# measures them in two passes over the targets, in order and then reversed, so
# that a machine drifting within the run weighs alike on every target.
SHORT_WORKLOADS = frozenset(
    {
        "200 B latency",
        "6.4 KB latency",
        "1 MiB latency",
        "throughput",
        "setup, sequential",
        "setup, 10 in flight",
    }
)


def say(message: str) -> None:
    """Print a progress line now."""
    print(message, flush=True)


class Measurer:
    """Runs one target's workloads, recording figures, failures and notes."""

    def __init__(
        self,
        plan: Plan,
        result: report.TargetResult,
        pids: tuple[int, ...],
        *,
        only: frozenset[str] | None = None,
        skip: frozenset[str] = frozenset(),
    ) -> None:
        self.plan = plan
        self.result = result
        self._pids = pids  # the target's and the fake's: settled before each step
        self._only = only  # the workloads this target measures; None: all
        self._skip = skip  # ... but for these (measured in another run)

    def wants(self, name: str) -> bool:
        """Whether this run measures the workload called name."""
        return (self._only is None or name in self._only) and name not in self._skip

    async def bounded(
        self, name: str, work: Awaitable[T], timeout: float | None = None
    ) -> T | None:
        """Await work under a timeout; a failure becomes a note, not a crash.

        Waits first until the target and the fake are idle, so the tail of one
        workload (closing sessions, finalising rows) does not land in the next.
        """
        if not self.wants(name):
            if inspect.iscoroutine(work):
                work.close()  # never started: nothing to wait for
            return None
        await settle(self._pids)
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout or self.plan.workload_timeout):
                value = await work
        except TimeoutError:
            self._note(f"{name}: timed out")
            return None
        except Exception as exc:  # the bench goes on; the report says what failed
            self._note(f"{name}: failed ({type(exc).__name__}: {str(exc)[:160]})")
            return None
        say(f"  {name:<22} {time.monotonic() - started:5.1f} s")
        return value

    def _note(self, note: str) -> None:
        self.result.notes.append(note)
        say(f"  {note}")

    def put(self, **figures: float | None) -> None:
        """Record figures; one not measured (None) leaves no key ("n/a")."""
        self.result.figures.update(
            (key, value) for key, value in figures.items() if value is not None
        )


async def measure(
    endpoint: Endpoint,
    direct: Endpoint,
    m: Measurer,
    *,
    voice_counts: list[int],
    direct_p99: dict[int, float],
    profile_out: Path | None,
) -> profiling.Breakdown | None:
    """Every workload against one endpoint, memory first (on a fresh process)."""
    m.result.relays_to_fake = await m.bounded(
        "relay check", workloads.relays_to_fake(endpoint, direct), 30
    )
    m.put(
        rss_kib_session=await m.bounded(
            "idle memory", workloads.idle_memory(endpoint, count=m.plan.idle_sessions)
        )
    )
    await _latencies(endpoint, m)
    await _load(endpoint, m)
    await _voice(endpoint, m, voice_counts=voice_counts, direct_p99=direct_p99)
    breakdown = None
    if profile_out is not None:
        text = await m.bounded(
            "profile (py-spy)",
            profiling.record(endpoint, seconds=m.plan.profile_seconds, out=profile_out),
        )
        breakdown = profiling.breakdown(text) if text else None
    fidelity = await m.bounded("fidelity", workloads.fidelity(endpoint), 30)
    if fidelity is not None:
        m.result.text_identical = fidelity.text_identical
        m.result.binary_echoed = fidelity.binary_echoed
    return breakdown


async def _latencies(endpoint: Endpoint, m: Measurer) -> None:
    """Sequential round trips: 200 B (with CPU per frame), 6.4 KB, 1 MiB."""
    plan = m.plan
    small = await m.bounded(
        "200 B latency",
        workloads.sequential(endpoint, size=SMALL_FRAME_BYTES, count=plan.small_count),
    )
    if small is not None:
        m.put(
            small_p50_ms=small.summary.p50,
            small_p99_ms=small.summary.p99,
            cpu_us_frame=small.cpu_us_per_frame,
            frames=2 * small.summary.count,  # what cpu_us_frame is per
        )
    audio_bytes = len(audio_frame(voice.audio_chunk()))
    audio = await m.bounded(
        "6.4 KB latency",
        workloads.sequential(endpoint, size=audio_bytes, count=plan.audio_count),
    )
    if audio is not None:
        m.put(audio_p50_ms=audio.summary.p50, audio_p99_ms=audio.summary.p99)
    large = await m.bounded(
        "1 MiB latency", workloads.large_frames(endpoint, count=plan.mib_count)
    )
    if large is not None:
        m.put(mib_p50_ms=large.summary.p50, mib_p99_ms=large.summary.p99)


async def _load(endpoint: Endpoint, m: Measurer) -> None:
    """Throughput over concurrent sessions, then session setup rates."""
    plan = m.plan
    flow = await m.bounded(
        "throughput",
        workloads.throughput(
            endpoint,
            session_count=plan.throughput_sessions,
            seconds=plan.throughput_seconds,
        ),
    )
    if flow is not None:
        # With what each figure is per (seconds, frames): passes combine by them.
        m.put(throughput=flow.messages_per_second, throughput_s=flow.seconds)
        if endpoint.one_process:
            m.put(cpu_us_frame_loaded=flow.cpu_us_per_frame, frames_loaded=flow.frames)
    for key, label, count, in_flight in (
        ("setup_sequential", "setup, sequential", plan.setup_sequential, 1),
        ("setup_concurrent", "setup, 10 in flight", plan.setup_concurrent, 10),
    ):
        setups = await m.bounded(
            label,
            workloads.setup_rate(endpoint, count=count, in_flight=in_flight),
        )
        if setups is not None:
            m.put(**{key: setups.per_second, f"{key}_s": setups.seconds})


async def _voice(
    endpoint: Endpoint,
    m: Measurer,
    *,
    voice_counts: list[int],
    direct_p99: dict[int, float],
) -> None:
    is_direct = endpoint.name == "direct"

    def passes(step: stats.VoiceStep) -> bool:
        direct = None if is_direct else direct_p99.get(step.sessions)
        return stats.step_passes(step, direct_p99_ms=direct)

    def show(step: stats.VoiceStep) -> None:
        say(
            f"    voice {step.sessions:>5}: p99 {step.p99_ms or float('nan'):7.2f} ms,"
            f" delivered {step.delivery:6.1%}, lost sessions {step.failed_sessions}"
        )

    if not m.wants("voice ramp"):
        return
    if not voice_counts:
        m.result.notes.append(
            "voice ramp not run: direct itself missed the budget at the first step"
        )
        return
    timeout = len(voice_counts) * (m.plan.voice_seconds + 25) + 30
    steps = await m.bounded(
        "voice ramp",
        voice.ramp(
            endpoint,
            voice_counts,
            seconds=m.plan.voice_seconds,
            passes=passes,
            on_step=show,
        ),
        timeout,
    )
    m.result.voice_steps = steps or []
    if not steps:
        return
    if is_direct:
        for step in steps:
            if passes(step) and step.p99_ms is not None:
                direct_p99[step.sessions] = step.p99_ms
        carried = stats.capacity(steps, {})
        m.result.voice_client_bound = carried == voice_counts[-1]
    else:
        carried = stats.capacity(steps, direct_p99)
        m.result.voice_client_bound = carried == voice_counts[-1] and carried > 0
    last = next((s for s in steps if s.sessions == carried), None)
    m.put(
        voice_capacity=carried,
        voice_p99_ms=last.p99_ms if last else None,
    )
