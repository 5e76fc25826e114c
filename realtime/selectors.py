"""Reads of the usage log."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, Max, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from keys import exceptions as key_errors
from keys import selectors as key_selectors
from keys.ledger import Owner
from keys.models import Team, VirtualKey
from keys.values import NO_USAGE_TO_DATE, Spend, UsageToDate
from realtime.models import RealtimeSession, SessionStatus
from realtime.sweeper import stale_before
from realtime.usage import COUNTER_FIELDS

# The tokens a session used, for usage to date and budgets: every token its
# provider reported (responses' totals and input transcription).
TOKENS = F("total_tokens") + F("transcription_tokens")
# The session column that names the owner a session's usage counts for.
_OWNER_COLUMN: dict[str, str] = {
    "key": "virtual_key_id",
    "team": "virtual_key__team_id",  # the key's team now
}


def sessions_list(
    *,
    virtual_key: str | None = None,
    provider: str | None = None,
    status: str | None = None,
    end_reason: str | None = None,
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    limit: int | None = None,
) -> QuerySet[RealtimeSession]:
    """Sessions, newest first, filtered by key name, provider, status, end
    reason and time."""
    sessions = RealtimeSession.objects.all()
    if virtual_key:
        sessions = sessions.filter(virtual_key_name=virtual_key)
    if provider:
        sessions = sessions.filter(provider_slug=provider)
    if status:
        sessions = sessions.filter(status=status)
    if end_reason:
        sessions = sessions.filter(end_reason=end_reason)
    if since:
        sessions = sessions.filter(started_at__gte=since)
    if until:
        sessions = sessions.filter(started_at__lt=until)
    sessions = sessions.order_by("-started_at")
    return sessions[:limit] if limit else sessions


def live_sessions(
    sessions: QuerySet[RealtimeSession] | None = None,
) -> QuerySet[RealtimeSession]:
    """Sessions open right now on any gateway process: active rows whose
    heartbeat (the checkpoint) is fresh, newest first; of `sessions`, if given."""
    fresh = stale_before()
    sessions = RealtimeSession.objects.all() if sessions is None else sessions
    return sessions.filter(
        Q(checkpointed_at__gte=fresh)
        | Q(checkpointed_at__isnull=True, started_at__gte=fresh),
        status=SessionStatus.ACTIVE,
    ).order_by("-started_at")


@dataclass(frozen=True, slots=True)
class SessionCheck:
    """What a live session's periodic check found."""

    terminated: bool  # an operator asked for it to end
    key_refusal: key_errors.KeyRefused | None  # its key may no longer be used


def session_check(*, session_id: uuid.UUID, key_id: int | None) -> SessionCheck:
    """Must a live session end? One query: its row, with its key's columns."""
    joined = [f"virtual_key__{name}" for name in key_selectors.KEY_REFUSAL_FIELDS]
    row = (
        RealtimeSession.objects.filter(pk=session_id)
        .values_list("terminate_requested_at", "virtual_key_id", *joined)
        .first()
    )
    if row is None:  # the row was deleted by hand: the key alone
        refusal = (
            None if key_id is None else key_selectors.virtual_key_refusal(key_id=key_id)
        )
        return SessionCheck(terminated=False, key_refusal=refusal)
    terminate_requested_at, row_key_id, *key_columns = row
    refusal = None
    if key_id is not None:  # a deleted key leaves the row's key empty
        refusal = key_selectors.key_refusal(
            key_columns if row_key_id == key_id else None
        )
    return SessionCheck(
        terminated=terminate_requested_at is not None, key_refusal=refusal
    )


def _iso(moment: datetime.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


# The `usage --json` / `--csv` columns, in order (session_as_dict's keys).
SESSION_COLUMNS = (
    "session_id",
    "virtual_key",
    "provider",
    "model",
    "status",
    "end_reason",
    "client_address",
    "started_at",
    "ended_at",
    "duration_seconds",
    "close_code",
    "close_reason",
    "error",
    "attempts",
    *COUNTER_FIELDS,
    "cost_usd",
)


def session_as_dict(session: RealtimeSession) -> dict:
    """One session as plain JSON-able values (the `usage --json` shape)."""
    duration = session.duration
    return {
        "session_id": str(session.id),
        "virtual_key": session.virtual_key_name or None,
        "provider": session.provider_slug,
        "model": session.model,
        "status": session.status,
        "end_reason": session.end_reason,
        "client_address": session.client_address,
        "started_at": _iso(session.started_at),
        "ended_at": _iso(session.ended_at),
        "duration_seconds": round(duration.total_seconds(), 3) if duration else None,
        "close_code": session.close_code,
        "close_reason": session.close_reason,
        "error": session.error,
        "attempts": session.attempts,
        **{field: getattr(session, field) for field in COUNTER_FIELDS},
        "cost_usd": float(session.cost_usd) if session.cost_usd is not None else None,
    }


@dataclass(frozen=True, slots=True)
class DailyUsage:
    """One day's sessions and tokens."""

    day: datetime.date
    sessions: int
    input_tokens: int
    output_tokens: int

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens


# The sums the session list's header shows (usage_summary's totals).
SUMMARY_SUMS = (
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "total_tokens",
    "bytes_from_client",
    "bytes_from_upstream",
    "cost_usd",
)


def usage_summary(
    sessions: QuerySet[RealtimeSession], *, days: int = 14
) -> tuple[list[DailyUsage], dict[str, Any]]:
    """Sessions and tokens a day (UTC) over the `days` days up to the latest of
    `sessions`, and their totals (a session count and SUMMARY_SUMS): an index
    lookup and one grouped query over those days, however long the log."""
    sessions = sessions.order_by()
    latest = sessions.aggregate(latest=Max("started_at"))["latest"]
    totals: dict[str, Any] = {"sessions": 0, **dict.fromkeys(SUMMARY_SUMS, 0)}
    if latest is None:
        return [], totals
    first = utc_periods(latest)[0] - datetime.timedelta(days=days - 1)
    rows: Iterable[Mapping[str, Any]] = (
        sessions.filter(started_at__gte=first)
        .annotate(day=TruncDate("started_at", tzinfo=datetime.UTC))
        .values("day")
        .annotate(sessions=Count("id"), **{name: Sum(name) for name in SUMMARY_SUMS})
        .order_by("day")
    )
    found = []
    for row in rows:
        for name in totals:
            totals[name] += row[name] or 0
        found.append(
            DailyUsage(
                day=row["day"],
                sessions=row["sessions"],
                input_tokens=row["input_tokens"] or 0,
                output_tokens=row["output_tokens"] or 0,
            )
        )
    return found, totals


def utc_periods(now: datetime.datetime) -> tuple[datetime.datetime, datetime.datetime]:
    """The starts of the UTC day and the UTC month that hold `now`."""
    day = now.astimezone(datetime.UTC).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    return day, day.replace(day=1)


def usage_to_date(
    *,
    by: Owner,
    ids: Collection[int] | None = None,
    now: datetime.datetime | None = None,
    excluding: uuid.UUID | None = None,
) -> dict[int, UsageToDate]:
    """What each key (or team) used today and this month, UTC, by id: its
    sessions (refused handshakes left out), their tokens (`TOKENS`) and cost,
    counted by the day each session started. One grouped query; owners that
    used nothing are absent. `ids`: only these (None: every one);
    `excluding`: leave this session out (a live session counting the others)."""
    day, month = utc_periods(now or timezone.now())
    column = _OWNER_COLUMN[by]
    sessions = RealtimeSession.objects.filter(started_at__gte=month).exclude(
        status=SessionStatus.REJECTED
    )
    if excluding is not None:
        sessions = sessions.exclude(pk=excluding)
    sessions = sessions.filter(**{f"{column}__isnull": False})
    if ids is not None:
        sessions = sessions.filter(**{f"{column}__in": list(ids)})
    today = Q(started_at__gte=day)
    rows = (
        sessions.order_by()
        .values(owner=F(column))
        .annotate(
            month_sessions=Count("id"),
            month_tokens=Sum(TOKENS),
            month_cost=Sum("cost_usd"),
            day_sessions=Count("id", filter=today),
            day_tokens=Sum(TOKENS, filter=today),
            day_cost=Sum("cost_usd", filter=today),
        )
    )
    return {
        row["owner"]: UsageToDate(today=_spend(row, "day"), month=_spend(row, "month"))
        for row in rows
    }


def _spend(row: Mapping[str, Any], period: str) -> Spend:
    return Spend(
        sessions=row[f"{period}_sessions"] or 0,
        tokens=row[f"{period}_tokens"] or 0,
        cost_usd=row[f"{period}_cost"] or Decimal(0),
    )


def usage_to_date_named(
    *, by: Owner, name: str | None = None, now: datetime.datetime | None = None
) -> list[tuple[str, UsageToDate]]:
    """Every key (or team), or the one called `name`, with what it used today
    and this month (UTC), by name."""
    owners = (VirtualKey if by == "key" else Team).objects.order_by("name")
    if name is not None:
        owners = owners.filter(name=name)
    named = dict(owners.values_list("pk", "name"))
    usage = usage_to_date(by=by, ids=named, now=now) if named else {}
    return [
        (owner_name, usage.get(pk, NO_USAGE_TO_DATE))
        for pk, owner_name in named.items()
    ]


class SessionLedger:
    """The session log as keys/ sees it (`keys.ledger`)."""

    def usage_to_date(
        self,
        *,
        by: Owner,
        ids: Collection[int] | None = None,
        now: datetime.datetime | None = None,
    ) -> dict[int, UsageToDate]:
        """See `usage_to_date`."""
        return usage_to_date(by=by, ids=ids, now=now)


def session_latest(
    *, virtual_key_id: int, since: datetime.datetime
) -> RealtimeSession | None:
    """The newest session of a key started at or after `since`, if any."""
    sessions = RealtimeSession.objects.filter(
        virtual_key_id=virtual_key_id, started_at__gte=since
    )
    return sessions.order_by("-started_at").first()
