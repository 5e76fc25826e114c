from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import services
from keys.management.commands.create_provider import _describe
from keys.management.limits import add_budget_arguments, budgets_from


class Command(BaseCommand):
    help = (
        "Create a team: keys that share budgets. Keys join with "
        "`create_virtual_key --team NAME` or `update_virtual_key KEY --team NAME`."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Unique team name.")
        add_budget_arguments(parser)

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        try:
            team = services.team_create(name=name, budgets=budgets_from(options))
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        self.stdout.write(f"Created team {team.name}.")
