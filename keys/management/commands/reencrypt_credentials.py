from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from keys import exceptions, services


class Command(BaseCommand):
    help = (
        "Re-encrypt every stored provider credential under the first key of "
        "GATEWAY_ENCRYPTION_KEYS; afterwards older keys can be removed."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            count = services.credentials_reencrypt()
        except exceptions.CredentialUnreadable as exc:
            raise CommandError(f"{exc}; nothing was changed.") from None
        self.stdout.write(f"Re-encrypted {count} credential(s).")
