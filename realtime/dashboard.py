"""The staff dashboard: sessions, tokens and cost over time, from the usage log.

Every figure is aggregated in the database, a fixed handful of grouped queries a
page whatever the log's size: the series (one row a bucket and group), the top
keys by cost, the errors (one row a close code and end reason), the live
sessions. Python only lays out those few rows for the page, which draws them
with the vendored Chart.js (realtime/static/realtime/vendor/chartjs/): no CDN,
the gateway works offline. bench/ADMIN_RESULTS.md times it on a million rows.

Sessions, tokens and cost leave refused handshakes out (as usage to date does);
they count among the errors, one a refused attempt.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.db.models import Count, F, Sum
from django.db.models.expressions import Combinable
from django.db.models.functions import Coalesce, TruncDay, TruncHour
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from realtime.models import RealtimeSession, SessionStatus
from realtime.selectors import TOKENS
from realtime.sweeper import stale_before

# Groups drawn as their own series; the rest add up to "other".
TOP_GROUPS = 8
TOP_KEYS = 10
OTHER = "other"
ERROR_STATUSES = (
    SessionStatus.FAILED,
    SessionStatus.REJECTED,
    SessionStatus.INTERRUPTED,
)
METRICS = ("sessions", "tokens", "cost")


@dataclass(frozen=True, slots=True)
class Period:
    """A time window and the buckets it is drawn in."""

    slug: str
    window: str  # "last 24 hours"
    unit: str  # a bucket: "hour" or "day"
    buckets: int
    step: datetime.timedelta
    trunc: Callable[..., Any]  # TruncHour or TruncDay

    @property
    def label(self) -> str:
        return f"{self.window}, by {self.unit}"

    def starts(self, now: datetime.datetime) -> list[datetime.datetime]:
        """The buckets' starts (UTC), oldest first, the last one holding `now`."""
        now = now.astimezone(datetime.UTC).replace(minute=0, second=0, microsecond=0)
        if self.unit == "day":
            now = now.replace(hour=0)
        return [now - self.step * n for n in range(self.buckets - 1, -1, -1)]


@dataclass(frozen=True, slots=True)
class Grouping:
    """What the series are split by: a column of the row (or of its key)."""

    slug: str
    label: str
    column: str
    blank: str  # what an empty value stands for


PERIODS = {
    period.slug: period
    for period in (
        Period(
            "24h", "last 24 hours", "hour", 24, datetime.timedelta(hours=1), TruncHour
        ),
        Period("30d", "last 30 days", "day", 30, datetime.timedelta(days=1), TruncDay),
    )
}
GROUPINGS = {
    grouping.slug: grouping
    for grouping in (
        Grouping("provider", "provider", "provider_slug", "(none)"),
        Grouping("model", "model", "model", "(none)"),
        Grouping("key", "virtual key", "virtual_key_name", "(passthrough)"),
        # The key's team now (as usage to date counts it).
        Grouping("team", "team", "virtual_key__team__name", "(no team)"),
    )
}


def _number(value: Decimal | int | None) -> float | int:
    if value is None:
        return 0
    return float(value) if isinstance(value, Decimal) else value


def series(
    *, period: Period, grouping: Grouping, now: datetime.datetime
) -> dict[str, Any]:
    """Sessions, tokens and cost a bucket, one series a group (the biggest by
    tokens; the rest as "other"), and their totals: one grouped query."""
    starts = period.starts(now)
    rows = (
        RealtimeSession.objects.filter(started_at__gte=starts[0])
        .exclude(status=SessionStatus.REJECTED)
        .annotate(
            bucket=period.trunc("started_at", tzinfo=datetime.UTC),
            group=F(grouping.column),
        )
        .values("bucket", "group")
        .annotate(sessions=Count("*"), tokens=Sum(TOKENS), cost=Sum("cost_usd"))
        .order_by()
    )
    return lay_out(rows, starts=starts, blank=grouping.blank)


def lay_out(
    rows: Iterable[Mapping[str, Any]],
    *,
    starts: list[datetime.datetime],
    blank: str,
) -> dict[str, Any]:
    """Grouped rows (bucket, group, sessions, tokens, cost) as one array a
    metric and group, aligned with `starts`, the groups biggest first."""
    index = {start: n for n, start in enumerate(starts)}
    cells: dict[str, dict[str, list[float]]] = defaultdict(
        lambda: {metric: [0] * len(starts) for metric in METRICS}
    )
    for row in rows:
        slot = index.get(row["bucket"].astimezone(datetime.UTC))
        if slot is None:
            continue  # started in the future (a skewed clock)
        cell = cells[row["group"] or blank]
        for metric in METRICS:
            cell[metric][slot] += _number(row[metric])
    ranked = sorted(cells, key=lambda name: -sum(cells[name]["tokens"]))
    shown, folded = ranked[:TOP_GROUPS], ranked[TOP_GROUPS:]
    groups = {name: cells[name] for name in shown}
    if folded:
        groups[OTHER] = {
            metric: [
                sum(cells[name][metric][n] for name in folded)
                for n in range(len(starts))
            ]
            for metric in METRICS
        }
    totals = {
        metric: sum(sum(cell[metric]) for cell in cells.values()) for metric in METRICS
    }
    return {
        "buckets": [start.isoformat() for start in starts],
        "groups": [{"name": name, **values} for name, values in groups.items()],
        "totals": totals,
    }


def top_keys(*, since: datetime.datetime, limit: int = TOP_KEYS) -> list[dict]:
    """The keys that cost the most since `since`: one grouped query."""
    rows = (
        RealtimeSession.objects.filter(started_at__gte=since, cost_usd__isnull=False)
        .exclude(virtual_key_name="")
        .values("virtual_key_name")
        .annotate(cost=Sum("cost_usd"), tokens=Sum(TOKENS), sessions=Count("*"))
        .order_by("-cost", "virtual_key_name")[:limit]
    )
    return [
        {
            "key": row["virtual_key_name"],
            "cost": _number(row["cost"]),
            "tokens": _number(row["tokens"]),
            "sessions": row["sessions"],
        }
        for row in rows
    ]


def errors(*, since: datetime.datetime) -> dict[str, list[dict]]:
    """Failed, refused and interrupted sessions since `since` (refused
    attempts each count), by close code and by end reason: one grouped query."""
    rows = (
        RealtimeSession.objects.filter(started_at__gte=since, status__in=ERROR_STATUSES)
        .values("close_code", "end_reason")
        .annotate(errors=Sum("attempts"))
        .order_by()
    )
    by_code: dict[str, int] = defaultdict(int)
    by_reason: dict[str, int] = defaultdict(int)
    for row in rows:
        code = row["close_code"]
        by_code["(none)" if code is None else str(code)] += row["errors"]
        by_reason[row["end_reason"] or "(none)"] += row["errors"]
    return {
        "by_close_code": _ranked(by_code, "close_code"),
        "by_end_reason": _ranked(by_reason, "end_reason"),
    }


def _ranked(counts: Mapping[str, int], name: str) -> list[dict]:
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [{name: label, "errors": count} for label, count in ordered]


def live_sessions() -> dict[str, Any]:
    """Sessions open now (active, heartbeat fresh), by provider and model."""
    heartbeat: Combinable = Coalesce("checkpointed_at", "started_at")
    rows = (
        RealtimeSession.objects.filter(status=SessionStatus.ACTIVE)
        .alias(heartbeat=heartbeat)
        .filter(heartbeat__gte=stale_before())
        .values("provider_slug", "model")
        .annotate(sessions=Count("*"))
        .order_by("-sessions", "provider_slug", "model")
    )
    found = [
        {
            "provider": row["provider_slug"],
            "model": row["model"] or "(none)",
            "sessions": row["sessions"],
        }
        for row in rows
    ]
    return {"total": sum(row["sessions"] for row in found), "by_model": found}


def dashboard_data(
    *, period: Period, grouping: Grouping, now: datetime.datetime | None = None
) -> dict[str, Any]:
    """Everything the dashboard draws, as JSON-able values."""
    now = now or timezone.now()
    since = period.starts(now)[0]
    return {
        "period": period.slug,
        "unit": period.unit,
        "grouping": grouping.label,
        "series": series(period=period, grouping=grouping, now=now),
        "top_keys": top_keys(since=since),
        "errors": errors(since=since),
        "live": live_sessions(),
    }


def dashboard_view(request: HttpRequest) -> HttpResponse:
    """The dashboard page (behind `admin.site.admin_view`: staff only)."""
    if not request.user.has_perm("realtime.view_realtimesession"):
        raise PermissionDenied
    period = PERIODS.get(request.GET.get("period", ""), PERIODS["24h"])
    grouping = GROUPINGS.get(request.GET.get("group", ""), GROUPINGS["provider"])
    context = {
        **admin.site.each_context(request),
        "title": "Dashboard",
        "period": period,
        "grouping": grouping,
        "periods": PERIODS.values(),
        "groupings": GROUPINGS.values(),
        "data": dashboard_data(period=period, grouping=grouping),
    }
    return TemplateResponse(request, "admin/dashboard.html", context)
