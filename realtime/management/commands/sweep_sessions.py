from __future__ import annotations

import datetime
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser
from django.utils import timezone

from realtime import operations


class Command(BaseCommand):
    help = (
        "Mark sessions whose gateway process died (no heartbeat for three "
        "checkpoint intervals) as interrupted. Safe to run from cron."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--instance", help="Also every active row of this instance."
        )

    def handle(self, *args: Any, instance: str | None, **options: Any) -> None:
        stale_before = timezone.now() - datetime.timedelta(
            seconds=3 * settings.GATEWAY_CHECKPOINT_SECONDS
        )
        count = operations.sessions_interrupt(
            instance=instance, stale_before=stale_before
        )
        self.stdout.write(f"Marked {count} session(s) interrupted.")
