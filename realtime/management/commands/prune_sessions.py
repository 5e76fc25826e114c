from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime import retention


class Command(BaseCommand):
    help = (
        "Delete usage-log rows that started longer ago than --older-than (default: "
        "GATEWAY_SESSION_RETENTION_DAYS), in batches; active rows are kept. Safe "
        "to run from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than", help="An age: 90d, 36h, 45m (default: the setting)."
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=retention.DEFAULT_BATCH_SIZE,
            help="Rows deleted per transaction.",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Count, delete nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        age = options["older_than"]
        days = settings.GATEWAY_SESSION_RETENTION_DAYS
        if age is None and days is None:
            raise CommandError(
                "Say how old: --older-than 90d, or set GATEWAY_SESSION_RETENTION_DAYS."
            )
        if options["batch_size"] < 1:
            raise CommandError("--batch-size must be at least 1.")
        try:
            older_than = retention.parse_age(age if age is not None else f"{days}d")
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        count = retention.sessions_prune(
            older_than=older_than,
            batch_size=options["batch_size"],
            dry_run=options["dry_run"],
        )
        verb = "Would delete" if options["dry_run"] else "Deleted"
        self.stdout.write(f"{verb} {count} session row(s) older than {older_than}.")
