from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import exceptions, selectors, services
from keys.management.commands.create_provider import _describe
from keys.management.limits import add_key_arguments, key_changes_from


class Command(BaseCommand):
    help = (
        "Change a virtual key's team, models, limits, times or budgets; flags left "
        "out keep their value, 'none' clears one. New limits apply to sessions "
        "that start from now on."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The key's name.")
        add_key_arguments(parser, update=True)

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            key = selectors.virtual_key_get(name=name)
        except exceptions.KeyNotFound:
            raise CommandError(f"No virtual key named {name!r}.") from None
        changes = key_changes_from(options)
        if not changes:
            raise CommandError("Nothing to change; see --help for the flags.")
        try:
            services.virtual_key_update(key=key, changes=changes)
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        self.stdout.write(f"Updated virtual key {name}: {', '.join(sorted(changes))}.")
