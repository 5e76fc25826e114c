"""The admin's CSV export of the usage log: what the change list's filters and
search select (every page of it), streamed, staff only."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from realtime.models import RealtimeSession, SessionStatus
from realtime.selectors import SESSION_COLUMNS

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:realtime_realtimesession_changelist"
EXPORT = "admin:realtime_realtimesession_export"


def make_session(key: str, **fields: object) -> RealtimeSession:
    return RealtimeSession.objects.create(
        virtual_key_name=key,
        provider_slug="fake",
        model="gpt-realtime",
        status=fields.pop("status", SessionStatus.FINISHED),
        **fields,
    )


def export(client: Client, **query: str) -> list[dict[str, str]]:
    response = client.get(reverse(EXPORT), query)
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode()
    reader = csv.DictReader(io.StringIO(text))
    assert tuple(reader.fieldnames or ()) == SESSION_COLUMNS
    return list(reader)


def test_the_export_holds_what_the_filters_and_search_select(admin_client: Client):
    alice = make_session("alice", input_tokens=100, output_tokens=50)
    make_session("alice-failed", status=SessionStatus.FAILED)
    make_session("bob")
    rows = export(admin_client, status="finished", q="alice")
    assert [row["session_id"] for row in rows] == [str(alice.id)]
    row = rows[0]
    assert (row["virtual_key"], row["status"], row["provider"]) == (
        "alice",
        "finished",
        "fake",
    )
    assert (row["input_tokens"], row["output_tokens"]) == ("100", "50")
    assert len(export(admin_client)) == 3


def test_the_change_list_links_to_the_export_of_its_filters(admin_client: Client):
    make_session("alice")
    response = admin_client.get(reverse(CHANGELIST), {"status": "finished"})
    assert f'href="{reverse(EXPORT)}?status=finished"' in response.content.decode()


def test_the_export_holds_every_page(admin_client: Client):
    RealtimeSession.objects.bulk_create(
        RealtimeSession(virtual_key_name=f"k{i}", provider_slug="fake")
        for i in range(120)
    )
    assert len(export(admin_client, p="2")) == 120


def test_text_a_spreadsheet_would_run_is_defused(admin_client: Client):
    make_session("alice", error='=HYPERLINK("http://example.invalid","x")')
    (row,) = export(admin_client)
    assert row["error"] == '\'=HYPERLINK("http://example.invalid","x")'


def test_the_export_is_for_staff_who_may_view_sessions(client: Client):
    make_session("alice")
    response = client.get(reverse(EXPORT))
    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]
    User.objects.create_user("clerk", password="pw-clerk-123", is_staff=True)
    client.login(username="clerk", password="pw-clerk-123")
    assert client.get(reverse(EXPORT)).status_code == 403
