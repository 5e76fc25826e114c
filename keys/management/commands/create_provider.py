from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from keys import services


class Command(BaseCommand):
    help = "Create a provider: where sessions go and which adapter speaks to it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--slug", required=True, help="Unique name, e.g. openai.")
        parser.add_argument("--kind", required=True, help="Adapter kind, e.g. openai.")
        parser.add_argument(
            "--upstream-url",
            default="",
            help="The provider's full endpoint, path and query included; "
            "blank: its public endpoint.",
        )
        parser.add_argument(
            "--options",
            default="{}",
            help='The kind\'s options as JSON, e.g. \'{"resource": "my-res"}\'.',
        )
        parser.add_argument(
            "--allow-passthrough",
            action="store_true",
            help="Accept raw provider keys for this provider "
            "(with GATEWAY_ALLOW_PASSTHROUGH=true).",
        )

    def handle(
        self, *args: Any, slug: str, kind: str, upstream_url: str, **options: Any
    ) -> None:
        try:
            provider_options = json.loads(options["options"])
        except ValueError:
            raise CommandError("--options must be a JSON object.") from None
        try:
            provider = services.provider_create(
                slug=slug,
                kind=kind,
                upstream_url=upstream_url,
                options=provider_options,
                allow_passthrough=options["allow_passthrough"],
            )
        except ValidationError as exc:
            raise CommandError(_describe(exc)) from None
        self.stdout.write(f"Created provider {provider.slug} ({provider.kind}).")


def _describe(exc: ValidationError) -> str:
    if hasattr(exc, "message_dict"):
        return "; ".join(
            f"{field}: {' '.join(messages)}"
            for field, messages in exc.message_dict.items()
        )
    return " ".join(exc.messages)
