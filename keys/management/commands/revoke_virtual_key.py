from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import exceptions, selectors, services


class Command(BaseCommand):
    help = "Revoke a virtual key and close its live sessions on every gateway process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The key's name.")

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            key = selectors.virtual_key_get(name=name)
        except exceptions.KeyNotFound:
            raise CommandError(f"No virtual key named {name!r}.") from None
        services.virtual_key_revoke(key=key)
        self.stdout.write(f"Revoked virtual key {name}.")
