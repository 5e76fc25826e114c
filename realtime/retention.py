"""Retention of the usage log: delete rows older than a cutoff, in batches.

One row a session (and one a minute per key and reason for refused handshakes)
adds up; `manage.py prune_sessions`, run from cron, keeps the log to
GATEWAY_SESSION_RETENTION_DAYS. Rows go by `started_at` (indexed), oldest
first, at most `batch_size` in a transaction, so no long lock holds up the
gateway's writes. A row still `active` is never deleted: a session can last
longer than any cutoff, and a row marked interrupted may be revived by its
live session's checkpoint (`services.session_checkpoint`), so each batch's
delete checks the status again.
"""

from __future__ import annotations

import datetime
import re

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from realtime.models import RealtimeSession, SessionStatus

DEFAULT_BATCH_SIZE = 1000
_AGE = re.compile(r"^(\d+)([dhm])$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> datetime.timedelta:
    """An age such as 90d, 36h or 45m; ValueError otherwise (or when zero)."""
    match = _AGE.match(text.strip())
    if not match or int(match.group(1)) == 0:
        raise ValueError(f"{text!r} is not an age such as 90d, 36h or 45m.")
    amount, unit = match.groups()
    return datetime.timedelta(**{_UNITS[unit]: int(amount)})


def _prunable(cutoff: datetime.datetime) -> QuerySet[RealtimeSession]:
    return RealtimeSession.objects.filter(started_at__lt=cutoff).exclude(
        status=SessionStatus.ACTIVE
    )


def sessions_prune(
    *,
    older_than: datetime.timedelta,
    batch_size: int = DEFAULT_BATCH_SIZE,
    dry_run: bool = False,
) -> int:
    """Delete the rows that started over `older_than` ago and are not active,
    `batch_size` at a time; returns how many (with `dry_run`, would be)."""
    cutoff = timezone.now() - older_than
    if dry_run:
        return _prunable(cutoff).count()
    deleted = 0
    while True:
        with transaction.atomic():
            batch = list(
                _prunable(cutoff)
                .order_by("started_at")
                .values_list("pk", flat=True)[:batch_size]
            )
            if not batch:
                return deleted
            count, _ = _prunable(cutoff).filter(pk__in=batch).delete()
        deleted += count
        if len(batch) < batch_size:
            return deleted
