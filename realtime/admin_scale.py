"""What keeps the session list fast on a log of millions of rows.

Django's admin, left alone, scans the whole log several times a page: `COUNT(*)`
for the paginator, `SELECT DISTINCT` for each list filter over a column, and
`SELECT DISTINCT date_trunc(...)` for the date drill-down. Each piece here
replaces one scan with a bounded query (bench/ADMIN_RESULTS.md shows the plans):

- `EstimatedCountPaginator`: the unfiltered list's size from the planner's
  statistics on PostgreSQL (`pg_class.reltuples`, kept by autovacuum/ANALYZE);
  a filtered list is counted exactly (its filter's index bounds the count).
- `RecentValuesFilter`: the values of the latest sessions only (one index range
  scan); any other value still filters by URL.
- `SpannedDates`: date_hierarchy's months and days are every one between the
  first and the last matching row (two index lookups), not the distinct ones.
"""

from __future__ import annotations

import datetime
from typing import Any, Literal

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import Max, Min, QuerySet
from django.utils import timezone
from django.utils.functional import cached_property

# Below this many rows an exact count is cheap, and an estimate may be stale.
ESTIMATE_ABOVE = 100_000
# A list filter offers the values seen in this many latest sessions.
RECENT_ROWS = 2_000


def estimated_rows(queryset: QuerySet[Any]) -> int | None:
    """The planner's row count of an unfiltered queryset's table on PostgreSQL,
    or None (another database, a filter, or a table never analyzed)."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql" or queryset.query.where:
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
            [queryset.model._meta.db_table],
        )
        row = cursor.fetchone()
    return row[0] if row and row[0] >= 0 else None


class EstimatedCountPaginator(Paginator):
    """Counts exactly, except a large unfiltered list on PostgreSQL: its count
    is the planner's estimate (within a few percent of the truth)."""

    @cached_property
    def count(self) -> int:
        """The number of rows, estimated where counting would scan the log."""
        if isinstance(self.object_list, QuerySet):
            estimate = estimated_rows(self.object_list)
            if estimate is not None and estimate > ESTIMATE_ABOVE:
                return estimate
        return super().count


class RecentValuesFilter(admin.AllValuesFieldListFilter):
    """A column's values among the latest RECENT_ROWS sessions (and the one
    selected), instead of DISTINCT over the whole log."""

    def __init__(self, field, request, params, model, model_admin, field_path):
        super().__init__(field, request, params, model, model_admin, field_path)
        latest = model._default_manager.order_by("-started_at").values("pk")
        recent = (
            model._default_manager.filter(pk__in=latest[:RECENT_ROWS])
            .values_list(field.name, flat=True)
            .distinct()
            .order_by(field.name)
        )
        selected = [value for value in self.lookup_val or () if value]
        # A list where Django keeps a queryset: choices() only iterates it.
        self.lookup_choices = sorted(  # type: ignore[assignment]
            {*recent, *selected}, key=lambda value: (value is None, value)
        )


def _truncate(moment: datetime.datetime, kind: str) -> datetime.datetime:
    moment = timezone.localtime(moment).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    if kind in ("month", "year"):
        moment = moment.replace(day=1)
    if kind == "year":
        moment = moment.replace(month=1)
    return moment


def _next(moment: datetime.datetime, kind: str) -> datetime.datetime:
    if kind == "day":
        naive = moment.replace(tzinfo=None) + datetime.timedelta(days=1)
    elif kind == "month":
        month = moment.month % 12 + 1
        naive = moment.replace(
            tzinfo=None, month=month, year=moment.year + (month == 1)
        )
    else:
        naive = moment.replace(tzinfo=None, year=moment.year + 1)
    return timezone.make_aware(naive)


_Kind = Literal["year", "month", "week", "day", "hour", "minute", "second"]


class SpannedDates(QuerySet):
    """A queryset whose `datetimes()` (year, month, day) is every one between
    its first and last row: two index lookups, where DISTINCT reads every row.
    A listed day may hold no session (its page is empty)."""

    def datetimes(  # type: ignore[override]
        self,
        field_name: str,
        kind: _Kind,
        order: Literal["ASC", "DESC"] = "ASC",
        tzinfo: Any = None,
    ) -> list[datetime.datetime]:
        """Every `kind` from the first row's to the last row's, in order."""
        if kind not in ("year", "month", "day") or tzinfo is not None:
            return list(super().datetimes(field_name, kind, order, tzinfo))
        span = self.order_by().aggregate(first=Min(field_name), last=Max(field_name))
        if span["first"] is None:
            return []
        moment, last = _truncate(span["first"], kind), span["last"]
        found = []
        while moment <= last:
            found.append(moment)
            moment = _next(moment, kind)
        return found if order == "ASC" else found[::-1]


def spanned_dates(queryset: QuerySet[Any]) -> SpannedDates:
    """`queryset` as a SpannedDates (same model, query and database)."""
    return SpannedDates(model=queryset.model, query=queryset.query, using=queryset.db)
