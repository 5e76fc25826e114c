"""This process's metrics for Prometheus (`prometheus_client`), named after the
OpenTelemetry GenAI semantic conventions where one fits (as agentgateway does:
`gen_ai_client_token_usage`, `gen_ai_client_operation_duration_seconds`, the
labels `gen_ai_token_type`, `gen_ai_provider_name`, `gen_ai_request_model`;
https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-metrics/).

What happens once a session (a start, an end, a refusal, an upstream dial) is
counted as it happens, in `prometheus_client` counters and histograms. Traffic
is not: the bridge counts frames and bytes into each session's `Meter` with
plain integer adds, and the provider's handler sums its usage as responses
complete. `SessionTraffic`, a collector, reads those at scrape time: the
finished sessions' totals plus every live session's meter and usage so far. A
live session's traffic shows while it runs, and nothing on the hot path touches
a metric or takes a lock (the live-session table's lock is taken at a session's
start and end, and once a scrape).

Each process has its own `CollectorRegistry` (on `ProcessState`, so tests that
swap the state are isolated) and is scraped on its own `/metrics`: see README
"Metrics" for why not `prometheus_client`'s multiprocess mode.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Protocol

from django.db import Error as DatabaseError
from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
)
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from realtime.usage import NO_USAGE, Meter, Usage

if TYPE_CHECKING:
    from realtime.models import ModelPrice

logger = logging.getLogger(__name__)

# The classic text format would add a `_created` gauge beside every counter and
# histogram series; Prometheus does not read them from it.
disable_created_metrics()

PROVIDER = "gen_ai_provider_name"
MODEL = "gen_ai_request_model"
TOKEN_TYPE = "gen_ai_token_type"

# Token types: OpenTelemetry's `input` and `output`; `cached` is the part of
# the input the provider served from its cache (it is within `input`).
_TOKEN_TYPES = (
    ("input", "input_tokens"),
    ("output", "output_tokens"),
    ("cached", "cached_tokens"),
)
_DIRECTIONS = (
    ("from_client", "messages_from_client", "bytes_from_client"),
    ("from_upstream", "messages_from_upstream", "bytes_from_upstream"),
)
# A realtime session lasts seconds to hours, not an LLM call's fraction of a
# second: OpenTelemetry's duration buckets (0.01 .. 81.92 s) would put most
# sessions in +Inf.
SESSION_BUCKETS = (1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200)
CONNECT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8)

# A price lookup: (provider kind, model) -> the cost of a usage, or None when
# the model has no price. Runs in the scraping thread (it may query the
# database); see `realtime.pricing`.
Pricer = Callable[[str, str, Usage], Decimal | None]


class UsageSource(Protocol):
    """What reports a live session's usage (the provider's session handler)."""

    usage: Usage


@dataclass(slots=True)
class _Live:
    """One bridged session, as the scrape reads it."""

    provider: str
    kind: str
    model: str
    meter: Meter
    reports: UsageSource
    started: float


@dataclass(slots=True)
class _Totals:
    """Finished sessions' traffic and usage, by (provider, model)."""

    meter: Meter
    usage: Usage


class Metrics:
    """This process's metrics: event counters, and the live-session table that
    `SessionTraffic` reads at scrape time."""

    def __init__(
        self,
        *,
        instance: Callable[[], str] = lambda: "",
        pricer: Pricer | None = None,
    ) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._lock = threading.Lock()
        self._live: dict[uuid.UUID, _Live] = {}
        self._finished: dict[tuple[str, str], _Totals] = {}
        self._unpriced: list[tuple[str, str, str, Usage]] = []
        self._cost: defaultdict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._pricing = threading.Lock()
        self._pricer = pricer
        reg = self.registry
        self._started = Counter(
            "gateway_sessions_started",
            "Sessions bridged to a provider.",
            [PROVIDER],
            registry=reg,
        )
        self._ended = Counter(
            "gateway_sessions",
            "Sessions ended (rows finalised), by final status and reason.",
            [PROVIDER, "status", "end_reason"],
            registry=reg,
        )
        self._refused = Counter(
            "gateway_handshakes_refused",
            "Handshakes refused before a session began, by error code.",
            ["code"],
            registry=reg,
        )
        self._connect = Histogram(
            "gateway_upstream_connect_seconds",
            "Time to open the provider's WebSocket, by outcome.",
            [PROVIDER, "outcome"],
            buckets=CONNECT_BUCKETS,
            registry=reg,
        )
        self._duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "How long bridged realtime sessions lasted (the operation is a "
            "session); error_type is the end reason of a failed one.",
            [PROVIDER, MODEL, "error_type"],
            buckets=SESSION_BUCKETS,
            registry=reg,
        )
        reg.register(SessionTraffic(self, instance=instance))

    # --- events (once a session, never per frame) ------------------------------

    def session_started(
        self,
        *,
        session_id: uuid.UUID,
        provider: str,
        provider_kind: str,
        model: str,
        meter: Meter,
        reports: UsageSource,
    ) -> None:
        """A session is bridged: count it, and read its traffic live from now."""
        self._started.labels(provider).inc()
        live = _Live(provider, provider_kind, model, meter, reports, time.monotonic())
        with self._lock:
            self._live[session_id] = live

    def session_ended(
        self,
        *,
        session_id: uuid.UUID,
        provider: str,
        provider_kind: str,
        model: str,
        status: str,
        end_reason: str,
        meter: Meter,
        usage: Usage,
    ) -> None:
        """A session's row is final: move its traffic into the finished totals.

        `model` is used for a session that was never bridged; a bridged one
        keeps the model it was counted under while it ran, so its series do
        not move at its end.
        """
        with self._lock:
            live = self._live.pop(session_id, None)
            if live is not None:
                model = live.model
            totals = self._finished.get((provider, model))
            if totals is None:
                totals = self._finished[(provider, model)] = _Totals(Meter(), Usage())
            _add_meter(totals.meter, meter)
            totals.usage += usage
            if self._pricer is not None and usage != NO_USAGE:  # else no cost
                self._unpriced.append((provider, provider_kind, model, usage))
        self._ended.labels(provider, status, end_reason).inc()
        if live is not None:
            error_type = end_reason if status == "failed" else ""
            self._duration.labels(provider, model, error_type).observe(
                time.monotonic() - live.started
            )

    def handshake_refused(self, *, code: str) -> None:
        """Count a refused handshake (unknown key, revoked key, limit, ...)."""
        self._refused.labels(code).inc()

    def upstream_dialled(self, *, provider: str, seconds: float, ok: bool) -> None:
        """Time one upstream handshake (`ok`: the provider's socket opened)."""
        outcome = "connected" if ok else "failed"
        self._connect.labels(provider, outcome).observe(seconds)

    def live_sessions(self) -> int:
        """Sessions this process is bridging now."""
        return len(self._live)

    # --- the scrape's view -----------------------------------------------------

    def read(self) -> tuple[_Snapshot, dict[tuple[str, str], Decimal] | None]:
        """What a scrape shows: the live sessions and finished totals at one
        instant, and the cost by (provider, model) (None: prices unreadable).

        Concurrent scrapes read one at a time, so each finished session is
        priced once and the cost never goes back."""
        with self._pricing:
            with self._lock:
                unpriced, self._unpriced = self._unpriced, []
                snapshot = _Snapshot(
                    live=list(self._live.values()),
                    finished={
                        key: _Totals(_copy_meter(totals.meter), totals.usage)
                        for key, totals in self._finished.items()
                    },
                )
            return snapshot, self._price(snapshot, unpriced)

    def price_finished(self) -> None:
        """Price the sessions finished since the last pricing into the running
        total. On a thread that may query the database: each scrape, and the
        sweep (`realtime.sweeper`, every GATEWAY_CHECKPOINT_SECONDS), so what
        the process keeps of finished sessions stays bounded when nothing
        scrapes /metrics."""
        with self._pricing:
            with self._lock:
                unpriced, self._unpriced = self._unpriced, []
            self._price_finished(unpriced)

    def _price(
        self, snapshot: _Snapshot, unpriced: list[tuple[str, str, str, Usage]]
    ) -> dict[tuple[str, str], Decimal] | None:
        """The cost so far: the finished sessions' (each priced once, into the
        running total) plus the live sessions'. None when the prices cannot be
        read; the finished sessions not yet priced wait for the next pricing."""
        pricer = self._pricer
        if pricer is None or not self._price_finished(unpriced):
            return None
        usd = defaultdict(Decimal, self._cost)
        try:
            for session in snapshot.live:
                price = pricer(session.kind, session.model, session.reports.usage)
                if price is not None:
                    usd[(session.provider, session.model)] += price
        except DatabaseError:
            logger.warning("metrics: model prices unavailable", exc_info=True)
            return None
        return dict(usd)

    def _price_finished(self, unpriced: list[tuple[str, str, str, Usage]]) -> bool:
        """Add each finished session's cost to the running total; False (the
        rest kept for the next pricing) when the prices cannot be read."""
        pricer = self._pricer
        if pricer is None:
            return False
        priced = 0
        try:
            for provider, kind, model, usage in unpriced:
                price = pricer(kind, model, usage)
                if price is not None:
                    self._cost[(provider, model)] += price
                priced += 1
        except DatabaseError:
            logger.warning("metrics: model prices unavailable", exc_info=True)
            with self._lock:
                self._unpriced[:0] = unpriced[priced:]
            return False
        return True


@dataclass(slots=True)
class _Snapshot:
    live: list[_Live]
    finished: dict[tuple[str, str], _Totals]


class SessionTraffic(Collector):
    """Frames, bytes, tokens, cost and live sessions, read at scrape time."""

    def __init__(self, metrics: Metrics, *, instance: Callable[[], str]) -> None:
        self._metrics = metrics
        self._instance = instance

    def describe(self) -> list[Metric]:
        """Nothing: names are not checked for clashes, and a scrape at
        registration (prometheus_client's default) would price sessions."""
        return []

    def collect(self) -> Iterator[Metric]:
        """The families, from the finished totals and the live sessions."""
        snapshot, usd = self._metrics.read()
        live = snapshot.live
        yield InfoMetricFamily(
            "gateway_instance",
            "This process's name on its session rows (GATEWAY_INSTANCE).",
            value={"gateway_instance": self._instance()},
        )
        yield GaugeMetricFamily(
            "gateway_sessions_active",
            "Sessions this process is bridging now.",
            value=len(live),
        )

        groups = snapshot.finished
        for session in live:
            key = (session.provider, session.model)
            totals = groups.get(key)
            if totals is None:
                totals = groups[key] = _Totals(Meter(), Usage())
            _add_meter(totals.meter, session.meter)
            totals.usage += session.reports.usage
        yield from _traffic(groups)
        if usd is None:
            return
        cost = CounterMetricFamily(
            "gateway_cost_usd",
            "What the tokens above cost at the models' list prices (ModelPrice), "
            "in USD: finished sessions and live ones so far.",
            labels=[PROVIDER, MODEL],
        )
        for (provider, model), amount in sorted(usd.items()):
            cost.add_metric([provider, model], float(amount))
        yield cost


def _traffic(groups: dict[tuple[str, str], _Totals]) -> Iterator[Metric]:
    frames = CounterMetricFamily(
        "gateway_frames", "WebSocket messages forwarded, by direction.",
        labels=[PROVIDER, "direction"],
    )  # fmt: skip
    sizes = CounterMetricFamily(
        "gateway_bytes", "Bytes of messages forwarded, by direction.",
        labels=[PROVIDER, "direction"],
    )  # fmt: skip
    tokens = CounterMetricFamily(
        "gen_ai_client_token_usage",
        "Tokens the providers reported (cached: the part of input served from "
        "the provider's cache).",
        labels=[TOKEN_TYPE, PROVIDER, MODEL],
    )
    by_provider: dict[str, Meter] = {}
    for (provider, model), totals in sorted(groups.items()):
        _add_meter(by_provider.setdefault(provider, Meter()), totals.meter)
        for token_type, field in _TOKEN_TYPES:
            amount = getattr(totals.usage, field)
            tokens.add_metric([token_type, provider, model], amount)
    for provider, meter in by_provider.items():
        for direction, messages, size in _DIRECTIONS:
            frames.add_metric([provider, direction], getattr(meter, messages))
            sizes.add_metric([provider, direction], getattr(meter, size))
    yield frames
    yield sizes
    yield tokens


def _add_meter(total: Meter, more: Meter) -> None:
    total.messages_from_client += more.messages_from_client
    total.messages_from_upstream += more.messages_from_upstream
    total.bytes_from_client += more.bytes_from_client
    total.bytes_from_upstream += more.bytes_from_upstream


def _copy_meter(meter: Meter) -> Meter:
    copy = Meter()
    _add_meter(copy, meter)
    return copy


class ListPrices:
    """Prices usage at each model's list price in force today (ModelPrice),
    reading a model's price from the database at most once a minute."""

    def __init__(self, *, ttl: float = 60.0) -> None:
        self._ttl = ttl
        self._prices: dict[tuple[str, str], tuple[float, ModelPrice | None]] = {}

    def __call__(self, kind: str, model: str, usage: Usage) -> Decimal | None:
        """The cost of `usage`, or None when the model has no price."""
        from django.utils import timezone

        from realtime import pricing  # the models load after this module

        if not model or usage == NO_USAGE:
            return None
        now = time.monotonic()
        cached = self._prices.get((kind, model))
        if cached is None or now - cached[0] > self._ttl:
            found = pricing.price_for(kind=kind, model=model, on=timezone.now().date())
            cached = self._prices[(kind, model)] = (now, found)
        price = cached[1]
        return pricing.cost_usd(usage, price) if price is not None else None
