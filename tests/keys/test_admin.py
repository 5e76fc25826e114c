"""The providers and virtual keys admin: a token shown once, no secret ever."""

from __future__ import annotations

import datetime
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from keys import crypto, services
from keys.models import Provider, VirtualKey
from keys.values import Secret
from tests.support.keys import UPSTREAM_SECRET, IssuedKey, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
TOKEN_RE = re.compile(r"vk_[A-Za-z0-9_-]{43}")


def key_form(provider: Provider, **overrides: str) -> dict[str, str]:
    """POST data for the virtual key add or change form."""
    return {
        "name": "admin-key",
        "provider": str(provider.pk),
        "credential": UPSTREAM_SECRET,
        "allowed_models": "gpt-realtime, gpt-4o-*",
        "max_concurrent_sessions": "",
        "expires_at_0": "",
        "expires_at_1": "",
        **overrides,
    }


def add_key(client: Client, provider: Provider, **overrides: str) -> str:
    """Add a key through the admin; the token its response shows."""
    response = client.post(
        reverse("admin:keys_virtualkey_add"), key_form(provider, **overrides)
    )
    assert response.status_code == 200
    html = response.content.decode()
    found = TOKEN_RE.findall(html)
    assert len(found) == 1, "the token is shown exactly once"
    return found[0]


def stored_credential(key_id: int) -> str:
    return crypto.decrypt(VirtualKey.objects.get(pk=key_id).encrypted_credential)


def assert_no_secret(html: str, key: VirtualKey, *extra: str) -> None:
    for secret in (UPSTREAM_SECRET, *extra):
        assert secret not in html
    assert key.key_digest.partition("$")[2] not in html
    assert key.encrypted_credential.partition("$")[2] not in html
    assert "sha256$" not in html
    assert "fernet$" not in html


@pytest.fixture
def provider() -> Provider:
    return services.provider_create(slug="fake", kind="openai", upstream_url=URL)


def test_provider_form_offers_the_configured_kinds(admin_client: Client, settings):
    settings.GATEWAY_PROVIDER_ADAPTERS = {
        **settings.GATEWAY_PROVIDER_ADAPTERS,
        "acme": "realtime.providers.openai.OpenAIAdapter",
    }
    response = admin_client.get(reverse("admin:keys_provider_add"))
    assert response.status_code == 200
    choices = response.context["adminform"].form.fields["kind"].choices
    assert choices == [
        (kind, kind) for kind in sorted(settings.GATEWAY_PROVIDER_ADAPTERS)
    ]
    assert '<option value="acme">' in response.content.decode()


def test_provider_form_refuses_an_unknown_kind(admin_client: Client):
    response = admin_client.post(
        reverse("admin:keys_provider_add"),
        {"slug": "acme", "kind": "acme", "upstream_url": ""},
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["kind"]
    assert not Provider.objects.exists()


def test_provider_form_checks_a_pasted_url_against_the_kind(admin_client: Client):
    pasted = "wss://r.openai.azure.com/openai/v1/realtime?model=rt"
    form = {"slug": "az", "kind": "azure", "upstream_url": pasted}
    response = admin_client.post(
        reverse("admin:keys_provider_add"),
        {**form, "options": '{"api_style": "preview"}'},
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["upstream_url"]
    assert "The URL is the ga endpoint" in errors["upstream_url"][0]
    assert not Provider.objects.exists()
    response = admin_client.post(
        reverse("admin:keys_provider_add"), {**form, "options": "{}"}
    )
    assert response.status_code == 302
    assert Provider.objects.get(slug="az").upstream_url == pasted


def test_adding_a_key_shows_its_token_once_and_never_stores_it(
    admin_client: Client, provider: Provider
):
    response = admin_client.post(
        reverse("admin:keys_virtualkey_add"), key_form(provider)
    )
    assert response.status_code == 200
    directives = {part.strip() for part in response["Cache-Control"].split(",")}
    assert "no-store" in directives
    html = response.content.decode()
    [token] = TOKEN_RE.findall(html)
    assert html.count(token) == 1

    key = VirtualKey.objects.get(name="admin-key")
    assert_no_secret(html, key)
    assert key.allowed_models == ["gpt-4o-*", "gpt-realtime"]
    assert token.startswith(key.key_prefix)
    resolved = services.virtual_key_authenticate(token=token, model="gpt-realtime")
    assert resolved.credential == Secret(UPSTREAM_SECRET)
    assert resolved.key.name == "admin-key"


def test_a_refused_add_does_not_echo_the_secret(
    admin_client: Client, provider: Provider
):
    issue_key(URL, name="admin-key")  # the name is taken
    response = admin_client.post(
        reverse("admin:keys_virtualkey_add"),
        key_form(provider, credential="sk-second-secret-never-shown"),
    )
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["name"]
    assert "sk-second-secret-never-shown" not in response.content.decode()
    assert VirtualKey.objects.count() == 1


def test_no_page_about_the_key_shows_a_secret(admin_client: Client, provider: Provider):
    token = add_key(admin_client, provider)
    key = VirtualKey.objects.get(name="admin-key")
    pages = [
        reverse("admin:keys_virtualkey_changelist"),
        reverse("admin:keys_virtualkey_change", args=[key.pk]),
        reverse("admin:keys_virtualkey_history", args=[key.pk]),
        reverse("admin:keys_virtualkey_delete", args=[key.pk]),
        reverse("admin:keys_virtualkey_revoke", args=[key.pk]),
        reverse("admin:keys_provider_change", args=[provider.pk]),
    ]
    for url in pages:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        html = response.content.decode()
        assert_no_secret(html, key, token)
        assert token not in html
    change_page = admin_client.get(pages[1]).content.decode()
    assert key.masked_key in change_page
    assert 'type="password"' in change_page


def test_editing_with_a_blank_credential_keeps_the_old_one(
    admin_client: Client, provider: Provider
):
    issued = issue_key(URL, name="admin-key")
    before = VirtualKey.objects.get(pk=issued.key_id).encrypted_credential
    response = admin_client.post(
        reverse("admin:keys_virtualkey_change", args=[issued.key_id]),
        key_form(provider, credential="", max_concurrent_sessions="3"),
    )
    assert response.status_code == 302
    key = VirtualKey.objects.get(pk=issued.key_id)
    assert key.max_concurrent_sessions == 3
    assert key.encrypted_credential == before
    resolved = services.virtual_key_authenticate(
        token=issued.token, model="gpt-realtime"
    )
    assert resolved.credential == Secret(UPSTREAM_SECRET)


def test_editing_with_a_new_credential_replaces_it(
    admin_client: Client, provider: Provider
):
    issued = issue_key(URL, name="admin-key")
    digest = VirtualKey.objects.get(pk=issued.key_id).key_digest
    response = admin_client.post(
        reverse("admin:keys_virtualkey_change", args=[issued.key_id]),
        key_form(provider, credential="sk-rotated-provider-key"),
    )
    assert response.status_code == 302
    assert stored_credential(issued.key_id) == "sk-rotated-provider-key"
    assert VirtualKey.objects.get(pk=issued.key_id).key_digest == digest
    resolved = services.virtual_key_authenticate(
        token=issued.token, model="gpt-realtime"
    )
    assert resolved.credential == Secret("sk-rotated-provider-key")


def test_revoke_selected_action_revokes_only_the_selected_keys(admin_client: Client):
    chosen = [issue_key(URL, name=name) for name in ("one", "two")]
    spared = issue_key(URL, name="three")
    response = admin_client.post(
        reverse("admin:keys_virtualkey_changelist"),
        {
            "action": "revoke_selected",
            "_selected_action": [str(key.key_id) for key in chosen],
            "post": "yes",  # confirmed (tests/keys/test_admin_revoke.py)
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Revoked 2 key(s)." in response.content.decode()
    statuses = dict(VirtualKey.objects.values_list("name", "revoked_at"))
    assert statuses["one"] is not None
    assert statuses["two"] is not None
    assert statuses[spared.name] is None


def _issue_one_of_each_status() -> dict[str, IssuedKey]:
    revoked = issue_key(URL, name="revoked")
    services.virtual_key_revoke(key=VirtualKey.objects.get(pk=revoked.key_id))
    past = timezone.now() - datetime.timedelta(minutes=1)
    future = timezone.now() + datetime.timedelta(days=1)
    return {
        "active": issue_key(URL, name="active"),
        "expiring": issue_key(URL, name="expiring", expires_at=future),
        "expired": issue_key(URL, name="expired", expires_at=past),
        "revoked": revoked,
    }


@pytest.mark.parametrize(
    ("status", "names"),
    [
        ("active", ["active", "expiring"]),
        ("expired", ["expired"]),
        ("revoked", ["revoked"]),
        (None, ["active", "expired", "expiring", "revoked"]),
    ],
)
def test_status_filter(admin_client: Client, status: str | None, names: list[str]):
    _issue_one_of_each_status()
    query = {"status": status} if status else {}
    response = admin_client.get(reverse("admin:keys_virtualkey_changelist"), query)
    assert response.status_code == 200
    assert sorted(key.name for key in response.context["cl"].result_list) == names
