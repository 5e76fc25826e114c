"""What keys and teams used today and this month (UTC): the selectors, the
ledger keys/ reads, and `usage --by` / `usage --key`."""

from __future__ import annotations

import datetime
import io
import json
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from keys import services as key_services
from keys.ledger import ledgers
from keys.models import VirtualKey
from keys.values import Spend, UsageToDate
from realtime import selectors
from realtime.models import RealtimeSession, SessionStatus
from tests.support.keys import issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
UTC = datetime.UTC
# Mid-afternoon on the 15th: "today" began at 00:00 UTC, "this month" on the 1st.
NOW = datetime.datetime(2026, 3, 15, 15, 0, tzinfo=UTC)


def key_named(name: str) -> VirtualKey:
    return VirtualKey.objects.get(pk=issue_key(URL, name=name).key_id)


def session(key: VirtualKey, started: datetime.datetime, **fields) -> None:
    RealtimeSession.objects.create(
        virtual_key=key,
        virtual_key_name=key.name,
        provider_slug="fake",
        status=fields.pop("status", SessionStatus.FINISHED),
        started_at=started,
        ended_at=started + datetime.timedelta(seconds=1),
        **fields,
    )


@pytest.fixture
def fleet() -> dict[str, VirtualKey]:
    team = key_services.team_create(name="ops")
    alice, bob, carol = key_named("alice"), key_named("bob"), key_named("carol")
    for member in (alice, bob):
        key_services.virtual_key_update(key=member, changes={"team": team})
    today = NOW.replace(hour=1)
    # alice: two sessions today, one earlier this month, one last month.
    session(alice, today, total_tokens=100, transcription_tokens=5, cost_usd="0.5")
    session(alice, today, total_tokens=10, cost_usd=None)  # an unpriced model
    session(alice, NOW.replace(day=1, hour=0), total_tokens=1000, cost_usd="2")
    session(alice, NOW.replace(month=2, day=28, hour=23), total_tokens=99999)
    # A refused handshake is no session, whatever its numbers.
    session(alice, today, status=SessionStatus.REJECTED, total_tokens=7)
    # bob: yesterday only (23:59 UTC, so not today in UTC).
    session(bob, NOW.replace(day=14, hour=23, minute=59), total_tokens=1)
    # carol: nothing.
    return {"alice": alice, "bob": bob, "carol": carol}


def test_usage_to_date_by_key(fleet):
    alice, bob = fleet["alice"], fleet["bob"]
    usage = selectors.usage_to_date(by="key", now=NOW)
    assert set(usage) == {alice.pk, bob.pk}  # carol used nothing
    assert usage[alice.pk] == UsageToDate(
        today=Spend(sessions=2, tokens=115, cost_usd=Decimal("0.5")),
        month=Spend(sessions=3, tokens=1115, cost_usd=Decimal("2.5")),
    )
    assert usage[bob.pk] == UsageToDate(
        today=Spend(), month=Spend(sessions=1, tokens=1, cost_usd=Decimal(0))
    )


def test_usage_to_date_by_team_and_for_some_ids_only(fleet):
    team = fleet["alice"].team
    assert team is not None
    usage = selectors.usage_to_date(by="team", now=NOW)
    assert usage == {
        team.pk: UsageToDate(
            today=Spend(sessions=2, tokens=115, cost_usd=Decimal("0.5")),
            month=Spend(sessions=4, tokens=1116, cost_usd=Decimal("2.5")),
        )
    }
    only_bob = selectors.usage_to_date(by="key", ids=[fleet["bob"].pk], now=NOW)
    assert list(only_bob) == [fleet["bob"].pk]


def test_usage_to_date_is_one_query(fleet):
    with CaptureQueriesContext(connection) as queries:
        selectors.usage_to_date(by="key", now=NOW)
        selectors.usage_to_date(by="team", now=NOW)
    assert len(queries) == 2


def test_a_new_month_starts_from_nothing(fleet):
    april = NOW.replace(month=4, day=1, hour=0, minute=1)
    assert selectors.usage_to_date(by="key", now=april) == {}


def test_keys_reads_the_session_log_through_the_registered_ledger(fleet):
    usage = ledgers.usage_to_date(by="key", ids=[fleet["carol"].pk])
    assert usage == {}  # registered by RealtimeConfig.ready; carol used nothing


# --- the usage command -------------------------------------------------------


def run(*args: str) -> str:
    out = io.StringIO()
    call_command("usage", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_usage_by_key_and_by_team(fleet, monkeypatch):
    monkeypatch.setattr(selectors.timezone, "now", lambda: NOW)
    lines = run("--by", "key").splitlines()
    assert lines[0].split()[0] == "key"
    rows = {line.split()[0]: line.split()[1:] for line in lines[1:]}
    assert rows["alice"] == ["2", "115", "0.5000", "3", "1115", "2.5000"]
    assert rows["carol"] == ["0", "0", "0.0000", "0", "0", "0.0000"]

    teams = json.loads(run("--by", "team", "--json"))
    assert teams == [
        {
            "team": "ops",
            "today": {"sessions": 2, "tokens": 115, "cost_usd": 0.5},
            "month": {"sessions": 4, "tokens": 1116, "cost_usd": 2.5},
        }
    ]
    only = json.loads(run("--by", "key", "--key", "bob", "--json"))
    assert [row["key"] for row in only] == ["bob"]


def test_usage_of_one_key_ends_with_its_totals_to_date(fleet, monkeypatch):
    monkeypatch.setattr(selectors.timezone, "now", lambda: NOW)
    lines = run("--key", "alice").splitlines()
    assert lines[-2:] == [
        "alice today (UTC): 2 session(s), 115 tokens, 0.5000 USD",
        "alice this month (UTC): 3 session(s), 1115 tokens, 2.5000 USD",
    ]
