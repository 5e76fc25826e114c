"""Revoking in the admin: a Revoke button and a bulk action, each confirmed on a
page listing the live sessions it will close; a key links to its sessions."""

from __future__ import annotations

import datetime

import pytest
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from keys.models import VirtualKey
from realtime.models import RealtimeSession, SessionStatus
from tests.support.keys import IssuedKey, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
CHANGELIST = reverse("admin:keys_virtualkey_changelist")


def session_of(issued: IssuedKey, **fields: object) -> RealtimeSession:
    return RealtimeSession.objects.create(
        virtual_key_id=issued.key_id,
        virtual_key_name=issued.name,
        provider_slug="fake",
        model="gpt-realtime",
        gateway_instance="gw-1:8000",
        **fields,
    )


def revoked(issued: IssuedKey) -> bool:
    return VirtualKey.objects.get(pk=issued.key_id).revoked_at is not None


def test_the_key_page_has_a_revoke_button_and_a_link_to_its_sessions(
    admin_client: Client,
):
    issued = issue_key(URL, name="alpha")
    html = admin_client.get(
        reverse("admin:keys_virtualkey_change", args=[issued.key_id])
    ).content.decode()
    assert reverse("admin:keys_virtualkey_revoke", args=[issued.key_id]) in html
    sessions = (
        reverse("admin:realtime_realtimesession_changelist")
        + f"?virtual_key__id__exact={issued.key_id}"
    )
    assert f'href="{sessions}"' in html

    VirtualKey.objects.filter(pk=issued.key_id).update(revoked_at=timezone.now())
    html = admin_client.get(
        reverse("admin:keys_virtualkey_change", args=[issued.key_id])
    ).content.decode()
    assert reverse("admin:keys_virtualkey_revoke", args=[issued.key_id]) not in html


def test_revoke_asks_first_and_lists_the_live_sessions_it_will_close(
    admin_client: Client,
):
    issued = issue_key(URL, name="alpha")
    live = session_of(issued)
    long_ago = timezone.now() - datetime.timedelta(hours=1)
    session_of(
        issued, status=SessionStatus.FINISHED, started_at=long_ago, ended_at=long_ago
    )
    stale = session_of(issued, started_at=long_ago)  # its process died
    url = reverse("admin:keys_virtualkey_revoke", args=[issued.key_id])

    page = admin_client.get(url)
    assert page.status_code == 200
    assert [s.session_id for s in page.context["live_sessions"]] == [str(live.id)]
    html = page.content.decode()
    assert "1 live session it will close" in html
    assert str(live.id) in html and "gw-1:8000" in html
    assert str(stale.id) not in html
    assert not revoked(issued)  # looking is not revoking

    response = admin_client.post(url, {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "Revoked 1 key(s)." in response.content.decode()
    assert revoked(issued)


def test_the_bulk_action_confirms_too(admin_client: Client):
    chosen = [issue_key(URL, name=name) for name in ("one", "two")]
    session_of(chosen[1])
    spared = issue_key(URL, name="three")
    session_of(spared)
    selected = {
        "action": "revoke_selected",
        "_selected_action": [str(key.key_id) for key in chosen],
    }
    page = admin_client.post(CHANGELIST, selected)
    assert page.status_code == 200
    assert [key.name for key in page.context["keys"]] == ["one", "two"]
    assert [s.key_id for s in page.context["live_sessions"]] == [chosen[1].key_id]
    assert not any(revoked(key) for key in chosen)
    html = page.content.decode()
    for key in chosen:  # the form carries the selection to the real POST
        assert f'name="_selected_action" value="{key.key_id}"' in html

    admin_client.post(CHANGELIST, {**selected, "post": "yes"})
    assert all(revoked(key) for key in chosen)
    assert not revoked(spared)


def test_revoking_needs_the_change_permission(client: Client):
    issued = issue_key(URL, name="alpha")
    viewer = User.objects.create_user("viewer", password="a-long-pass-phrase")
    viewer.is_staff = True
    viewer.save()
    viewer.user_permissions.add(Permission.objects.get(codename="view_virtualkey"))
    client.force_login(viewer)
    url = reverse("admin:keys_virtualkey_revoke", args=[issued.key_id])
    assert client.get(url).status_code == 403
    assert client.post(url, {"post": "yes"}).status_code == 403
    page = client.get(reverse("admin:keys_virtualkey_change", args=[issued.key_id]))
    assert url not in page.content.decode()
    assert not revoked(issued)


def test_the_key_list_links_each_key_to_its_sessions(admin_client: Client):
    issued = issue_key(URL, name="alpha")
    html = admin_client.get(CHANGELIST).content.decode()
    assert f"?virtual_key__id__exact={issued.key_id}" in html
