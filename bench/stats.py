"""The bench's arithmetic: percentiles, ratios, per-unit costs, the capacity rule.

Pure functions over plain numbers, no I/O and no clocks, so every figure the
report prints can be checked by a unit test (tests/bench/test_bench_arithmetic.py).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# A voice step passes when its p99 is at most this much above direct's.
ADDED_P99_BUDGET_MS = 20.0
# ... and when at least this share of the scheduled echoes came back in time.
MIN_DELIVERY = 0.95


def percentile(samples: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100), interpolating linearly between ranks."""
    if not samples:
        raise ValueError("percentile of no samples")
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * q / 100.0
    low = math.floor(rank)
    high = math.ceil(rank)
    if low == high:
        return float(ordered[low])
    fraction = rank - low
    return ordered[low] + (ordered[high] - ordered[low]) * fraction


@dataclass(frozen=True, slots=True)
class Summary:
    """Percentiles of a latency sample, in the sample's unit."""

    count: int
    p50: float
    p99: float
    mean: float
    max: float


def summarize(samples: Sequence[float]) -> Summary:
    """Count, p50, p99, mean and max of a non-empty sample."""
    if not samples:
        raise ValueError("summary of no samples")
    return Summary(
        count=len(samples),
        p50=percentile(samples, 50),
        p99=percentile(samples, 99),
        mean=math.fsum(samples) / len(samples),
        max=float(max(samples)),
    )


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is 0."""
    if value is None or baseline is None or baseline == 0:
        return None
    return value / baseline


def per_unit(delta: float, units: int) -> float | None:
    """A measured delta spread over units (CPU per frame, RSS per session)."""
    if units <= 0:
        return None
    return delta / units


def rate(count: int, seconds: float) -> float | None:
    """Events per second, or None for an empty or zero-length interval."""
    if count <= 0 or seconds <= 0:
        return None
    return count / seconds


def pooled(
    values: Sequence[float | None], weights: Sequence[float | None]
) -> float | None:
    """One figure over several passes: the weighted mean of the passes that gave it.

    A per-unit figure (a rate, CPU per frame) weighted by its units (seconds,
    frames) gives the total over the total; a percentile weighted 1 per pass
    gives the mean of the passes' percentiles. None when no pass gave a figure.
    """
    given = [
        (value, weight)
        for value, weight in zip(values, weights, strict=True)
        if value is not None and weight is not None and weight > 0
    ]
    total = math.fsum(weight for _, weight in given)
    if total <= 0:
        return None
    return math.fsum(value * weight for value, weight in given) / total


def added_latency(target_ms: float, direct_ms: float) -> float:
    """What the target adds on top of direct at the same load (may be < 0)."""
    return target_ms - direct_ms


@dataclass(frozen=True, slots=True)
class VoiceStep:
    """One ramp step: N voice sessions for a few seconds, and what came back."""

    sessions: int
    expected: int  # echoes the schedule called for in the window
    received: int  # echoes that came back in the window
    p50_ms: float | None
    p99_ms: float | None
    failed_sessions: int = 0

    @property
    def delivery(self) -> float:
        """The share of scheduled echoes that came back."""
        return self.received / self.expected if self.expected else 0.0


def step_passes(
    step: VoiceStep,
    *,
    direct_p99_ms: float | None,
    budget_ms: float = ADDED_P99_BUDGET_MS,
    min_delivery: float = MIN_DELIVERY,
) -> bool:
    """Whether a step carried every session within the added-latency budget.

    Without a direct figure at the same count the budget applies to the absolute
    p99 (direct is then taken as 0, the stricter reading).
    """
    if step.failed_sessions or step.p99_ms is None:
        return False
    if step.delivery < min_delivery:
        return False
    return added_latency(step.p99_ms, direct_p99_ms or 0.0) <= budget_ms


def capacity(
    steps: Iterable[VoiceStep],
    direct_p99_ms: dict[int, float],
    *,
    budget_ms: float = ADDED_P99_BUDGET_MS,
) -> int:
    """The largest session count of the passing steps before the first failure."""
    carried = 0
    for step in steps:
        direct = direct_p99_ms.get(step.sessions)
        if not step_passes(step, direct_p99_ms=direct, budget_ms=budget_ms):
            break
        carried = step.sessions
    return carried
