"""Run the whole bench: every target, every workload, then the report.

    python -m bench [--quick] [--no-litellm] [--targets direct,daphne,...]

Targets run one after another against one fake upstream process, each run on a
fresh process. The short workloads (bench.measure.SHORT_WORKLOADS) run in two
passes over the single-process targets, in order and then in reverse order, so
that a machine drifting within the run weighs alike on every target; then every
target runs the rest once, in order: `direct` first, because the voice ramp of
every other target is read against it. A workload that fails or overruns is
recorded as such and the run goes on.
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
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench import litellm_proxy, report
from bench import profile as profiling
from bench.client import MIB, SMALL_FRAME_BYTES
from bench.measure import SHORT_WORKLOADS, Measurer, measure, say
from bench.plan import FULL, QUICK, Plan
from bench.procs import ForeignLoad, quiet
from bench.scaleout import SCALE_OUT_TARGETS
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
DISTURBED_CORES = 0.3  # others used more during a target: measure it again
# The parts of a target's measurements, each run on a fresh process: the short
# workloads twice, then the rest (memory, voice ramp, profile, checks) once.
PASS_1, PASS_2, ONCE = "pass 1", "pass 2", "once"


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
        "gateway": _gateway_revision(),
    }


def _gateway_revision() -> str:
    """The commit measured, and whether the gateway's code differed from it."""

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10
        )

    try:
        head = git("rev-parse", "--short", "HEAD").stdout.strip()
        paths = ["realtime", "keys", "gateway_project", "requirements.txt"]
        dirty = git("diff", "--quiet", "HEAD", "--", *paths).returncode != 0
    except (OSError, subprocess.TimeoutExpired):
        return "unknown revision"
    if not head:
        return "unknown revision"
    return f"commit {head}" + (" with uncommitted gateway changes" if dirty else "")


@dataclass
class Shared:
    """What one target's run leaves for the next ones."""

    voice_counts: list[int]  # the steps direct carried; the others' ramp
    direct_p99: dict[int, float] = field(default_factory=dict)
    profile_out: Path | None = None  # where to record the profile, if at all
    profile: profiling.Breakdown | None = None


def _in_passes(target: Target) -> bool:
    """Whether the target's short workloads run in two passes (one process)."""
    return target not in SCALE_OUT_TARGETS


def _schedule(selected: list[Target]) -> list[tuple[str, Target]]:
    """Every run in order: pass 1 over the single-process targets, pass 2 over
    them in reverse order, then the rest of every target once, in order."""
    paired = [target for target in selected if _in_passes(target)]
    return (
        [(PASS_1, target) for target in paired]
        + [(PASS_2, target) for target in reversed(paired)]
        + [(ONCE, target) for target in selected]
    )


def _run_target(
    target: Target,
    ws: Workspace,
    direct: Endpoint,
    plan: Plan,
    shared: Shared,
    part: str,
) -> report.TargetResult:
    """Start the target, measure one part, stop it; failures become the result."""
    result = report.TargetResult(name=target.name, label=target.label)
    say(f"\n== {target.name} ({part}): {target.label}")
    once = part == ONCE
    started = time.monotonic()
    runner = asyncio.Runner(loop_factory=_event_loop_factory())
    gc.collect()
    gc.disable()  # no collector pauses in the client while it times things
    try:
        busy = runner.run(quiet(cores=QUIET_CORES, limit=10.0))
        if busy >= QUIET_CORES:
            say(f"  note: other processes keep {busy:.2f} cores busy; going on")
        load = ForeignLoad()
        with target.start(ws) as endpoint:
            profile_out = (
                shared.profile_out
                if once and target.name == profiling.PROFILED
                else None
            )
            breakdown = runner.run(
                measure(
                    endpoint,
                    direct,
                    Measurer(
                        plan,
                        result,
                        (endpoint.pid, direct.pid),
                        only=target.workloads if once else SHORT_WORKLOADS,
                        skip=SHORT_WORKLOADS
                        if once and _in_passes(target)
                        else frozenset(),
                    ),
                    voice_counts=shared.voice_counts,
                    direct_p99=shared.direct_p99,
                    profile_out=profile_out,
                )
            )
            result.foreign_cores, result.steal_cores = load.cores(), load.steal()
        if once and target.name == "direct":
            shared.voice_counts = [
                c for c in shared.voice_counts if c in shared.direct_p99
            ]
        if profile_out is not None:
            shared.profile = breakdown
    except Unavailable as exc:
        result.status, result.reason = "skipped", str(exc)
        say(f"  SKIPPED: {exc}")
    except RuntimeError as exc:  # could not start, or died
        result.status, result.reason = "failed", str(exc)[-500:]
        say(f"  FAILED: {result.reason}")
    finally:
        runner.close()
        gc.enable()
    if result.status == "ok" and once and target.name == "litellm":
        result.notes.insert(0, f"LiteLLM {_litellm_version()}")
    say(f"  ({time.monotonic() - started:.0f} s)")
    return result


def _disturbed(result: report.TargetResult) -> bool:
    """Whether other processes took enough CPU to make the figures doubtful."""
    return result.status == "ok" and (result.foreign_cores or 0) > DISTURBED_CORES


def _run_again(
    target: Target,
    ws: Workspace,
    direct: Endpoint,
    plan: Plan,
    shared: Shared,
    part: str,
    first: report.TargetResult,
) -> report.TargetResult:
    """Measure a disturbed run once more; keep the quieter of the two.

    Direct's second voice ramp always stands: the ramps after it are read
    against it.
    """
    say(f"  other processes used {first.foreign_cores:.2f} cores: once more")
    reference = part == ONCE and target.name == "direct"
    if reference:
        shared.voice_counts = list(plan.voice_steps)
        shared.direct_p99.clear()
    second = _run_target(target, ws, direct, plan, shared, part)
    quieter = reference or (
        second.status == "ok"
        and (second.foreign_cores or 0) < (first.foreign_cores or 0)
    )
    kept = second if quieter else first
    kept.notes.append(
        f"measured twice (other processes used {first.foreign_cores:.2f}, then "
        f"{second.foreign_cores or 0:.2f} cores); these figures are from the "
        f"{'second' if kept is second else 'first'} run"
    )
    return kept


def _combined(runs: dict[str, report.TargetResult]) -> report.TargetResult:
    """A target's runs as one result; a run that failed or was skipped (the
    last one: the target is not run again after it) stands for the target."""
    for part, result in runs.items():
        if result.status != "ok":
            if result.status == "failed" and part != ONCE:
                result.reason = f"{part}: {result.reason}"
            return result
    passes = [runs[part] for part in (PASS_1, PASS_2) if part in runs]
    return report.with_passes(runs[ONCE], passes)


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
    every = TARGETS + SCALE_OUT_TARGETS
    wanted = {n for n in args.targets.split(",") if n} or {t.name for t in every}
    wanted.add("direct")  # every ratio is read against it
    if args.no_litellm:
        wanted.discard("litellm")
    hard = _raise_fd_limit()
    if hard < 4 * plan.idle_sessions:
        say(f"note: open-files hard limit {hard} may be too low for the memory run")
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    log_dir = RESULTS_DIR / "logs"
    log_dir.mkdir(exist_ok=True)

    litellm, install_note = None, "LiteLLM not run"
    if "litellm" in wanted:
        install_started = time.monotonic()
        litellm = litellm_proxy.ensure_installed(LITELLM_VENV)
        install_seconds = time.monotonic() - install_started
        if isinstance(litellm, str):
            say(f"note: LiteLLM is skipped: {litellm}")
            install_note = f"LiteLLM could not be installed ({install_seconds:.0f} s)"
        elif install_seconds > 5:
            install_note = f"including {install_seconds:.0f} s to install LiteLLM"
        else:
            install_note = "LiteLLM's cached venv reused"

    profile_out = RESULTS_DIR / f"profile-{profiling.PROFILED}.collapsed.txt"
    shared = Shared(
        voice_counts=list(plan.voice_steps),
        profile_out=None if args.no_profile or not profiling.py_spy() else profile_out,
    )
    runs: dict[str, dict[str, report.TargetResult]] = {}
    with workspace(log_dir=log_dir, litellm=litellm) as ws:
        direct = direct_endpoint(ws)
        selected = [target for target in every if target.name in wanted]
        schedule = _schedule(selected)
        for index, (part, target) in enumerate(schedule):
            done = runs.setdefault(target.name, {})
            if any(result.status != "ok" for result in done.values()):
                continue  # skipped or failed already: not started again
            result = _run_target(target, ws, direct, plan, shared, part)
            # Time for this run once more and for each run left?
            needed = sum(
                plan.once_seconds if later == ONCE else plan.pass_seconds
                for later, _ in schedule[index:]
            )
            in_time = time.monotonic() - started + needed < plan.budget_seconds
            if _disturbed(result) and in_time:
                result = _run_again(target, ws, direct, plan, shared, part, result)
            done[part] = result
    results = [_combined(runs[target.name]) for target in selected]

    profile_note = ""
    if shared.profile_out is None:
        profile_note = "py-spy not installed or --no-profile given"
    elif shared.profile is None and profiling.PROFILED in wanted:
        profile_note = (
            f"the py-spy recording failed (see the {profiling.PROFILED} notes)"
        )
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
        litellm_install=install_note,
    )
    say("\n" + report.text_table(run))
    report.write_json(run, RESULTS_DIR / "latest.json")
    default_md = (
        BENCH_DIR / "RESULTS.md"
        if not args.quick
        else (RESULTS_DIR / "RESULTS-quick.md")
    )
    md_path = Path(args.results_md) if args.results_md else default_md
    md_path.write_text(report.markdown(run))
    say(f"wrote {RESULTS_DIR / 'latest.json'} and {md_path}")
    say(f"total {run.seconds / 60:.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
