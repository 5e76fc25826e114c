"""Where providers may send credentials: the allow-list, the endpoint permission
and credentials that hold only for the endpoint they were entered for."""

from __future__ import annotations

import io

import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.urls import reverse

from keys import exceptions, services, upstreams
from keys.models import Provider, VirtualKey
from keys.values import Secret
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = pytest.mark.django_db

URL = "ws://127.0.0.1:9/v1/realtime"
ELSEWHERE = "ws://127.0.0.1:10/v1/realtime"


@pytest.mark.parametrize(
    ("host", "allowed"),
    [
        ("api.openai.com", True),
        ("API.OpenAI.com.", True),
        ("my-res.openai.azure.com", True),
        ("my-res.cognitiveservices.azure.com", True),
        ("generativelanguage.googleapis.com", True),
        ("api.cartesia.ai", True),
        ("api.elevenlabs.io", True),
        ("127.0.0.1", True),
        ("::1", True),
        ("localhost", True),
        ("evil.example", False),
        ("api.openai.com.evil.example", False),
        ("evilopenai.azure.com", False),
        ("openai.com", False),
        ("", False),
    ],
)  # fmt: skip
def test_the_default_allow_list(host: str, allowed: bool, settings):
    assert upstreams.host_allowed(host, settings.GATEWAY_UPSTREAM_HOSTS) is allowed


def test_a_star_allows_every_host():
    assert upstreams.host_allowed("anything.example", ["*"])


def test_destination_is_scheme_host_and_port():
    assert upstreams.destination("openai", "", {}) == "wss://api.openai.com:443"
    assert (
        upstreams.destination("azure", "", {"resource": "res"})
        == "wss://res.openai.azure.com:443"
    )
    assert upstreams.destination("openai", URL, {}) == "ws://127.0.0.1:9"
    assert upstreams.destination("azure", "", {}) == ""  # names no endpoint


@pytest.mark.parametrize(
    "url", ["wss://evil.example/v1/realtime", "wss://api.openai.com.evil.example/"]
)
def test_a_provider_off_the_list_is_refused(url: str):
    with pytest.raises(ValidationError) as caught:
        services.provider_create(slug="p", kind="openai", upstream_url=url)
    assert "GATEWAY_UPSTREAM_HOSTS" in str(caught.value)
    assert not Provider.objects.exists()


def test_the_list_is_a_setting(settings):
    settings.GATEWAY_UPSTREAM_HOSTS = ["gateway.internal"]
    services.provider_create(
        slug="p", kind="openai", upstream_url="wss://gateway.internal/v1"
    )
    with pytest.raises(ValidationError):
        services.provider_create(slug="q", kind="openai", upstream_url=URL)


def test_a_public_endpoint_off_the_list_is_refused(settings):
    settings.GATEWAY_UPSTREAM_HOSTS = ["api.openai.com"]
    with pytest.raises(ValidationError) as caught:
        services.provider_create(slug="az", kind="azure", options={"resource": "r"})
    assert "r.openai.azure.com" in str(caught.value)


def test_create_provider_refuses_a_host_off_the_list():
    with pytest.raises(CommandError, match="GATEWAY_UPSTREAM_HOSTS"):
        call_command(
            "create_provider",
            "--slug=p",
            "--kind=openai",
            "--upstream-url=wss://evil.example/v1/realtime",
            stdout=io.StringIO(),
        )


def test_a_key_is_refused_once_its_provider_moves_until_its_credential_is_reentered():
    issued = issue_key(URL)
    Provider.objects.filter(slug="fake").update(upstream_url=ELSEWHERE)
    with pytest.raises(exceptions.CredentialStale):
        services.virtual_key_authenticate(token=issued.token)
    key = VirtualKey.objects.get(pk=issued.key_id)
    assert key.status == "needs credential"

    services.virtual_key_set_credential(key=key, credential="sk-for-the-new-host")
    resolved = services.virtual_key_authenticate(token=issued.token)
    assert resolved.credential == Secret("sk-for-the-new-host")
    assert resolved.provider.upstream_url == ELSEWHERE


def test_a_path_change_on_the_same_host_keeps_the_credential():
    issued = issue_key(URL)
    Provider.objects.filter(slug="fake").update(upstream_url=URL + "/other")
    resolved = services.virtual_key_authenticate(token=issued.token)
    assert resolved.credential == Secret(UPSTREAM_SECRET)


def test_moving_an_azure_resource_makes_its_keys_stale():
    issued = issue_key("", kind="azure", options={"resource": "mine"})
    provider = Provider.objects.get(slug="fake")
    provider.options = {"resource": "theirs"}
    provider.save()
    with pytest.raises(exceptions.CredentialStale):
        services.virtual_key_authenticate(token=issued.token)


# The admin.


def staff(*perms: str) -> Client:
    user = User.objects.create_user("staff", password="a-long-pass-phrase")
    user.is_staff = True
    user.save()
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    client = Client()
    client.force_login(user)
    return client


def provider_form(provider: Provider, **overrides: str) -> dict[str, str]:
    return {
        "slug": provider.slug,
        "kind": provider.kind,
        "upstream_url": provider.upstream_url,
        "options": "{}",
        **overrides,
    }


def test_moving_a_provider_takes_the_endpoint_permission():
    issued = issue_key(URL)
    provider = Provider.objects.get(slug="fake")
    client = staff("view_provider", "change_provider")
    url = reverse("admin:keys_provider_change", args=[provider.pk])

    response = client.post(url, provider_form(provider, upstream_url=ELSEWHERE))
    assert response.status_code == 200
    assert "Can change where a provider connects" in response.content.decode()
    response = client.post(url, provider_form(provider, upstream_url=""))
    assert response.status_code == 200  # blank: the public endpoint, elsewhere
    assert Provider.objects.get(pk=provider.pk).upstream_url == URL

    # What does not move it stays open to any editor.
    response = client.post(url, provider_form(provider, allow_passthrough="on"))
    assert response.status_code == 302
    assert Provider.objects.get(pk=provider.pk).allow_passthrough
    services.virtual_key_authenticate(token=issued.token)


def test_a_permitted_move_leaves_the_keys_needing_their_credential(
    admin_client: Client,
):
    issued = issue_key(URL)
    provider = Provider.objects.get(slug="fake")
    response = admin_client.post(
        reverse("admin:keys_provider_change", args=[provider.pk]),
        provider_form(provider, upstream_url=ELSEWHERE),
        follow=True,
    )
    assert response.status_code == 200
    assert "are refused until their provider API key is entered again" in (
        response.content.decode()
    )
    with pytest.raises(exceptions.CredentialStale):
        services.virtual_key_authenticate(token=issued.token)
    page = admin_client.get(reverse("admin:keys_virtualkey_changelist"))
    assert "needs credential" in page.content.decode()


def test_moving_a_key_to_another_provider_asks_for_its_credential(
    admin_client: Client,
):
    issued = issue_key(URL)
    other = services.provider_create(
        slug="other", kind="openai", upstream_url=ELSEWHERE
    )
    url = reverse("admin:keys_virtualkey_change", args=[issued.key_id])
    form = {
        "name": issued.name,
        "provider": str(other.pk),
        "credential": "",
        "allowed_models": "",
        "max_concurrent_sessions": "",
        "expires_at_0": "",
        "expires_at_1": "",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors["credential"]
    assert VirtualKey.objects.get(pk=issued.key_id).provider.slug == "fake"

    response = admin_client.post(url, {**form, "credential": "sk-for-other"})
    assert response.status_code == 302
    resolved = services.virtual_key_authenticate(token=issued.token)
    assert (resolved.provider.slug, resolved.credential) == (
        "other",
        Secret("sk-for-other"),
    )
