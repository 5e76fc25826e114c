from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from keys import crypto


class Command(BaseCommand):
    help = "Print a new key for GATEWAY_ENCRYPTION_KEYS (put it first to rotate)."
    requires_system_checks = []

    def handle(self, *args: Any, **options: Any) -> None:
        self.stdout.write(crypto.generate_key())
