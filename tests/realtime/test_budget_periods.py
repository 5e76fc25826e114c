"""Budget arithmetic (realtime.budgets) with a frozen "now": which spend counts
in which UTC period, what is read at the handshake, and what a refusal counts."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest

from keys.models import VirtualKey
from keys.selectors import key_identity
from keys.values import BudgetLimits, KeyIdentity, ProviderTarget
from realtime import admission, budgets
from realtime.exceptions import BudgetExceeded
from realtime.models import RealtimeSession
from realtime.usage import Usage
from tests.support.keys import issue_key

UTC = datetime.UTC
NOON = datetime.datetime(2026, 3, 15, 12, 0, tzinfo=UTC)
TARGET = ProviderTarget(provider_id=1, slug="fake", kind="openai", upstream_url="")


def identity(**budgets_set) -> KeyIdentity:
    return KeyIdentity(
        key_id=1,
        name="k",
        provider=TARGET,
        max_concurrent_sessions=None,
        budgets=BudgetLimits(**budgets_set),
    )


def tokens(count: int) -> Usage:
    return Usage(responses=1, total_tokens=count)


def test_no_budgets_no_budget():
    assert not budgets.applies(None)
    assert not budgets.applies(identity())
    assert budgets.applies(identity(tokens_month=1))
    team = KeyIdentity(
        key_id=1,
        name="k",
        provider=TARGET,
        max_concurrent_sessions=None,
        team_id=2,
        team_budgets=BudgetLimits(usd_day=Decimal(0)),
    )
    assert budgets.applies(team)


@pytest.mark.parametrize(
    ("limits", "spent", "over"),
    [
        ({"tokens_day": 10}, 9, False),
        ({"tokens_day": 10}, 10, True),  # reaching a budget is enough
        ({"tokens_month": 10}, 10, True),
        ({"tokens_day": 0}, 0, True),  # a budget of 0 allows nothing
    ],
)
def test_a_budget_is_reached_at_its_value(limits, spent, over):
    budget = budgets.SessionBudget(identity=identity(**limits), kind="", started=NOON)
    assert (budget.check(tokens(spent), now=NOON) is not None) is over


def test_own_usage_counts_in_the_day_and_month_the_session_started():
    budget = budgets.SessionBudget(
        identity=identity(tokens_day=10, tokens_month=100),
        kind="",
        started=NOON,
    )
    refusal = budget.check(tokens(10), now=NOON)
    assert isinstance(refusal, BudgetExceeded) and "daily" in refusal.message
    # Past midnight the session's usage is the day it started in (as the
    # ledger counts it), so today's budget is not reached; the month's would be.
    next_day = NOON + datetime.timedelta(hours=13)
    assert budget.check(tokens(99), now=next_day) is None
    refusal = budget.check(tokens(100), now=next_day)
    assert refusal is not None and "monthly" in refusal.message
    next_month = datetime.datetime(2026, 4, 1, tzinfo=UTC)
    assert budget.check(tokens(100), now=next_month) is None


@pytest.mark.django_db
def test_spend_read_in_a_past_period_does_not_count_in_the_next():
    issued = issue_key("ws://127.0.0.1:9/", limits={"budget_tokens_day": 10})
    RealtimeSession.objects.create(
        id=uuid.uuid4(),
        virtual_key_id=issued.key_id,
        provider_slug="fake",
        started_at=NOON,
        status="finished",
        total_tokens=10,
    )
    who = key_identity(VirtualKey.objects.select_related("provider").get())
    budget = budgets.SessionBudget(identity=who, kind="openai", started=NOON)
    budget.refresh(model="", now=NOON)
    assert budget.check(tokens(0), now=NOON) is not None
    # Read at noon; checked the next day before the next refresh: the day's
    # spend read at noon is not the new day's.
    tomorrow = NOON + datetime.timedelta(days=1)
    late = budgets.SessionBudget(identity=who, kind="openai", started=tomorrow)
    late.refresh(model="", now=NOON)
    assert late.check(tokens(0), now=tomorrow) is None


@pytest.mark.django_db
def test_the_handshake_reads_the_current_period_and_logs_a_refusal():
    issued = issue_key("ws://127.0.0.1:9/", limits={"budget_usd_day": Decimal(1)})
    RealtimeSession.objects.create(
        id=uuid.uuid4(),
        virtual_key_id=issued.key_id,
        provider_slug="fake",
        started_at=NOON,
        status="finished",
        cost_usd=Decimal(1),
    )
    who = key_identity(VirtualKey.objects.select_related("provider").get())
    opening = {
        "identity": who,
        "kind": "openai",
        "model": "gpt-realtime",
        "client_address": "192.0.2.1",
        "instance": "test",
    }
    with pytest.raises(BudgetExceeded, match=r"daily USD budget .* \(\$1\)"):
        budgets.session_budget(**opening, now=NOON + datetime.timedelta(hours=11))
    refused = RealtimeSession.objects.get(status="rejected")
    assert (refused.close_code, refused.end_reason) == (4402, "budget_exceeded")
    # The next UTC day: yesterday's spend is not today's.
    budget = budgets.session_budget(**opening, now=NOON + datetime.timedelta(hours=12))
    assert budget.check(Usage(), now=NOON + datetime.timedelta(hours=12)) is None


def test_a_budget_refusal_counts_against_the_address_and_the_key():
    assert admission.failures_counted(BudgetExceeded("Used up.")) == 2
