"""The admin on a big log: queries a page do not grow with the rows, and none
reads the whole log for a filter's choices, a count or the date drill-down."""

from __future__ import annotations

import datetime

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse, reverse_lazy
from django.utils import timezone

from keys.models import Provider, Team, VirtualKey
from realtime import admin_scale
from realtime.admin_scale import EstimatedCountPaginator, spanned_dates
from realtime.models import RealtimeSession, SessionStatus

pytestmark = pytest.mark.django_db

# Lazy: loading the URLconf at collection would import every view module.
SESSIONS = reverse_lazy("admin:realtime_realtimesession_changelist")


def seed(rows: int) -> RealtimeSession:
    """`rows` sessions over 3 days, 3 providers, 4 models, 5 keys in 2 teams."""
    provider = Provider.objects.get_or_create(slug="openai", kind="openai")[0]
    teams = [Team.objects.get_or_create(name=f"team-{n}")[0] for n in range(2)]
    keys = [
        VirtualKey.objects.get_or_create(
            name=f"key-{n}",
            defaults={
                "team": teams[n % 2],
                "provider": provider,
                "encrypted_credential": "fernet$test",
                "key_prefix": f"rk_{n}",
                "key_digest": f"sha256$test{n}",
            },
        )[0]
        for n in range(5)
    ]
    now = timezone.now()
    statuses = list(SessionStatus)
    RealtimeSession.objects.bulk_create(
        RealtimeSession(
            virtual_key=keys[n % 5],
            virtual_key_name=keys[n % 5].name,
            provider_slug=("openai", "azure", "google")[n % 3],
            model=f"model-{n % 4}",
            status=statuses[n % len(statuses)],
            end_reason=("client_closed", "upstream_failed")[n % 2],
            started_at=now - datetime.timedelta(hours=n * 72 / rows),
            total_tokens=n,
        )
        for n in range(rows)
    )
    return RealtimeSession.objects.order_by("-started_at").first()


def pages(session: RealtimeSession) -> list[str]:
    day = timezone.localtime(session.started_at)
    dashboard = reverse("realtime_dashboard")
    return [
        reverse("admin:index"),
        str(SESSIONS),
        f"{SESSIONS}?status=failed",
        f"{SESSIONS}?provider_slug=azure",
        f"{SESSIONS}?virtual_key__id__exact={session.virtual_key_id}",
        f"{SESSIONS}?started_at__year={day.year}&started_at__month={day.month}",
        f"{SESSIONS}?q=key-1",
        f"{SESSIONS}?p=2",
        reverse("admin:realtime_realtimesession_change", args=[session.pk]),
        reverse("admin:keys_virtualkey_changelist"),
        reverse("admin:keys_team_changelist"),
        *(
            f"{dashboard}?period={period}&group={group}"
            for period in ("24h", "30d")
            for group in ("provider", "model", "key", "team")
        ),
    ]


def queries(client: Client, url: str) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, url
    return [query["sql"] for query in captured.captured_queries]


def test_queries_a_page_do_not_grow_with_the_rows(admin_client: Client):
    session = seed(60)  # page 2 exists (50 a page)
    for url in pages(session):
        admin_client.get(url)  # warm the caches (content types, permissions)
    few = {url: len(queries(admin_client, url)) for url in pages(session)}
    seed(540)
    many = {url: len(queries(admin_client, url)) for url in pages(session)}
    assert many == few


def test_no_query_reads_the_whole_log_for_choices_or_dates(admin_client: Client):
    session = seed(60)
    day = timezone.localtime(session.started_at)
    for url in (
        str(SESSIONS),
        f"{SESSIONS}?started_at__year={day.year}",
        f"{SESSIONS}?started_at__year={day.year}&started_at__month={day.month}",
    ):
        for sql in queries(admin_client, url):
            if "DISTINCT" in sql:  # only the filters' choices, over recent rows
                assert "LIMIT" in sql, sql


def test_a_filter_offers_the_recent_values_and_the_selected_one(
    admin_client: Client, monkeypatch
):
    seed(12)  # the newest rows are the first: openai, azure, google, ...
    RealtimeSession.objects.filter(model="model-3").update(
        started_at=timezone.now() - datetime.timedelta(days=30)
    )
    monkeypatch.setattr(admin_scale, "RECENT_ROWS", 3)
    response = admin_client.get(SESSIONS, {"model": "model-3"})
    spec = next(
        f for f in response.context["cl"].filter_specs if f.lookup_kwarg == "model"
    )
    assert spec.lookup_choices == ["model-0", "model-1", "model-2", "model-3"]
    assert {row.model for row in response.context["cl"].result_list} == {"model-3"}
    response = admin_client.get(SESSIONS)
    spec = next(
        f for f in response.context["cl"].filter_specs if f.lookup_kwarg == "model"
    )
    assert spec.lookup_choices == ["model-0", "model-1", "model-2"]


def test_the_date_drill_down_spans_first_to_last(db):
    seed(3)  # now, 24 h and 48 h ago
    RealtimeSession.objects.filter(total_tokens=1).delete()  # a day with none
    days = spanned_dates(RealtimeSession.objects.all()).datetimes("started_at", "day")
    today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
    assert days == [today - datetime.timedelta(days=n) for n in (2, 1, 0)]
    assert (
        spanned_dates(RealtimeSession.objects.none()).datetimes("started_at", "month")
        == []
    )


def test_the_count_is_estimated_only_for_a_big_unfiltered_log(db, monkeypatch):
    seed(5)
    everything = RealtimeSession.objects.order_by("-started_at")
    assert EstimatedCountPaginator(everything, 50).count == 5  # exact below
    monkeypatch.setattr(admin_scale, "estimated_rows", lambda queryset: 2_000_000)
    assert EstimatedCountPaginator(everything, 50).count == 2_000_000
    assert admin_scale.estimated_rows is not None


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="pg_class statistics: PostgreSQL"
)
def test_the_estimate_comes_from_the_planner_statistics(db):
    seed(20)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE realtime_realtimesession")
    sessions = RealtimeSession.objects.all()
    assert admin_scale.estimated_rows(sessions) == 20
    assert admin_scale.estimated_rows(sessions.filter(status="failed")) is None


def test_the_estimate_needs_postgresql_and_no_filter(db):
    if connection.vendor == "postgresql":
        pytest.skip("covered by the PostgreSQL test")
    assert admin_scale.estimated_rows(RealtimeSession.objects.all()) is None
