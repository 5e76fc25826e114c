from __future__ import annotations

import os
import sys
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import exceptions, selectors, services
from keys.management.commands.create_provider import _describe
from keys.management.limits import add_key_arguments, key_changes_from
from keys.models import Provider


class Command(BaseCommand):
    help = (
        "Issue a virtual key for a provider credential. The key is printed once, "
        "alone on the last line of stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--provider", required=True, help="Provider slug.")
        parser.add_argument("--name", required=True, help="Unique key name.")
        secret = parser.add_mutually_exclusive_group(required=True)
        secret.add_argument(
            "--secret", help="The provider API key; '-' reads it from stdin."
        )
        secret.add_argument(
            "--secret-env", metavar="VAR", help="Read the provider API key from $VAR."
        )
        add_key_arguments(parser, update=False)

    def handle(self, *args: Any, **options: Any) -> None:
        provider = self._provider(options["provider"])
        settings = key_changes_from(options)
        try:
            key, token = services.virtual_key_create(
                name=options["name"],
                provider=provider,
                credential=self._secret(options),
                allowed_models=settings.pop("allowed_models", ()),
                team=settings.pop("team", None),
                limits=settings,
            )
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        except exceptions.CredentialUnreadable as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            f"Issued virtual key {key.name} for {provider.slug}. "
            "It is shown only now; store it safely:"
        )
        self.stdout.write(token)

    def _provider(self, slug: str) -> Provider:
        try:
            return selectors.provider_get(slug=slug)
        except exceptions.KeyNotFound:
            raise CommandError(f"No provider {slug!r}; create it first.") from None

    def _secret(self, options: dict[str, Any]) -> str:
        if options["secret_env"]:
            value = os.environ.get(options["secret_env"])
            if not value:
                raise CommandError(f"${options['secret_env']} is not set.")
            return value
        if options["secret"] == "-":
            return sys.stdin.readline().strip()
        return options["secret"]
