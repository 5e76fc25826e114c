"""The usage log in the admin: read-only, filterable, with totals and a chart."""

from __future__ import annotations

import datetime

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from realtime.models import RealtimeSession, SessionStatus

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:realtime_realtimesession_changelist"


def make_session(
    *,
    key: str,
    status: str = SessionStatus.FINISHED,
    days_ago: int = 0,
    input_tokens: int = 0,
    output_tokens: int = 0,
    **fields: object,
) -> RealtimeSession:
    # An hour into a day, so the daily chart does not depend on the time of day.
    midnight = timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    started = midnight - datetime.timedelta(days=days_ago) + datetime.timedelta(hours=1)
    ended = (
        None
        if status == SessionStatus.ACTIVE
        else started + datetime.timedelta(seconds=90)
    )
    return RealtimeSession.objects.create(
        virtual_key_name=key,
        provider_slug="fake",
        model="gpt-realtime",
        status=status,
        started_at=started,
        ended_at=ended,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=input_tokens + output_tokens,
        **fields,
    )


@pytest.fixture
def sessions() -> dict[str, RealtimeSession]:
    return {
        "alice": make_session(
            key="alice",
            input_tokens=100,
            output_tokens=50,
            cached_tokens=20,
            bytes_from_client=2048,
            close_code=1000,
        ),
        "bob": make_session(
            key="bob",
            status=SessionStatus.FAILED,
            days_ago=1,
            input_tokens=300,
            output_tokens=100,
            close_code=1011,
        ),
        "carol": make_session(key="carol", status=SessionStatus.ACTIVE),
    }


def changelist(client: Client, **query: str) -> list[str]:
    """The key names the changelist shows for a query."""
    response = client.get(reverse(CHANGELIST), query)
    assert response.status_code == 200
    return sorted(row.virtual_key_name for row in response.context["cl"].result_list)


def test_changelist_shows_every_session_with_totals_and_a_daily_chart(
    admin_client: Client, sessions: dict[str, RealtimeSession]
):
    response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert response.context["usage_totals"] == {
        "sessions": 3,
        "input_tokens": 400,
        "output_tokens": 150,
        "cached_tokens": 20,
        "total_tokens": 550,
        "bytes_from_client": 2048,
        "bytes_from_upstream": 0,
        "cost_usd": 0,
    }
    days = response.context["usage_days"]
    assert [(day.sessions, day.tokens, width) for day, width in days] == [
        (1, 400, 100),  # yesterday: bob, the peak
        (2, 150, 38),  # today: alice and carol
    ]
    html = response.content.decode()
    assert "<strong>3</strong> sessions" in html
    assert 'aria-label="Tokens per day"' in html
    for name in ("alice", "bob", "carol"):
        assert name in html


def test_totals_follow_the_filters(
    admin_client: Client, sessions: dict[str, RealtimeSession]
):
    response = admin_client.get(reverse(CHANGELIST), {"status": "failed"})
    assert response.context["usage_totals"]["sessions"] == 1
    assert response.context["usage_totals"]["input_tokens"] == 300


@pytest.mark.parametrize(
    ("query", "names"),
    [
        ({"status": "finished"}, ["alice"]),
        ({"status": "active"}, ["carol"]),
        ({"status": "interrupted"}, []),
        ({"q": "bob"}, ["bob"]),
        ({"q": "gpt-realtime"}, ["alice", "bob", "carol"]),
        ({"q": "nobody"}, []),
    ],
)
def test_filters_and_search(
    admin_client: Client,
    sessions: dict[str, RealtimeSession],
    query: dict[str, str],
    names: list[str],
):
    assert changelist(admin_client, **query) == names


def test_search_by_exact_session_id(
    admin_client: Client, sessions: dict[str, RealtimeSession]
):
    assert changelist(admin_client, q=str(sessions["bob"].id)) == ["bob"]


def test_change_page_is_read_only(
    admin_client: Client, sessions: dict[str, RealtimeSession]
):
    session = sessions["alice"]
    url = reverse("admin:realtime_realtimesession_change", args=[session.id])
    response = admin_client.get(url)
    assert response.status_code == 200
    assert response.context["has_change_permission"] is False
    html = response.content.decode()
    assert str(session.id) in html
    assert "90.0 s" in html  # the duration
    assert 'name="model"' not in html
    assert 'name="_save"' not in html

    before = RealtimeSession.objects.get(pk=session.id).model
    assert admin_client.post(url, {"model": "changed"}).status_code == 403
    assert RealtimeSession.objects.get(pk=session.id).model == before


def test_sessions_cannot_be_added_or_deleted(
    admin_client: Client, sessions: dict[str, RealtimeSession]
):
    session = sessions["alice"]
    assert (
        admin_client.get(reverse("admin:realtime_realtimesession_add")).status_code
        == 403
    )
    delete = reverse("admin:realtime_realtimesession_delete", args=[session.id])
    assert admin_client.get(delete).status_code == 403
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert RealtimeSession.objects.filter(pk=session.id).exists()

    response = admin_client.get(reverse(CHANGELIST))
    assert response.context["cl"].model_admin.get_actions(response.wsgi_request) == {}
    html = response.content.decode()
    assert reverse("admin:realtime_realtimesession_add") not in html
