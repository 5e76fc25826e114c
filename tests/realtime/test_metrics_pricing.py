"""Finished sessions priced for the metrics without a scrape (the sweep's
hop), so a process nobody scrapes keeps no growing list of them."""

from __future__ import annotations

import asyncio
import threading
import uuid
from decimal import Decimal

import pytest

from realtime.metrics import Metrics
from realtime.sweeper import Sweeper
from realtime.usage import Meter, Usage

pytestmark = pytest.mark.timeout(20)


class CountingPricer:
    """A cent a token, counting the sessions it priced."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, kind: str, model: str, usage: Usage) -> Decimal | None:
        self.calls += 1
        return Decimal(usage.total_tokens) / 100


def _end(metrics: Metrics, usage: Usage) -> None:
    metrics.session_ended(
        session_id=uuid.uuid4(),
        provider="p",
        provider_kind="openai",
        model="gpt-test",
        status="finished",
        end_reason="client_closed",
        meter=Meter(),
        usage=usage,
    )


def test_finished_sessions_priced_without_a_scrape_are_priced_once():
    pricer = CountingPricer()
    metrics = Metrics(pricer=pricer)
    for _ in range(3):
        _end(metrics, Usage(total_tokens=10, input_tokens=10))
    metrics.price_finished()  # the sweep's hop, no scrape yet
    assert pricer.calls == 3
    _end(metrics, Usage(total_tokens=5, input_tokens=5))

    _, usd = metrics.read()  # a scrape prices only the session since
    assert pricer.calls == 4
    assert usd == {("p", "gpt-test"): Decimal("0.35")}


def test_a_session_with_no_usage_is_not_kept_for_pricing():
    pricer = CountingPricer()
    metrics = Metrics(pricer=pricer)
    _end(metrics, Usage())
    metrics.price_finished()
    assert pricer.calls == 0


@pytest.mark.django_db(transaction=True)
async def test_each_sweep_runs_the_work_after_it(settings):
    settings.GATEWAY_CHECKPOINT_SECONDS = 0.05
    ran = threading.Event()
    sweeper = Sweeper(after_sweep=ran.set)
    sweeper.start()
    try:
        async with asyncio.timeout(10):
            while not ran.is_set():
                await asyncio.sleep(0.02)
    finally:
        await sweeper.stop()
