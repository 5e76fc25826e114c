"""The staff dashboard: who may see it, and that its numbers are the log's."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission, User
from django.db.models import Count, Sum
from django.test import Client
from django.urls import reverse, reverse_lazy
from django.utils import timezone

from keys.models import Provider, Team, VirtualKey
from realtime import dashboard
from realtime.models import RealtimeSession, SessionStatus
from realtime.selectors import TOKENS

pytestmark = pytest.mark.django_db

# Lazy: loading the URLconf at collection would import every view module.
URL = reverse_lazy("realtime_dashboard")
NOW = datetime.datetime(2025, 3, 10, 12, 30, tzinfo=datetime.UTC)


def _key(name: str, team: Team | None, provider: Provider) -> VirtualKey:
    return VirtualKey.objects.create(
        name=name,
        team=team,
        provider=provider,
        encrypted_credential="fernet$test",
        key_prefix=name[:8],
        key_digest=f"sha256${name}",
    )


def add(
    key: VirtualKey | None,
    *,
    hours_ago: float,
    provider: str = "openai",
    model: str = "gpt-realtime",
    status: str = SessionStatus.FINISHED,
    tokens: int = 0,
    cost: str | None = None,
    **fields: object,
) -> RealtimeSession:
    started = NOW - datetime.timedelta(hours=hours_ago)
    return RealtimeSession.objects.create(
        virtual_key=key,
        virtual_key_name=key.name if key else "",
        provider_slug=provider,
        model=model,
        status=status,
        started_at=started,
        ended_at=None if status == SessionStatus.ACTIVE else started,
        total_tokens=tokens,
        cost_usd=None if cost is None else Decimal(cost),
        **fields,
    )


@pytest.fixture
def log() -> dict[str, VirtualKey]:
    """A small log: two teams, three keys, two providers, every status."""
    provider = Provider.objects.create(slug="openai", kind="openai")
    red, blue = Team.objects.create(name="red"), Team.objects.create(name="blue")
    keys = {
        "alpha": _key("alpha", red, provider),
        "beta": _key("beta", blue, provider),
        "gamma": _key("gamma", None, provider),
    }
    add(keys["alpha"], hours_ago=1, tokens=100, cost="0.50")
    add(keys["alpha"], hours_ago=2.5, tokens=40, cost="0.25", transcription_tokens=5)
    add(
        keys["beta"],
        hours_ago=3,
        provider="azure",
        model="gpt-4o",
        tokens=300,
        cost="2.00",
    )
    add(keys["gamma"], hours_ago=5, model="gpt-realtime-mini", tokens=10, cost="0.01")
    add(None, hours_ago=6, tokens=7)  # a passthrough session, not priced
    add(
        keys["beta"],
        hours_ago=2,
        status=SessionStatus.FAILED,
        close_code=1011,
        end_reason="upstream_failed",
        tokens=20,
        cost="0.10",
    )
    add(
        keys["gamma"],
        hours_ago=1,
        status=SessionStatus.REJECTED,
        close_code=4403,
        end_reason="key_revoked",
        attempts=3,
    )
    add(
        keys["alpha"],
        hours_ago=4,
        status=SessionStatus.INTERRUPTED,
        close_code=1001,
        end_reason="gateway_process_lost",
        tokens=1,
        cost="0.01",
    )
    # Outside the last 24 hours, inside the last 30 days.
    add(keys["beta"], hours_ago=24 * 3, tokens=1000, cost="5.00")
    add(
        keys["beta"],
        hours_ago=24 * 3,
        status=SessionStatus.FAILED,
        close_code=1011,
        end_reason="upstream_failed",
    )
    # Outside both.
    add(keys["alpha"], hours_ago=24 * 40, tokens=99999, cost="99.00")
    # Live now: one fresh, one whose process died (stale heartbeat).
    add(
        keys["alpha"],
        hours_ago=0.1,
        status=SessionStatus.ACTIVE,
        checkpointed_at=timezone.now(),
    )
    add(
        keys["alpha"],
        hours_ago=0.2,
        status=SessionStatus.ACTIVE,
        checkpointed_at=timezone.now() - datetime.timedelta(hours=1),
    )
    return keys


def _data(period: str, group: str) -> dict:
    return dashboard.dashboard_data(
        period=dashboard.PERIODS[period], grouping=dashboard.GROUPINGS[group], now=NOW
    )


def _direct(since: datetime.datetime, column: str) -> dict[str, dict]:
    """The same figures counted straight from the table, one group at a time."""
    rows = (
        RealtimeSession.objects.filter(started_at__gte=since)
        .exclude(status=SessionStatus.REJECTED)
        .values(column)
        .annotate(sessions=Count("pk"), tokens=Sum(TOKENS), cost=Sum("cost_usd"))
    )
    return {
        row[column]: {
            "sessions": row["sessions"],
            "tokens": row["tokens"],
            "cost": float(row["cost"] or 0),
        }
        for row in rows
    }


@pytest.mark.parametrize(
    ("period", "since"),
    [
        ("24h", datetime.datetime(2025, 3, 9, 13, tzinfo=datetime.UTC)),
        ("30d", datetime.datetime(2025, 2, 9, tzinfo=datetime.UTC)),
    ],
)
@pytest.mark.parametrize(
    ("group", "column", "blank"),
    [
        ("provider", "provider_slug", "(none)"),
        ("model", "model", "(none)"),
        ("key", "virtual_key_name", "(passthrough)"),
        ("team", "virtual_key__team__name", "(no team)"),
    ],
)
def test_series_equal_a_direct_count(log, period, since, group, column, blank):
    data = _data(period, group)
    assert data["series"]["buckets"][0] == since.isoformat()
    assert len(data["series"]["buckets"]) == (24 if period == "24h" else 30)
    shown = {
        entry["name"]: {
            metric: pytest.approx(sum(entry[metric]))
            for metric in ("sessions", "tokens", "cost")
        }
        for entry in data["series"]["groups"]
    }
    expected = {
        (name or blank): figures for name, figures in _direct(since, column).items()
    }
    assert shown == expected
    totals = data["series"]["totals"]
    assert totals["sessions"] == sum(row["sessions"] for row in expected.values())
    assert totals["tokens"] == sum(row["tokens"] for row in expected.values())


def test_buckets_hold_their_hours(log):
    data = _data("24h", "key")
    alpha = next(g for g in data["series"]["groups"] if g["name"] == "alpha")
    # 11:30 (1 h ago) is the 23rd of 24 hourly buckets; 10:00 (2.5 h ago) the
    # 21st (its 5 transcription tokens count); the live sessions are the 24th.
    assert alpha["tokens"][22] == 100
    assert alpha["tokens"][21] == 45
    assert alpha["sessions"][23] == 2


def test_top_keys_errors_and_live_sessions(log):
    data = _data("24h", "provider")
    assert [(row["key"], row["cost"]) for row in data["top_keys"]] == [
        ("beta", 2.10),
        ("alpha", 0.76),
        ("gamma", 0.01),
    ]
    assert data["errors"] == {
        "by_close_code": [
            {"close_code": "4403", "errors": 3},  # refused attempts each count
            {"close_code": "1001", "errors": 1},
            {"close_code": "1011", "errors": 1},
        ],
        "by_end_reason": [
            {"end_reason": "key_revoked", "errors": 3},
            {"end_reason": "gateway_process_lost", "errors": 1},
            {"end_reason": "upstream_failed", "errors": 1},
        ],
    }
    assert data["live"] == {
        "total": 1,
        "by_model": [{"provider": "openai", "model": "gpt-realtime", "sessions": 1}],
    }
    month = _data("30d", "provider")
    assert month["top_keys"][0] == {
        "key": "beta",
        "cost": 7.10,
        "tokens": 1320,
        "sessions": 3,
    }
    assert month["errors"]["by_close_code"][1] == {"close_code": "1011", "errors": 2}


def test_groups_beyond_the_top_add_up_to_other(db):
    provider = Provider.objects.create(slug="openai", kind="openai")
    for n in range(dashboard.TOP_GROUPS + 3):
        key = _key(f"key-{n:02d}", None, provider)
        add(key, hours_ago=1, tokens=100 + n)
    groups = _data("24h", "key")["series"]["groups"]
    assert len(groups) == dashboard.TOP_GROUPS + 1
    assert groups[0]["name"] == f"key-{dashboard.TOP_GROUPS + 2:02d}"  # the biggest
    assert groups[-1]["name"] == "other"
    assert sum(groups[-1]["tokens"]) == 100 + 101 + 102  # the three smallest


def test_the_page_draws_from_json_for_staff(admin_client: Client, log):
    response = admin_client.get(URL, {"period": "30d", "group": "team"})
    assert response.status_code == 200
    html = response.content.decode()
    for chart in (
        "sessions",
        "tokens",
        "cost",
        "top-keys",
        "close-codes",
        "end-reasons",
    ):
        assert f'<canvas id="chart-{chart}"' in html
    assert "realtime/vendor/chartjs/chart.umd.min.js" in html
    assert "//cdn" not in html and "https://" not in html.split("<body")[1]
    payload = html.split('<script id="dashboard-data" type="application/json">')[1]
    data = json.loads(payload.split("</script>")[0])
    assert data["period"] == "30d"
    assert data["grouping"] == "team"
    assert {group["name"] for group in data["series"]["groups"]} <= {
        "red",
        "blue",
        "(no team)",
    }


def test_unknown_choices_fall_back_to_the_defaults(admin_client: Client):
    response = admin_client.get(URL, {"period": "1y", "group": "colour"})
    assert response.status_code == 200
    assert response.context["period"].slug == "24h"
    assert response.context["grouping"].slug == "provider"


def test_linked_from_the_admin_index_and_the_session_list(admin_client: Client):
    assert str(URL) in admin_client.get(reverse("admin:index")).content.decode()
    sessions = reverse("admin:realtime_realtimesession_changelist")
    assert str(URL) in admin_client.get(sessions).content.decode()


def test_others_are_sent_to_the_login_or_refused(client: Client):
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))

    User.objects.create_user("visitor", password="a-long-pass-phrase")
    client.login(username="visitor", password="a-long-pass-phrase")
    assert client.get(URL).status_code == 302  # not staff: the admin's login

    staff = User.objects.create_user(
        "clerk", password="a-long-pass-phrase", is_staff=True
    )
    client.login(username="clerk", password="a-long-pass-phrase")
    assert client.get(URL).status_code == 403  # staff, but may not read the log
    staff.user_permissions.add(Permission.objects.get(codename="view_realtimesession"))
    assert client.get(URL).status_code == 200
