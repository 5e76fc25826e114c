from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from realtime.collector import settle_for_serving
from realtime.testing import serve


class Command(BaseCommand):
    help = (
        "Run a loopback fake of OpenAI's Realtime API (GA events, WebRTC calls), "
        "so the gateway can be tried and tested with no real API key."
    )
    requires_system_checks = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=9100)
        parser.add_argument(
            "--api-key", default=None, help="Require this bearer key (default: any)."
        )

    def handle(
        self, *args: Any, host: str, port: int, api_key: str | None, **options: Any
    ) -> None:
        self.stdout.write(f"Fake realtime upstream on ws://{host}:{port}/v1/realtime")
        self.stdout.write(
            f"  GPT-Live on ws://{host}:{port}/v1/live/sessions, translation on "
            f"ws://{host}:{port}/v1/realtime/translations"
        )
        self.stdout.write(
            f"  WebRTC calls on http://{host}:{port}/v1/realtime/calls and "
            f"http://{host}:{port}/v1/live/sessions"
        )
        # Like the gateway's servers: the bench's upstream must not be its noise.
        settle_for_serving()
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(host=host, port=port, api_key=api_key))
