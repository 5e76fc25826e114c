"""Teams, limits and budgets on keys: the services, the selectors and the
create_virtual_key / update_virtual_key / create_team / update_team commands."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import ProtectedError
from django.utils import timezone

from keys import exceptions, selectors, services
from keys.models import Team, VirtualKey
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
HOUR = datetime.timedelta(hours=1)


def run(command: str, *args: str) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def key(name: str = "k") -> VirtualKey:
    return VirtualKey.objects.get(name=name)


@pytest.fixture
def issued() -> VirtualKey:
    return VirtualKey.objects.get(pk=issue_key(URL, name="k").key_id)


# --- not before --------------------------------------------------------------


def test_a_key_is_refused_before_its_start_and_accepted_after(issued):
    token = issue_key(URL, name="later", limits={"not_before": timezone.now() + HOUR})
    with pytest.raises(exceptions.KeyNotYetValid) as caught:
        services.virtual_key_authenticate(token=token.token)
    assert caught.value.code == "key_not_yet_valid"
    assert caught.value.identity is not None
    assert caught.value.identity.name == "later"
    assert key("later").status == "not yet valid"
    refusal = selectors.virtual_key_refusal(key_id=token.key_id)
    assert isinstance(refusal, exceptions.KeyNotYetValid)

    VirtualKey.objects.filter(name="later").update(not_before=timezone.now())
    assert services.virtual_key_authenticate(token=token.token).key is not None
    assert selectors.virtual_key_refusal(key_id=token.key_id) is None
    assert key("later").status == "active"


def test_a_key_must_start_before_it_expires(issued):
    now = timezone.now()
    with pytest.raises(ValidationError, match="start before it expires"):
        services.virtual_key_update(
            key=issued, changes={"not_before": now + HOUR, "expires_at": now}
        )


# --- the identity the realtime side reads ---------------------------------------


def test_the_identity_carries_the_limits_and_the_team():
    team = services.team_create(name="ops")
    issued = issue_key(
        URL,
        name="k",
        limits={
            "sessions_per_minute": 5,
            "max_session_seconds": 600,
            "idle_timeout_seconds": 30,
        },
    )
    services.virtual_key_update(key=key(), changes={"team": team})
    identity = services.virtual_key_authenticate(token=issued.token).key
    assert identity is not None
    assert (
        identity.sessions_per_minute,
        identity.max_session_seconds,
        identity.idle_timeout_seconds,
        identity.team_id,
        identity.team_name,
    ) == (5, 600, 30, team.pk, "ops")


@pytest.mark.parametrize(
    "field", ["sessions_per_minute", "max_session_seconds", "idle_timeout_seconds"]
)
def test_limits_are_positive(issued, field):
    with pytest.raises(ValidationError, match=field):
        services.virtual_key_update(key=issued, changes={field: 0})


def test_only_limits_are_set_through_the_limits_argument():
    with pytest.raises(ValueError, match="encrypted_credential"):
        issue_key(URL, name="k", limits={"encrypted_credential": "x"})


# --- teams -------------------------------------------------------------------


def test_a_team_with_keys_cannot_be_deleted(issued):
    team = services.team_create(name="ops", budgets={"budget_usd_day": Decimal("1.5")})
    services.virtual_key_update(key=issued, changes={"team": team})
    with pytest.raises(ProtectedError):
        team.delete()
    assert str(team) == "ops"


def test_budgets_are_not_negative():
    with pytest.raises(ValidationError, match="budget_usd_month"):
        services.team_create(name="ops", budgets={"budget_usd_month": Decimal(-1)})


# --- the commands ------------------------------------------------------------


def test_create_virtual_key_takes_every_limit_and_budget():
    run("create_team", "ops")
    issue_key(URL, name="seed")  # the provider
    before = timezone.now()
    output = run(
        "create_virtual_key",
        "--provider", "fake",
        "--name", "cli",
        "--secret", UPSTREAM_SECRET,
        "--team", "ops",
        "--models", "gpt-realtime",
        "--max-sessions", "3",
        "--sessions-per-minute", "10",
        "--max-session-seconds", "900",
        "--idle-timeout", "60",
        "--not-before", "2030-01-02T03:04:05",
        "--expires-at", "2031-01-01T00:00:00Z",
        "--budget-usd-day", "2.50",
        "--budget-usd-month", "40",
        "--budget-tokens-day", "100000",
        "--budget-tokens-month", "none",
    )  # fmt: skip
    assert output.splitlines()[-1].startswith("vk_")
    made = key("cli")
    assert made.team is not None and made.team.name == "ops"
    assert made.allowed_models == ["gpt-realtime"]
    assert (
        made.max_concurrent_sessions,
        made.sessions_per_minute,
        made.max_session_seconds,
        made.idle_timeout_seconds,
    ) == (3, 10, 900, 60)
    utc = datetime.UTC
    assert made.not_before == datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=utc)
    assert made.expires_at == datetime.datetime(2031, 1, 1, tzinfo=utc)
    assert (made.budget_usd_day, made.budget_usd_month) == (Decimal("2.5"), 40)
    assert (made.budget_tokens_day, made.budget_tokens_month) == (100000, None)
    assert made.created_at >= before


def test_update_virtual_key_changes_only_what_it_is_told(issued):
    run("create_team", "ops")
    output = run(
        "update_virtual_key",
        "k",
        "--team", "ops",
        "--sessions-per-minute", "4",
        "--idle-timeout", "15",
        "--expires-in", "3600",
        "--budget-tokens-month", "5000",
    )  # fmt: skip
    assert "Updated virtual key k" in output
    updated = key()
    assert updated.team is not None and updated.team.name == "ops"
    assert (updated.sessions_per_minute, updated.idle_timeout_seconds) == (4, 15)
    assert updated.max_session_seconds is None
    assert updated.budget_tokens_month == 5000
    assert updated.expires_at is not None
    assert updated.expires_at - timezone.now() > HOUR - datetime.timedelta(minutes=1)
    assert updated.revoked_at is None


def test_update_virtual_key_clears_with_none_any_and_no_team(issued):
    run("create_team", "ops")
    run(
        "update_virtual_key", "k", "--team", "ops", "--models", "a,b*",
        "--max-sessions", "2", "--sessions-per-minute", "4",
        "--not-before", "2020-01-01T00:00:00Z",
        "--expires-at", "2099-01-01T00:00:00Z", "--budget-usd-day", "1",
    )  # fmt: skip
    assert key().allowed_models == ["a", "b*"]
    run(
        "update_virtual_key", "k", "--no-team", "--models", "any",
        "--max-sessions", "none", "--sessions-per-minute", "NONE",
        "--not-before", "none", "--expires-at", "none", "--budget-usd-day", "none",
    )  # fmt: skip
    cleared = key()
    assert cleared.team is None
    assert cleared.allowed_models == []
    assert cleared.max_concurrent_sessions is None
    assert cleared.sessions_per_minute is None
    assert (cleared.not_before, cleared.expires_at, cleared.budget_usd_day) == (
        None,
        None,
        None,
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["missing", "--idle-timeout", "5"], "No virtual key named 'missing'"),
        (["k"], "Nothing to change"),
        (["k", "--team", "nobody"], "No team 'nobody'"),
        (["k", "--team", "ops", "--no-team"], "not allowed with"),
        (["k", "--sessions-per-minute", "many"], "expected a whole number"),
        (["k", "--sessions-per-minute", "0"], "sessions_per_minute"),
        (["k", "--budget-usd-day", "nan"], "expected an amount in USD"),
        (["k", "--not-before", "tomorrow"], "expected an ISO time"),
        (["k", "--expires-in", "0"], "--expires-in"),
        (["k", "--expires-in", "5", "--expires-at", "none"], "not allowed with"),
    ],
)
def test_update_virtual_key_refuses_bad_input(issued, args, message):
    run("create_team", "ops")
    with pytest.raises(CommandError, match=message):
        run("update_virtual_key", *args)
    unchanged = key()
    assert (unchanged.team, unchanged.sessions_per_minute) == (None, None)


def test_create_and_update_team():
    assert "Created team ops" in run(
        "create_team", "ops", "--budget-usd-month", "100", "--budget-tokens-day", "7"
    )
    team = Team.objects.get(name="ops")
    assert (team.budget_usd_month, team.budget_tokens_day) == (100, 7)
    assert team.budget_usd_day is None
    run("update_team", "ops", "--budget-usd-month", "none", "--budget-usd-day", "3")
    team.refresh_from_db()
    assert (team.budget_usd_month, team.budget_usd_day) == (None, 3)
    with pytest.raises(CommandError, match="name"):
        run("create_team", "ops")
    with pytest.raises(CommandError, match="No team 'x'"):
        run("update_team", "x", "--budget-usd-day", "1")
    with pytest.raises(CommandError, match="Nothing to change"):
        run("update_team", "ops")
