"""The live sessions in the admin and terminating them; the session log's links,
times and favicon."""

from __future__ import annotations

import datetime
import re

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from realtime import operations
from realtime.models import RealtimeSession, SessionStatus
from tests.support.keys import issue_key

# Transactions commit, so terminations are announced (on commit) as in production.
pytestmark = pytest.mark.django_db(transaction=True)

LIVE = reverse("admin:realtime_livesession_changelist")
LOG = reverse("admin:realtime_realtimesession_changelist")


@pytest.fixture(autouse=True)
def announced(monkeypatch) -> list:
    """Terminations announced on the channel layer (recorded, not sent)."""
    calls: list = []
    monkeypatch.setattr(operations, "announce_termination", calls.append)
    return calls


def row(name: str, **fields: object) -> RealtimeSession:
    return RealtimeSession.objects.create(
        virtual_key_name=name, provider_slug="fake", model="gpt-realtime", **fields
    )


@pytest.fixture
def rows() -> dict[str, RealtimeSession]:
    now = timezone.now()
    hour_ago = now - datetime.timedelta(hours=1)
    return {
        "fresh": row("fresh", gateway_instance="gw-a"),
        "beating": row("beating", started_at=hour_ago, checkpointed_at=now),
        "stale": row("stale", started_at=hour_ago, checkpointed_at=hour_ago),
        "over": row(
            "over", status=SessionStatus.FINISHED, started_at=hour_ago, ended_at=now
        ),
    }


def listed(client: Client, url: str, **query: str) -> list[str]:
    response = client.get(url, query)
    assert response.status_code == 200
    return sorted(r.virtual_key_name for r in response.context["cl"].result_list)


def test_the_live_list_shows_open_sessions_with_a_fresh_heartbeat(
    admin_client: Client, rows: dict[str, RealtimeSession]
):
    assert listed(admin_client, LIVE) == ["beating", "fresh"]
    assert listed(admin_client, LIVE, gateway_instance="gw-a") == ["fresh"]
    assert listed(admin_client, LIVE, q="beating") == ["beating"]


def test_terminate_action_confirms_then_terminates(
    admin_client: Client, rows: dict[str, RealtimeSession], announced: list
):
    chosen = rows["fresh"]
    selected = {"action": "terminate_selected", "_selected_action": [str(chosen.id)]}
    page = admin_client.post(LIVE, selected)
    assert page.status_code == 200
    assert [s.id for s in page.context["sessions"]] == [chosen.id]
    assert "session_terminated" in page.content.decode()
    assert announced == []

    response = admin_client.post(LIVE, {**selected, "post": "yes"}, follow=True)
    assert "Terminating 1 session(s)" in response.content.decode()
    assert announced == [chosen.id]
    chosen.refresh_from_db()
    assert chosen.terminate_requested_at is not None
    rows["beating"].refresh_from_db()
    assert rows["beating"].terminate_requested_at is None


def test_terminate_button_on_the_live_session_page(
    admin_client: Client, rows: dict[str, RealtimeSession], announced: list
):
    session = rows["beating"]
    change = reverse("admin:realtime_livesession_change", args=[session.id])
    terminate = reverse("admin:realtime_livesession_terminate", args=[session.id])
    assert terminate in admin_client.get(change).content.decode()
    log_page = reverse("admin:realtime_realtimesession_change", args=[session.id])
    assert change in admin_client.get(log_page).content.decode()  # the way there

    assert admin_client.get(terminate).status_code == 200
    assert announced == []
    response = admin_client.post(terminate, {"post": "yes"})
    assert response.status_code == 302
    assert announced == [session.id]

    stale = reverse("admin:realtime_livesession_terminate", args=[rows["over"].id])
    assert admin_client.get(stale).status_code == 404


def test_terminating_needs_its_own_permission(
    client: Client, rows: dict[str, RealtimeSession], announced: list
):
    ops = User.objects.create_user("ops", password="a-long-pass-phrase")
    ops.is_staff = True
    ops.save()
    ops.user_permissions.add(Permission.objects.get(codename="view_livesession"))
    client.force_login(ops)
    assert listed(client, LIVE) == ["beating", "fresh"]
    page = client.get(LIVE)
    assert page.context["cl"].model_admin.get_actions(page.wsgi_request) == {}
    session = rows["fresh"]
    terminate = reverse("admin:realtime_livesession_terminate", args=[session.id])
    assert client.post(terminate, {"post": "yes"}).status_code == 403
    assert announced == []

    ops.user_permissions.add(Permission.objects.get(codename="terminate_livesession"))
    ops = User.objects.get(pk=ops.pk)  # a fresh permission cache
    client.force_login(ops)
    assert client.post(terminate, {"post": "yes"}).status_code == 302
    assert announced == [session.id]


def test_sessions_link_to_their_key_and_filter_by_it(admin_client: Client):
    issued = issue_key("ws://127.0.0.1:9/v1/realtime", name="alpha")
    mine = row("alpha", virtual_key_id=issued.key_id)
    row("other")
    html = admin_client.get(LOG).content.decode()
    key_page = reverse("admin:keys_virtualkey_change", args=[issued.key_id])
    assert f'<a href="{key_page}">alpha</a>' in html
    detail = reverse("admin:realtime_realtimesession_change", args=[mine.id])
    assert key_page in admin_client.get(detail).content.decode()
    assert listed(admin_client, LOG, virtual_key__id__exact=str(issued.key_id)) == [
        "alpha"
    ]


def test_times_show_seconds_and_the_time_zone(admin_client: Client, settings):
    settings.TIME_ZONE = "Europe/Paris"
    started = datetime.datetime(2026, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    session = row(
        "alpha",
        started_at=started,
        ended_at=started + datetime.timedelta(seconds=7),
        status=SessionStatus.FINISHED,
    )
    html = admin_client.get(LOG).content.decode()
    assert "2026-01-02 04:04:05 CET" in html
    detail = reverse("admin:realtime_realtimesession_change", args=[session.id])
    html = admin_client.get(detail).content.decode()
    assert "2026-01-02 04:04:12 CET" in html  # ended, on the detail page


def test_a_favicon_is_linked_and_served(admin_client: Client):
    html = admin_client.get(reverse("admin:index")).content.decode()
    icon = re.search(r'<link rel="icon" href="([^"]+)"', html)
    assert icon is not None
    response = admin_client.get("/favicon.ico")
    assert response.status_code == 302
    assert response["Location"] == icon.group(1)
