from __future__ import annotations

import realtime.throttle


def test_a_bucket_empties_with_failures_and_refills_with_time(
    settings, monkeypatch, process
):
    settings.GATEWAY_AUTH_FAILURES_PER_SECOND = 2
    settings.GATEWAY_AUTH_FAILURE_BURST = 3
    clock = [100.0]
    monkeypatch.setattr(realtime.throttle.time, "monotonic", lambda: clock[0])
    assert not process.throttle.blocked("10.0.0.1")
    for _ in range(3):
        process.throttle.failed("10.0.0.1")
    assert process.throttle.blocked("10.0.0.1")
    assert not process.throttle.blocked("10.0.0.2")  # per address
    clock[0] += 0.5  # one token back at 2 per second
    assert not process.throttle.blocked("10.0.0.1")
    process.throttle.failed("10.0.0.1")
    assert process.throttle.blocked("10.0.0.1")


def test_zero_rate_turns_it_off(settings, process):
    settings.GATEWAY_AUTH_FAILURES_PER_SECOND = 0
    for _ in range(100):
        process.throttle.failed("10.0.0.3")
    assert not process.throttle.blocked("10.0.0.3")
