from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import services
from keys.management.commands.create_provider import _describe
from keys.management.limits import add_budget_arguments, budgets_from, team_named


class Command(BaseCommand):
    help = "Change a team's budgets; flags left out keep their value, 'none' clears."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="The team's name.")
        add_budget_arguments(parser)

    def handle(self, *args: Any, name: str, **options: Any) -> None:
        team = team_named(name)
        budgets = budgets_from(options)
        if not budgets:
            raise CommandError("Nothing to change; see --help for the flags.")
        try:
            services.team_update(team=team, budgets=budgets)
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        self.stdout.write(f"Updated team {name}: {', '.join(sorted(budgets))}.")
