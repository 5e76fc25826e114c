"""Teams, limits, budgets and usage to date in the admin."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from keys import services
from keys.models import Team, VirtualKey
from realtime.models import RealtimeSession
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"


@pytest.fixture
def team() -> Team:
    return services.team_create(name="ops", budgets={"budget_usd_day": Decimal(5)})


def used(key_id: int, *, tokens: int, cost: str) -> None:
    key = VirtualKey.objects.get(pk=key_id)
    now = timezone.now()
    RealtimeSession.objects.create(
        started_at=now,
        virtual_key=key,
        virtual_key_name=key.name,
        provider_slug="fake",
        status="finished",
        ended_at=now,
        total_tokens=tokens,
        cost_usd=Decimal(cost),
    )


def test_a_key_is_added_with_its_team_limits_and_budgets(admin_client: Client, team):
    provider = services.provider_create(slug="fake", kind="openai", upstream_url=URL)
    response = admin_client.post(
        reverse("admin:keys_virtualkey_add"),
        {
            "name": "admin-key",
            "provider": str(provider.pk),
            "team": str(team.pk),
            "credential": UPSTREAM_SECRET,
            "allowed_models": "",
            "max_concurrent_sessions": "",
            "sessions_per_minute": "12",
            "max_session_seconds": "600",
            "idle_timeout_seconds": "45",
            "not_before_0": "2030-01-01",
            "not_before_1": "00:00:00",
            "expires_at_0": "",
            "expires_at_1": "",
            "budget_usd_day": "1.25",
            "budget_usd_month": "",
            "budget_tokens_day": "",
            "budget_tokens_month": "100000",
        },
    )
    assert response.status_code == 200, response.content.decode()[:2000]
    key = VirtualKey.objects.get(name="admin-key")
    assert key.team == team
    assert (key.sessions_per_minute, key.max_session_seconds) == (12, 600)
    assert key.idle_timeout_seconds == 45
    assert key.not_before == datetime.datetime(2030, 1, 1, tzinfo=datetime.UTC)
    assert (key.budget_usd_day, key.budget_tokens_month) == (Decimal("1.25"), 100000)
    assert key.status == "not yet valid"


def test_the_key_list_shows_team_and_usage_in_one_query_a_page(
    admin_client: Client, team
):
    names = [f"key-{n}" for n in range(6)]
    issued = [
        issue_key(URL, name=name, limits={"sessions_per_minute": 3}) for name in names
    ]
    VirtualKey.objects.update(team=team, idle_timeout_seconds=30)
    used(issued[0].key_id, tokens=1234, cost="0.25")
    url = reverse("admin:keys_virtualkey_changelist")
    with CaptureQueriesContext(connection) as queries:
        html = admin_client.get(url).content.decode()
    assert "1,234 tokens, $0.2500, 1 session" in html
    assert "0 tokens, $0.0000, 0 sessions" in html
    # The limits themselves are on each key's page: the list keeps to 1280 px
    # (tests/e2e/test_admin_screen.py).
    assert ">ops<" in html or "ops</td>" in html
    ledger_queries = [q for q in queries if "realtime_realtimesession" in q["sql"]]
    assert len(ledger_queries) == 1  # one grouped query, whatever the page size


def test_the_key_page_shows_its_usage(admin_client: Client):
    issued = issue_key(URL, name="k")
    used(issued.key_id, tokens=50, cost="0.1")
    html = admin_client.get(
        reverse("admin:keys_virtualkey_change", args=[issued.key_id])
    ).content.decode()
    assert "Used today (UTC)" in html
    assert "50 tokens, $0.1000, 1 session" in html


def test_the_team_pages_list_keys_budgets_and_usage(admin_client: Client, team):
    first = issue_key(URL, name="first")
    issue_key(URL, name="second")
    VirtualKey.objects.update(team=team)
    used(first.key_id, tokens=10, cost="1")
    used(first.key_id, tokens=5, cost="0.5")

    listing = admin_client.get(reverse("admin:keys_team_changelist")).content.decode()
    assert "15 tokens, $1.5000, 2 sessions" in listing
    page = admin_client.get(
        reverse("admin:keys_team_change", args=[team.pk])
    ).content.decode()
    for key in VirtualKey.objects.all():
        link = reverse("admin:keys_virtualkey_change", args=[key.pk])
        assert f'<a href="{link}">{key.name}</a> (active)' in page
    assert "15 tokens, $1.5000, 2 sessions" in page
    assert 'name="budget_usd_day" value="5' in page


def test_a_team_is_added_and_edited_in_the_admin(admin_client: Client):
    response = admin_client.post(
        reverse("admin:keys_team_add"),
        {
            "name": "support",
            "budget_usd_day": "",
            "budget_usd_month": "300",
            "budget_tokens_day": "",
            "budget_tokens_month": "",
        },
    )
    assert response.status_code == 302
    team = Team.objects.get(name="support")
    assert team.budget_usd_month == 300
    page = admin_client.get(reverse("admin:keys_team_add")).content.decode()
    assert "Budget per UTC day (USD)" in page


def test_the_status_filter_knows_keys_not_yet_valid(admin_client: Client):
    later = timezone.now() + datetime.timedelta(days=1)
    issue_key(URL, name="now")
    issue_key(URL, name="later", limits={"not_before": later})
    url = reverse("admin:keys_virtualkey_changelist")
    for status, names in [("active", ["now"]), ("not_yet_valid", ["later"])]:
        response = admin_client.get(url, {"status": status})
        assert [key.name for key in response.context["cl"].result_list] == names
