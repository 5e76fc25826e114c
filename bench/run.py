"""Run the whole bench: every target, every workload, then the report.

    python -m bench [--quick] [--no-litellm] [--targets direct,daphne,...]

Targets run one after another against one fake upstream process; `direct` runs
first, because the voice ramp of every other target is read against it. A
workload that fails or overruns is recorded as such and the run goes on.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import gc
import importlib.metadata
import os
import platform
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

from bench import litellm_proxy, report, stats, voice, workloads
from bench import profile as profiling
from bench.client import MIB, SMALL_FRAME_BYTES, audio_frame
from bench.procs import ForeignLoad, quiet, settle
from bench.targets import (
    ROOT,
    TARGETS,
    Endpoint,
    Target,
    Unavailable,
    Workspace,
    direct_endpoint,
    workspace,
)

BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
LITELLM_VENV = BENCH_DIR / ".venv-litellm"
QUIET_CORES = 0.25  # before each target, wait (bounded) for others to use less
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Plan:
    """How much of everything to do."""

    small_count: int
    audio_count: int
    mib_count: int
    throughput_sessions: int
    throughput_seconds: float
    idle_sessions: int
    setup_sequential: int
    setup_concurrent: int
    voice_start: int
    voice_limit: int
    voice_seconds: float
    profile_seconds: int
    workload_timeout: float  # seconds any one workload may take


FULL = Plan(
    small_count=2000,
    audio_count=2000,
    mib_count=40,
    throughput_sessions=20,
    throughput_seconds=2.0,
    idle_sessions=1000,
    setup_sequential=100,
    setup_concurrent=200,
    voice_start=25,
    voice_limit=1600,
    voice_seconds=3.0,
    profile_seconds=10,
    workload_timeout=90.0,
)
QUICK = Plan(
    small_count=300,
    audio_count=200,
    mib_count=5,
    throughput_sessions=20,
    throughput_seconds=1.0,
    idle_sessions=100,
    setup_sequential=20,
    setup_concurrent=40,
    voice_start=25,
    voice_limit=50,
    voice_seconds=1.5,
    profile_seconds=3,
    workload_timeout=45.0,
)


def _raise_fd_limit() -> int:
    """Raise the open-files limit to the hard limit; children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def _event_loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop for the bench client when installed: less client noise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def _say(message: str) -> None:
    print(message, flush=True)


class Measurer:
    """Runs one target's workloads, recording figures, failures and notes."""

    def __init__(
        self, plan: Plan, result: report.TargetResult, pids: tuple[int, ...]
    ) -> None:
        self.plan = plan
        self.result = result
        self._pids = pids  # the target's and the fake's: settled before each step

    async def bounded(
        self, name: str, work: Awaitable[T], timeout: float | None = None
    ) -> T | None:
        """Await work under a timeout; a failure becomes a note, not a crash.

        Waits first until the target and the fake are idle, so the tail of one
        workload (closing sessions, finalising rows) does not land in the next.
        """
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
        _say(f"  {name:<22} {time.monotonic() - started:5.1f} s")
        return value

    def _note(self, note: str) -> None:
        self.result.notes.append(note)
        _say(f"  {note}")

    def put(self, **figures: float | None) -> None:
        """Record figures."""
        self.result.figures.update(figures)


async def _measure(
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
        m.put(
            throughput=flow.messages_per_second,
            cpu_us_frame_loaded=flow.cpu_us_per_frame,
        )
    m.put(
        setup_sequential=await m.bounded(
            "setup, sequential",
            workloads.setup_rate(endpoint, count=plan.setup_sequential, in_flight=1),
        ),
        setup_concurrent=await m.bounded(
            "setup, 10 in flight",
            workloads.setup_rate(endpoint, count=plan.setup_concurrent, in_flight=10),
        ),
    )


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
        _say(
            f"    voice {step.sessions:>5}: p99 {step.p99_ms or float('nan'):7.2f} ms,"
            f" delivered {step.delivery:6.1%}, lost sessions {step.failed_sessions}"
        )

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


def _machine() -> dict[str, str]:
    cpu = "unknown"
    with open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as meminfo:
        kib = int(meminfo.readline().split()[1])
    names = (
        "django",
        "channels",
        "daphne",
        "twisted",
        "autobahn",
        "uvicorn",
        "websockets",
        "uvloop",
    )
    versions = []
    for name in names:
        try:
            versions.append(f"{name} {importlib.metadata.version(name)}")
        except importlib.metadata.PackageNotFoundError:
            continue
    return {
        "nproc": str(os.cpu_count()),
        "cpu": cpu,
        "memory": f"{kib / 1024 / 1024:.0f} GiB RAM",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "versions": ", ".join(versions),
    }


@dataclass
class Shared:
    """What one target's run leaves for the next ones."""

    voice_counts: list[int]  # the steps direct carried; the others' ramp
    direct_p99: dict[int, float] = field(default_factory=dict)
    profile_out: Path | None = None  # where to record Daphne's profile, if at all
    profile: profiling.Breakdown | None = None


def _run_target(
    target: Target, ws: Workspace, direct: Endpoint, plan: Plan, shared: Shared
) -> report.TargetResult:
    """Start the target, measure everything, stop it; failures become the result."""
    result = report.TargetResult(name=target.name, label=target.label)
    _say(f"\n== {target.name}: {target.label}")
    started = time.monotonic()
    runner = asyncio.Runner(loop_factory=_event_loop_factory())
    gc.collect()
    gc.disable()  # no collector pauses in the client while it times things
    try:
        busy = runner.run(quiet(cores=QUIET_CORES, limit=10.0))
        if busy >= QUIET_CORES:
            _say(f"  note: other processes keep {busy:.2f} cores busy; going on")
        load = ForeignLoad()
        with target.start(ws) as endpoint:
            profile_out = shared.profile_out if target.name == "daphne" else None
            breakdown = runner.run(
                _measure(
                    endpoint,
                    direct,
                    Measurer(plan, result, (endpoint.pid, direct.pid)),
                    voice_counts=shared.voice_counts,
                    direct_p99=shared.direct_p99,
                    profile_out=profile_out,
                )
            )
            result.foreign_cores = load.cores()
        if target.name == "direct":
            shared.voice_counts = [
                c for c in shared.voice_counts if c in shared.direct_p99
            ]
        if profile_out is not None:
            shared.profile = breakdown
    except Unavailable as exc:
        result.status, result.reason = "skipped", str(exc)
        _say(f"  SKIPPED: {exc}")
    except RuntimeError as exc:  # could not start, or died
        result.status, result.reason = "failed", str(exc)[-500:]
        _say(f"  FAILED: {result.reason}")
    finally:
        runner.close()
        gc.enable()
    if result.status == "ok" and target.name == "litellm":
        result.notes.insert(0, f"LiteLLM {_litellm_version()}")
    _say(f"  ({time.monotonic() - started:.0f} s)")
    return result


def _litellm_version() -> str:
    return litellm_proxy.LITELLM_SPEC.partition("==")[2] or "(unpinned)"


def main(argv: list[str] | None = None) -> int:
    """Run the bench; print the table; write JSON and RESULTS.md."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    parser.add_argument("--no-litellm", action="store_true", help="skip LiteLLM")
    parser.add_argument("--targets", default="", help="comma-separated subset")
    parser.add_argument("--no-profile", action="store_true", help="skip py-spy")
    parser.add_argument(
        "--results-md",
        default=None,
        help="where to write RESULTS.md (default: bench/RESULTS.md on full runs, "
        "bench/results/RESULTS-quick.md on quick runs)",
    )
    args = parser.parse_args(argv)
    started = time.monotonic()
    plan = QUICK if args.quick else FULL
    wanted = {n for n in args.targets.split(",") if n} or {t.name for t in TARGETS}
    wanted.add("direct")  # every ratio is read against it
    if args.no_litellm:
        wanted.discard("litellm")
    hard = _raise_fd_limit()
    if hard < 4 * plan.idle_sessions:
        _say(f"note: open-files hard limit {hard} may be too low for the memory run")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(exist_ok=True)

    litellm = None
    if "litellm" in wanted:
        litellm = litellm_proxy.ensure_installed(LITELLM_VENV)
        if isinstance(litellm, str):
            _say(f"note: LiteLLM is skipped: {litellm}")

    profile_out = RESULTS_DIR / "profile-daphne.collapsed.txt"
    shared = Shared(
        voice_counts=stats.ramp(plan.voice_start, plan.voice_limit),
        profile_out=None if args.no_profile or not profiling.py_spy() else profile_out,
    )
    results = []
    with workspace(log_dir=log_dir, litellm=litellm) as ws:
        direct = direct_endpoint(ws)
        for target in TARGETS:
            if target.name in wanted:
                results.append(_run_target(target, ws, direct, plan, shared))

    profile_note = ""
    if shared.profile_out is None:
        profile_note = "py-spy not installed or --no-profile given"
    elif shared.profile is None and "daphne" in wanted:
        profile_note = "the py-spy recording failed (see the daphne notes)"
    run = report.Run(
        mode="quick" if args.quick else "full",
        command="bash bench/run.sh" + (" --quick" if args.quick else ""),
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        seconds=time.monotonic() - started,
        machine=_machine(),
        plan={**asdict(plan), "small_bytes": SMALL_FRAME_BYTES, "mib": MIB},
        targets=results,
        direct_voice_p99=shared.direct_p99,
        profile=shared.profile,
        profile_note=profile_note,
        profile_path=str(profile_out.relative_to(ROOT)),
    )
    _say("\n" + report.text_table(run))
    report.write_json(run, RESULTS_DIR / "latest.json")
    default_md = (
        BENCH_DIR / "RESULTS.md"
        if not args.quick
        else (RESULTS_DIR / "RESULTS-quick.md")
    )
    md_path = Path(args.results_md) if args.results_md else default_md
    md_path.write_text(report.markdown(run))
    _say(f"wrote {RESULTS_DIR / 'latest.json'} and {md_path}")
    _say(f"total {run.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
