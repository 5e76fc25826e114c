from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from keys import services
from keys.models import Provider


class Command(BaseCommand):
    help = (
        "Development only: a provider 'demo' pointing at the bundled fake upstream, "
        "a fresh demo virtual key, and an admin user if there is none. "
        "Prints the key (and a new admin password) once."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--fake-port", type=int, default=9100)

    def handle(self, *args: Any, fake_port: int, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "setup_demo is for development only (it creates an admin user and "
                "a provider at a fake upstream); run it with DJANGO_DEBUG=true."
            )
        url = f"ws://127.0.0.1:{fake_port}/v1/realtime"
        provider, _ = Provider.objects.update_or_create(
            slug="demo", defaults={"kind": "openai", "upstream_url": url}
        )
        name = f"demo-{timezone.now():%Y%m%d-%H%M%S}"
        _, token = services.virtual_key_create(
            name=name,
            provider=provider,
            credential="sk-demo-" + secrets.token_hex(8),  # the fake takes any key
        )
        password = self._admin_password()
        self.stdout.write(f"Provider 'demo' -> {url} (the bundled fake upstream)")
        if password:
            self.stdout.write(f"Admin user 'admin', password (shown once): {password}")
        self.stdout.write(f"Demo virtual key '{name}' (shown once):")
        self.stdout.write(token)

    def _admin_password(self) -> str | None:
        users = get_user_model().objects
        if users.filter(is_superuser=True).exists():
            return None
        password = secrets.token_urlsafe(12)
        users.create_superuser("admin", "", password)
        return password
