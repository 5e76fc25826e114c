"""The admin's playground: staff only, tokens minted from key rows, no key shown.

The conversation itself runs in a real browser: tests/e2e/test_playground.py.
"""

from __future__ import annotations

import datetime
import json

import pytest
from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from keys import ephemeral, selectors, services
from keys.models import EphemeralToken
from realtime import playground
from realtime.models import RealtimeSession
from tests.support.keys import issue_key

pytestmark = pytest.mark.django_db

PAGE = reverse("playground:page")
TOKEN = reverse("playground:token")
USAGE = reverse("playground:usage")
UPSTREAM = "ws://127.0.0.1:9/v1/realtime"


@pytest.fixture
def staff() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("ops", "", "a-long-pass-phrase"))
    return client


def mint(client: Client, body: object) -> tuple[int, dict]:
    response = client.post(TOKEN, json.dumps(body), content_type="application/json")
    return response.status_code, response.json()


def test_anonymous_users_are_sent_to_the_login():
    for response in (Client().get(PAGE), Client().post(TOKEN, {})):
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("admin:login"))


def test_users_who_are_not_staff_are_refused():
    client = Client()
    client.force_login(User.objects.create_user("someone", "", "a-long-pass-phrase"))
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))


def test_staff_who_may_not_change_keys_are_refused():
    user = User.objects.create_user("viewer", "", "a-long-pass-phrase", is_staff=True)
    client = Client()
    client.force_login(user)
    key = issue_key(UPSTREAM)
    assert client.get(PAGE).status_code == 403
    assert mint(client, {"key": key.key_id})[0] == 403
    assert client.get(reverse("admin:index")).content.count(PAGE.encode()) == 0

    user.user_permissions.add(Permission.objects.get(codename="change_virtualkey"))
    client.force_login(User.objects.get(pk=user.pk))
    assert client.get(PAGE).status_code == 200
    assert PAGE.encode() in client.get(reverse("admin:index")).content


def test_the_page_lists_usable_keys_and_never_holds_a_key(staff):
    usable = issue_key(UPSTREAM, name="usable", models=("gpt-realtime-mini",))
    revoked = issue_key(UPSTREAM, name="revoked")
    services.virtual_key_revoke(key=selectors.virtual_key_get(name="revoked"))
    page = staff.get(PAGE).content.decode()
    assert "usable" in page and "revoked" not in page
    assert usable.token not in page and revoked.token not in page
    assert "vk_" not in page  # not even a key's prefix
    assert "gpt-realtime-mini" in page  # the key's model is the default
    assert 'src="/static/realtime/playground.js"' in page
    assert '<script src="http' not in page  # nothing from elsewhere


def test_a_token_is_minted_for_a_key_row_bound_to_the_model(staff):
    key = issue_key(UPSTREAM, models=("gpt-realtime", "gpt-realtime-mini"))
    status, body = mint(staff, {"key": key.key_id, "model": "gpt-realtime-mini"})
    assert status == 200, body
    assert body["token"].startswith("ek_") and body["model"] == "gpt-realtime-mini"
    assert body["key_id"] == key.key_id
    resolved = ephemeral.ephemeral_token_authenticate(token=body["token"])
    assert resolved.key is not None and resolved.key.key_id == key.key_id
    assert resolved.key.allowed_models == ("gpt-realtime-mini",)
    row = EphemeralToken.objects.get()
    assert row.expires_at - row.created_at == datetime.timedelta(minutes=10)
    # Recorded in the key's history, by the token's prefix only.
    entry = LogEntry.objects.get(object_id=str(key.key_id))
    assert entry.user.username == "ops"
    assert row.token_prefix in entry.change_message
    assert body["token"] not in entry.change_message


def test_without_a_model_the_keys_first_model_is_bound(staff):
    key = issue_key(UPSTREAM, models=("gpt-realtime-mini*", "gpt-realtime"))
    assert mint(staff, {"key": key.key_id})[1]["model"] == "gpt-realtime"
    other = issue_key(UPSTREAM, name="open")
    assert mint(staff, {"key": other.key_id})[1]["model"] == "gpt-realtime"


def test_revoked_keys_and_models_off_the_list_get_no_token(staff):
    key = issue_key(UPSTREAM, models=("gpt-realtime",))
    status, body = mint(staff, {"key": key.key_id, "model": "gpt-4o-realtime"})
    assert (status, body["error"]["code"]) == (403, "model_not_allowed")
    services.virtual_key_revoke(key=selectors.virtual_key_get(name=key.name))
    status, body = mint(staff, {"key": key.key_id, "model": "gpt-realtime"})
    assert (status, body["error"]["code"]) == (403, "key_revoked")
    assert not EphemeralToken.objects.exists()


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "invalid_request"),
        ({"key": "1"}, "invalid_request"),
        ({"key": 999999}, "unknown_key"),
        ({"key": 1, "model": "no spaces allowed"}, "invalid_model"),
    ],
)
def test_bad_requests_are_refused(staff, body, code):
    issue_key(UPSTREAM)
    status, answer = mint(staff, body)
    assert (status, answer["error"]["code"]) == (400, code)


def test_providers_without_tokens_are_refused(staff):
    key = issue_key("wss://api.cartesia.ai/tts/websocket", kind="cartesia")
    status, body = mint(staff, {"key": key.key_id})
    assert (status, body["error"]["code"]) == (400, "unsupported_provider")


def test_minting_needs_the_csrf_token():
    client = Client(enforce_csrf_checks=True)
    client.force_login(User.objects.create_superuser("ops", "", "a-long-pass-phrase"))
    key = issue_key(UPSTREAM)
    response = client.post(
        TOKEN, json.dumps({"key": key.key_id}), content_type="application/json"
    )
    assert response.status_code == 403
    assert not EphemeralToken.objects.exists()


def test_the_usage_endpoint_shows_the_keys_newest_session_since(staff):
    key = issue_key(UPSTREAM)
    since = timezone.now()
    assert staff.get(
        USAGE, {"key_id": key.key_id, "since": since.isoformat()}
    ).json() == {"session": None}
    for tokens in (5, 9):
        RealtimeSession.objects.create(
            virtual_key_id=key.key_id,
            virtual_key_name=key.name,
            provider_slug="fake",
            total_tokens=tokens,
            started_at=since + datetime.timedelta(seconds=tokens),
        )
    answer = staff.get(USAGE, {"key_id": key.key_id, "since": since.isoformat()}).json()
    assert answer["session"]["total_tokens"] == 9
    assert staff.get(USAGE, {"key_id": "x", "since": "never"}).status_code == 400


def test_default_models():
    assert playground.default_model([]) == "gpt-realtime"
    assert playground.default_model(["gpt-4o*", "gpt-4o-realtime"]) == "gpt-4o-realtime"
    assert playground.default_model(["gpt-4o*"]) == "gpt-realtime"
