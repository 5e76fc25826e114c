"""`prune_sessions`: old rows go, in batches; active rows and recent ones stay."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from realtime.models import RealtimeSession, SessionStatus
from realtime.retention import parse_age

pytestmark = pytest.mark.django_db


def make_row(days_ago: float, status: str = SessionStatus.FINISHED) -> RealtimeSession:
    started = timezone.now() - datetime.timedelta(days=days_ago)
    return RealtimeSession.objects.create(
        provider_slug="fake",
        status=status,
        started_at=started,
        ended_at=None if status == SessionStatus.ACTIVE else started,
    )


@pytest.fixture
def log() -> dict[str, RealtimeSession]:
    return {
        "old_finished": make_row(100),
        "old_failed": make_row(95, SessionStatus.FAILED),
        "old_rejected": make_row(91, SessionStatus.REJECTED),
        "old_interrupted": make_row(120, SessionStatus.INTERRUPTED),
        "old_active": make_row(200, SessionStatus.ACTIVE),  # a very long session
        "recent": make_row(89),
        "today": make_row(0),
    }


def prune(*args: str) -> str:
    out = io.StringIO()
    call_command("prune_sessions", *args, stdout=out)
    return out.getvalue()


def remaining(log: dict[str, RealtimeSession]) -> set[str]:
    kept = set(RealtimeSession.objects.values_list("pk", flat=True))
    return {name for name, row in log.items() if row.pk in kept}


def test_old_rows_go_in_batches_and_active_ones_stay(log):
    with CaptureQueriesContext(connection) as queries:
        output = prune("--older-than", "90d", "--batch-size", "3")
    assert output.startswith("Deleted 4 session row(s)")
    assert remaining(log) == {"old_active", "recent", "today"}
    deletes = [q for q in queries if q["sql"].startswith("DELETE")]
    assert len(deletes) == 2  # 3, then 1


def test_the_setting_is_the_default_age(log, settings):
    settings.GATEWAY_SESSION_RETENTION_DAYS = 30
    assert prune().startswith("Deleted 5 session row(s)")
    assert remaining(log) == {"old_active", "today"}


def test_a_dry_run_counts_and_deletes_nothing(log):
    assert prune("--older-than", "90d", "--dry-run").startswith("Would delete 4")
    assert remaining(log) == set(log)


def test_running_again_finds_nothing(log):
    prune("--older-than", "90d")
    assert prune("--older-than", "90d").startswith("Deleted 0 session row(s)")


def test_an_age_is_required(settings):
    settings.GATEWAY_SESSION_RETENTION_DAYS = None
    with pytest.raises(CommandError, match="--older-than"):
        prune()


@pytest.mark.parametrize("age", ["90", "0d", "-5d", "3w", "soon"])
def test_ages_that_mean_nothing_are_refused(age: str):
    with pytest.raises(CommandError):
        prune("--older-than", age)


def test_ages():
    assert parse_age("90d") == datetime.timedelta(days=90)
    assert parse_age("36h") == datetime.timedelta(hours=36)
    assert parse_age(" 45m ") == datetime.timedelta(minutes=45)
