"""setup_demo: development only; a demo provider, key and admin, shown once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from keys.models import Provider, VirtualKey

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(30)]


def test_it_refuses_outside_debug(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="development only"):
        call_command("setup_demo")
    assert not Provider.objects.exists()
    assert not get_user_model().objects.exists()


def test_in_debug_it_sets_up_the_demo(settings):
    settings.DEBUG = True
    out = StringIO()
    call_command("setup_demo", "--fake-port", "9123", stdout=out)
    provider = Provider.objects.get(slug="demo")
    assert provider.upstream_url == "ws://127.0.0.1:9123/v1/realtime"
    key = VirtualKey.objects.get(provider=provider)
    token = out.getvalue().splitlines()[-1]
    assert token.startswith("vk_")
    assert key.key_prefix and token.startswith(key.key_prefix)
    assert get_user_model().objects.filter(username="admin", is_superuser=True).exists()
