"""How much of everything a run does: the full plan and the quick smoke plan."""

from __future__ import annotations

from dataclasses import dataclass


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
    # Voice ramp steps (sessions): finer than doubling where gateways top out,
    # on past where the bench's own client and fake give out on two cores.
    voice_steps: tuple[int, ...]
    voice_seconds: float
    profile_seconds: int
    workload_timeout: float  # seconds any one workload may take
    # A target's run disturbed by other processes is measured again only if,
    # at about pass_seconds a target's pass of the short workloads and
    # once_seconds its other workloads, the run still ends within budget_seconds.
    pass_seconds: float
    once_seconds: float
    budget_seconds: float


FULL = Plan(
    small_count=2000,
    audio_count=2000,
    mib_count=40,
    throughput_sessions=20,
    throughput_seconds=2.0,
    idle_sessions=1000,
    # ~1.5-2 s each on a gateway (~250 sessions/s sequential, ~350/s at 10 in
    # flight): shorter runs swung the ratios by +-30 % between runs.
    setup_sequential=400,
    setup_concurrent=600,
    voice_steps=(25, 50, 100, 150, 200, 250, 300, 350, 400, 450, 500, 600, 700, 800),
    voice_seconds=4.0,
    profile_seconds=10,
    workload_timeout=90.0,
    # ~12.5 min without repeats: 14 passes of ~18 s, 9 targets' rest at ~55 s
    pass_seconds=20.0,
    once_seconds=55.0,
    budget_seconds=840.0,
)
QUICK = Plan(
    small_count=300,
    audio_count=200,
    mib_count=5,
    throughput_sessions=20,
    throughput_seconds=1.0,
    idle_sessions=100,
    setup_sequential=100,
    setup_concurrent=150,
    voice_steps=(25, 50, 100),
    voice_seconds=1.5,
    profile_seconds=3,
    workload_timeout=45.0,
    pass_seconds=10.0,
    once_seconds=20.0,
    budget_seconds=360.0,
)
