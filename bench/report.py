"""Turn a run's figures into a table (terminal), JSON and bench/RESULTS.md."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import profile as profiling
from bench import stats
from bench.profile import Breakdown


@dataclass(frozen=True, slots=True)
class Metric:
    """One row of the table."""

    key: str
    label: str
    higher_is_better: bool
    fmt: Callable[[float], str]
    # The figure holding what this one is per (seconds, frames), if it is a
    # total over units: passes then combine as the total over the total.
    per: str | None = None


def _ms(value: float) -> str:
    return (
        f"{value:.3f}"
        if value < 1
        else f"{value:.2f}"
        if value < 10
        else f"{value:.1f}"
    )


def _int(value: float) -> str:
    return f"{value:,.0f}"


def _one(value: float) -> str:
    return f"{value:.1f}"


METRICS: tuple[Metric, ...] = (
    Metric("small_p50_ms", "200 B echo p50 (ms)", False, _ms),
    Metric("small_p99_ms", "200 B echo p99 (ms)", False, _ms),
    Metric("audio_p50_ms", "6.4 KB echo p50 (ms)", False, _ms),
    Metric("audio_p99_ms", "6.4 KB echo p99 (ms)", False, _ms),
    Metric("mib_p50_ms", "1 MiB echo p50 (ms)", False, _ms),
    Metric("mib_p99_ms", "1 MiB echo p99 (ms)", False, _ms),
    Metric("throughput", "20 sessions, echoes/s", True, _int, "throughput_s"),
    Metric("cpu_us_frame", "CPU us/frame, sequential", False, _one, "frames"),
    Metric(
        "cpu_us_frame_loaded", "CPU us/frame, 20 sessions", False, _one, "frames_loaded"
    ),
    Metric("rss_kib_session", "RSS KiB per idle session", False, _one),
    Metric(
        "setup_sequential",
        "sessions/s to close, sequential",
        True,
        _int,
        "setup_sequential_s",
    ),
    Metric(
        "setup_concurrent",
        "sessions/s to close, 10 in flight",
        True,
        _int,
        "setup_concurrent_s",
    ),
    Metric("voice_capacity", "voice sessions, +p99<20ms", True, _int),
    Metric("voice_p99_ms", "voice p99 at that count (ms)", False, _ms),
)


@dataclass
class TargetResult:
    """Everything measured (or why not) for one target."""

    name: str
    label: str
    status: str = "ok"  # ok | skipped | failed
    reason: str = ""
    figures: dict[str, float | None] = field(default_factory=dict)
    voice_steps: list[stats.VoiceStep] = field(default_factory=list)
    voice_client_bound: bool = False
    relays_to_fake: bool | None = None
    text_identical: bool | None = None
    binary_echoed: bool | None = None
    foreign_cores: float | None = None  # CPU other processes used meanwhile
    steal_cores: float | None = None  # CPU the hypervisor withheld meanwhile
    notes: list[str] = field(default_factory=list)
    # The runs of the short workloads (bench.measure.SHORT_WORKLOADS), pass 1
    # then pass 2, each its own result; figures holds them combined.
    passes: list[TargetResult] = field(default_factory=list)


# Two passes over the targets, the second in reverse order: a drift of the
# machine in time then weighs alike on every target (an ABBA design).
PASSES_NOTE = (
    "latency, CPU per frame, throughput and setup rates were measured in two "
    "passes over the targets, in order and then in reverse order, each on a "
    "fresh process; their figures combine both (percentiles: the mean of the two "
    "passes'; rates and CPU per frame: the total over the total)"
)
# The figures shown pass by pass in the report (the JSON has them all).
PASS_KEYS = (
    "small_p50_ms",
    "cpu_us_frame",
    "throughput",
    "setup_sequential",
    "setup_concurrent",
)


def combine_passes(
    passes: Sequence[Mapping[str, float | None]],
) -> dict[str, float | None]:
    """Each metric's figure over the passes that gave one.

    Percentiles: the mean of the passes' percentiles, not the percentile of the
    pooled samples: if the machine is slower in one pass, the pooled tail is
    mostly that pass's, while the mean of the percentiles is the mid-run
    machine's, and with equal counts per pass it is as precise. Rates and CPU
    per frame: the total over the total (each weighted by its seconds or frames).
    """
    combined: dict[str, float | None] = {}
    for metric in METRICS:
        values = [figures.get(metric.key) for figures in passes]
        if all(value is None for value in values):
            continue
        weights = [figures.get(metric.per) if metric.per else 1.0 for figures in passes]
        combined[metric.key] = stats.pooled(values, weights)
    return combined


def with_passes(once: TargetResult, passes: list[TargetResult]) -> TargetResult:
    """once's result with the passes' figures combined into it.

    Other processes' CPU and the steal are the most any of the runs saw.
    """

    def most(values: list[float | None]) -> float | None:
        given = [value for value in values if value is not None]
        return max(given) if given else None

    runs = [once, *passes]
    notes = list(once.notes)
    for number, run in enumerate(passes, 1):
        notes += [f"pass {number}: {note}" for note in run.notes]
    return dataclasses.replace(
        once,
        figures={**once.figures, **combine_passes([p.figures for p in passes])},
        foreign_cores=most([run.foreign_cores for run in runs]),
        steal_cores=most([run.steal_cores for run in runs]),
        notes=notes,
        passes=passes,
    )


@dataclass
class Run:
    """A whole bench run."""

    mode: str
    command: str
    date: str
    seconds: float
    machine: dict[str, str]
    plan: dict[str, Any]
    targets: list[TargetResult]
    direct_voice_p99: dict[int, float]
    profile: Breakdown | None = None
    profile_note: str = ""
    profile_path: str = ""
    litellm_install: str = ""  # how the LiteLLM venv came to be, for the header


def _by_name(run: Run) -> dict[str, TargetResult]:
    return {target.name: target for target in run.targets}


def ratios(run: Run, baseline: str) -> dict[str, dict[str, float | None]]:
    """Each target's figures divided by the baseline target's."""
    base = _by_name(run).get(baseline)
    base_figures = base.figures if base and base.status == "ok" else {}
    return {
        target.name: {
            m.key: stats.ratio(target.figures.get(m.key), base_figures.get(m.key))
            for m in METRICS
        }
        for target in run.targets
    }


def _cell(target: TargetResult, metric: Metric) -> str:
    if target.status != "ok":
        return target.status
    value = target.figures.get(metric.key)
    if value is None:
        return "n/a"
    text = metric.fmt(value)
    if metric.key == "voice_capacity" and target.voice_client_bound:
        text = ">=" + text
    return text


def _ratio_cell(target: TargetResult, value: float | None) -> str:
    if target.status != "ok":
        return target.status
    return "n/a" if value is None else f"{value:.2f}x"


def _grid(run: Run) -> list[tuple[str, list[list[str]]]]:
    """(title, rows) for the absolute table, the two ratio tables and, if there
    were passes, the passes table."""
    header = ["", *(t.name for t in run.targets)]
    absolute = [header] + [
        [m.label, *(_cell(t, m) for t in run.targets)] for m in METRICS
    ]
    grids = [("Figures", absolute)]
    for baseline, title in (("direct", "vs direct"), ("bare", "vs bare relay")):
        table = ratios(run, baseline)
        rows = [header] + [
            [m.label, *(_ratio_cell(t, table[t.name][m.key]) for t in run.targets)]
            for m in METRICS
        ]
        grids.append((f"Ratio {title} (target / {baseline})", rows))
    if any(t.passes for t in run.targets):
        grids.append(("Pass 1 / pass 2 (in order, then reversed)", _pass_rows(run)))
    return grids


def _pass_rows(run: Run) -> list[list[str]]:
    """A few figures pass by pass: how far the machine drifted within the run."""
    metrics = {m.key: m for m in METRICS}
    rows = [["", *(t.name for t in run.targets)]]
    for key in PASS_KEYS:
        metric = metrics[key]
        cells = []
        for target in run.targets:
            values = [p.figures.get(key) for p in target.passes]
            cells.append(
                " / ".join("n/a" if v is None else metric.fmt(v) for v in values) or "-"
            )
        rows.append([metric.label, *cells])
    return rows


def text_table(run: Run) -> str:
    """The tables as fixed-width text for the terminal."""
    out = []
    if any(t.passes for t in run.targets):
        out += [f"Short workloads: {PASSES_NOTE}.", ""]
    for title, rows in _grid(run):
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        out.append(title)
        for row in rows:
            cells = [row[0].ljust(widths[0])]
            cells += [
                cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True)
            ]
            out.append("  ".join(cells))
        out.append("")
    return "\n".join(out)


def _markdown_table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(rows[0]) + " |"]
    lines.append("| --- |" + " ---: |" * (len(rows[0]) - 1))
    lines += ["| " + " | ".join(row) + " |" for row in rows[1:]]
    return "\n".join(lines)


def to_json(run: Run) -> dict[str, Any]:
    """The run as JSON-ready data."""
    by_direct, by_bare = ratios(run, "direct"), ratios(run, "bare")
    return {
        "date": run.date,
        "mode": run.mode,
        "command": run.command,
        "seconds": round(run.seconds, 1),
        "litellm_install": run.litellm_install,
        "machine": run.machine,
        "plan": run.plan,
        "direct_voice_p99_ms": {str(k): v for k, v in run.direct_voice_p99.items()},
        "passes": PASSES_NOTE if any(t.passes for t in run.targets) else None,
        "targets": {
            t.name: {
                "label": t.label,
                "status": t.status,
                "reason": t.reason,
                "figures": t.figures,
                "ratio_vs_direct": by_direct[t.name],
                "ratio_vs_bare": by_bare[t.name],
                "voice_steps": [_step_json(s, run) for s in t.voice_steps],
                "voice_client_bound": t.voice_client_bound,
                "relays_to_fake": t.relays_to_fake,
                "text_identical": t.text_identical,
                "binary_echoed": t.binary_echoed,
                "foreign_cores": t.foreign_cores,
                "steal_cores": t.steal_cores,
                "notes": t.notes,
                "passes": [
                    {
                        "figures": p.figures,
                        "foreign_cores": p.foreign_cores,
                        "steal_cores": p.steal_cores,
                        "notes": p.notes,
                    }
                    for p in t.passes
                ],
            }
            for t in run.targets
        },
        "profile": None
        if run.profile is None
        else {
            "target": profiling.PROFILED,
            "samples": run.profile.samples,
            "self_by_layer": run.profile.self_by_layer,
            "inclusive_by_layer": run.profile.inclusive_by_layer,
            "top_self": run.profile.top_self,
            "top_inclusive": run.profile.top_inclusive,
            "hotspots": run.profile.hotspots,
            "collapsed_stacks": run.profile_path,
        },
        "profile_note": run.profile_note,
    }


def _step_json(step: stats.VoiceStep, run: Run) -> dict[str, Any]:
    direct = run.direct_voice_p99.get(step.sessions)
    return {
        "sessions": step.sessions,
        "expected": step.expected,
        "received": step.received,
        "delivery": round(step.delivery, 4),
        "p50_ms": step.p50_ms,
        "p99_ms": step.p99_ms,
        "direct_p99_ms": direct,
        "added_p99_ms": None
        if step.p99_ms is None or direct is None
        else stats.added_latency(step.p99_ms, direct),
        "failed_sessions": step.failed_sessions,
        "passed": stats.step_passes(step, direct_p99_ms=direct),
    }


def write_json(run: Run, path: Path) -> None:
    """Write the run to path as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_json(run), indent=2) + "\n")


def _voice_section(run: Run) -> list[str]:
    lines = [
        "## Voice ramp",
        "",
        "Each step: N sessions each sending a 100 ms chunk (4,800 B PCM as base64 in "
        "a `fake.echo` event, ~6.4 KB) every 100 ms, echoed by the fake; p99 of "
        "chunk round trips over the step's window. *Added* = p99 through the target "
        "minus p99 direct at the same N. A step passes with added p99 <= 20 ms, "
        ">= 95 % of the scheduled echoes back within 1 s, and no session lost.",
        "",
        "| target | N | p50 ms | p99 ms | direct p99 ms | added ms | delivered | "
        "pass |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for target in run.targets:
        for step in target.voice_steps:
            data = _step_json(step, run)
            if target.name == "direct":
                data["passed"] = stats.step_passes(step, direct_p99_ms=None)
            lines.append(
                f"| {target.name} | {step.sessions} | {_opt(step.p50_ms)} | "
                f"{_opt(step.p99_ms)} | {_opt(data['direct_p99_ms'])} | "
                f"{_opt(data['added_p99_ms'])} | {step.delivery:.1%} | "
                f"{'yes' if data['passed'] else 'no'} |"
            )
    return lines


def _opt(value: float | None) -> str:
    return "-" if value is None else _ms(value)


# What some hot functions are, for readers of the profile.
GLOSSES = {
    "untilConcludes": "Twisted's retry wrapper around socket send/recv: the client "
    "leg's system calls",
    "_SelectorSocketTransport.write": "asyncio's socket write: the upstream leg's "
    "system call",
    "XorMaskerNvx.__init__": "autobahn sets up unmasking for every client frame",
    "XorMaskerNvx.process": "autobahn unmasks the client's frame",
    "hltype": "autobahn formats a debug-log argument on every frame, even with "
    "debug logging off",
    "_qn": "autobahn formats a debug-log argument on every frame, even with debug "
    "logging off",
    "Frame.serialize": "websockets builds (and masks) the upstream frame",
    "_PollLikeSelector.modify": "the reactor re-arms epoll for a socket write",
    "style": "click colours a debug-log argument for autobahn (debug is off)",
    "hl": "autobahn formats a debug-log argument on every frame, even with debug "
    "logging off",
    "SystemRandom.randbytes": "websockets draws a masking key for each upstream "
    "frame (secrets.token_bytes)",
}


def _gloss(function: str) -> str:
    return GLOSSES.get(function.split(" (")[0], "")


def _profile_section(run: Run) -> list[str]:
    title = f"## Where the time goes (`{profiling.PROFILED}`: uvicorn with uvloop)"
    lines = [title, ""]
    profile = run.profile
    if profile is None:
        return [*lines, f"Not profiled: {run.profile_note or 'no profile taken'}.", ""]
    lines += [
        f"py-spy sampled the `rungateway` process at 200 Hz for "
        f"{run.plan.get('profile_seconds')} s while one client echoed 200 B frames "
        f"back to back through it: {profile.samples} working samples, plus "
        f"{profile.waiting} of threads blocked in epoll or an idle database worker, "
        f"left out of the shares. Collapsed stacks: `{run.profile_path}` "
        "(speedscope or flamegraph.pl draw them). *Self*: the sample's innermost "
        "frame is in that layer, with the C calls it makes (e.g. socket writes). "
        "*Inclusive*: the layer is anywhere in the job the event loop was running "
        "(above `Handle._run`, or under uvloop, whose loop is C, above "
        "`Runner.run`), so frames every stack shares (the command, the loop) do "
        "not count.",
        "",
        "| layer | self | inclusive |",
        "| --- | ---: | ---: |",
    ]
    own, inclusive = dict(profile.self_by_layer), dict(profile.inclusive_by_layer)
    for layer in sorted(own.keys() | inclusive.keys(), key=lambda k: -own.get(k, 0)):
        lines.append(
            f"| {layer} | {own.get(layer, 0):.1%} | {inclusive.get(layer, 0):.1%} |"
        )
    lines += [
        "",
        "Named call paths (inclusive share; they overlap):",
        "",
        "| call path | inclusive |",
        "| --- | ---: |",
    ]
    for label, share in profile.hotspots:
        if share == 0:
            continue  # another server's call path (e.g. Daphne's)
        lines.append(f"| {label} | {share:.1%} |")
    lines += [
        "",
        "Top functions by self time:",
        "",
        "| function | layer | self | what |",
        "| --- | --- | ---: | --- |",
    ]
    for function, layer, share in profile.top_self:
        lines.append(f"| `{function}` | {layer} | {share:.1%} | {_gloss(function)} |")
    lines += [
        "",
        "Top functions by inclusive time (the call paths):",
        "",
        "| function | layer | inclusive |",
        "| --- | --- | ---: |",
    ]
    for function, layer, share in profile.top_inclusive:
        lines.append(f"| `{function}` | {layer} | {share:.1%} |")
    lines.append("")
    if run.profile_note:
        lines += [run.profile_note, ""]
    return lines


def markdown(run: Run, *, commentary: str = "") -> str:
    """RESULTS.md: the tables, the ramp, the profile, the machine and the date."""
    machine = run.machine
    lines = [
        "# Benchmark results",
        "",
        f"Run on {run.date} with `{run.command}` ({run.mode} mode, "
        f"{run.seconds / 60:.1f} min in all; {run.litellm_install}).",
        "",
        f"Machine: {machine.get('nproc')} CPUs ({machine.get('cpu')}), "
        f"{machine.get('memory')}, Linux {machine.get('kernel')}, "
        f"Python {machine.get('python')}; {machine.get('versions')}. Gateway at "
        f"{machine.get('gateway')}. The client, "
        "the fake upstream and the target each run in their own process on the "
        "same two cores, all on 127.0.0.1.",
        "",
    ]
    if any(t.passes for t in run.targets):
        lines += [f"Short workloads: {PASSES_NOTE}; see Method.", ""]
    for title, rows in _grid(run):
        lines += [f"## {title}", "", _markdown_table(rows), ""]
    lines += [*_voice_section(run), ""]
    lines += ["## Checks and notes", ""]
    for target in run.targets:
        lines.append(f"- **{target.name}** ({target.label}): " + _check_line(target))
    lines.append("")
    lines += _profile_section(run)
    if commentary:
        lines += [commentary.rstrip(), ""]
    lines += _method_section(run)
    return "\n".join(lines).rstrip() + "\n"


def _check_line(target: TargetResult) -> str:
    if target.status != "ok":
        return f"{target.status}: {target.reason}"
    parts = []
    if target.relays_to_fake is not None:
        parts.append(
            "relays to the fake (its session counter moved)"
            if target.relays_to_fake
            else "did NOT reach the fake"
        )
    if target.text_identical is not None:
        parts.append(
            "text frames byte-identical"
            if target.text_identical
            else "text frames re-serialised (not byte-identical)"
        )
    if target.binary_echoed is not None:
        parts.append(
            "binary frames relayed"
            if target.binary_echoed
            else "binary frame NOT relayed"
        )
    if target.foreign_cores is not None:
        most = "at most " if target.passes else ""  # the most of its runs
        parts.append(
            f"meanwhile other processes used {most}"
            f"{max(0.0, target.foreign_cores):.2f} cores and the hypervisor "
            f"withheld {most}{target.steal_cores or 0:.2f} (steal)"
        )
    parts += target.notes
    return "; ".join(parts) + "."


def _method_section(run: Run) -> list[str]:
    plan = run.plan
    passes = []
    if any(t.passes for t in run.targets):
        passes = [
            f"- Passes: {PASSES_NOTE}. A drift of the machine in time then weighs "
            "alike on every target. Memory, the voice ramp and the profile ran once "
            "per target after both passes, in order (direct first), on a fresh "
            "process; the scale-out targets ran once. The pass-by-pass table shows "
            "how far the machine drifted; the JSON has every figure of each pass.",
        ]
    return [
        "## Method",
        "",
        *passes,
        f"- Latency: {plan['small_count']:,} sequential 200 B echoes, "
        f"{plan['audio_count']:,} of 6.4 KB and {plan['mib_count']} of 1 MiB, one "
        "session, after a warm-up; p50/p99 by linear interpolation.",
        f"- Throughput: {plan['throughput_sessions']} sessions echoing 200 B frames "
        f"back to back for {plan['throughput_seconds']} s (after 0.5 s warm-up).",
        "- CPU per frame: user+system CPU of the target's process tree from "
        "/proc/PID/stat across the sequential 200 B run (and the throughput run), "
        "divided by frames forwarded, counting both directions (2 per echo). For "
        "direct the process is the fake upstream itself, which reads or writes "
        "each frame once where a relay reads and writes it (so ~2x is the floor "
        "of any relay against direct). /proc counts in 10 ms ticks: thousands of "
        "frames keep that under a few percent.",
        f"- Memory: RSS growth (/proc/PID/statm) of the target's process tree with "
        f"{plan['idle_sessions']:,} idle bridged sessions open, divided by the "
        "count, after a 20-session warm-up; measured first, on a fresh process.",
        f"- Setup: {plan['setup_sequential']} sessions one after another, then "
        f"{plan['setup_concurrent']} with 10 in flight; each is a whole session as "
        "a client sees it: connect, `session.created` received, close, until the "
        "server has closed the TCP connection.",
        f"- Voice ramp: {', '.join(str(n) for n in plan['voice_steps'])} "
        f"sessions, {plan['voice_seconds']} s per step, "
        "stopping at the first failing step. Direct runs first; a step at which "
        "direct itself fails (the bench client and the fake share the two cores) "
        "ends every ramp, and a target that passes every step direct could carry "
        "is shown as `>=N` (bound by the bench, not the target).",
        "- Spread: on this VM the same figures moved by up to ~1.7x between "
        "whole runs with no other load measured (host-level noise: CPU frequency, "
        "neighbours; steal is reported per target above). Compare targets within "
        "one run, by the ratios, rather than absolute figures across runs.",
        "- Gateways run with DEBUG off, GATEWAY_LOG_LEVEL=WARNING, SQLite, the "
        "in-memory channel layer, defaults otherwise (key re-check every 5 s per "
        "session). LiteLLM runs from its own venv with a master key, no database, "
        "its defaults otherwise: it decodes and re-encodes every JSON event (text "
        "comes back re-serialised), ends the session on a binary frame, and dials "
        "the upstream with websockets' default permessage-deflate, which the fake "
        "accepts (the gateway and the bare relay run both legs uncompressed).",
        "",
    ]
