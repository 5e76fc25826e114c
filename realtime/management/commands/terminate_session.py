from __future__ import annotations

import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from realtime import operations


class Command(BaseCommand):
    help = (
        "Close a live session on whichever gateway process runs it (the client "
        "gets error session_terminated and close code 4403)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("session_id", help="The session's id (a UUID).")

    def handle(self, *args: Any, session_id: str, **options: Any) -> None:
        try:
            session = uuid.UUID(session_id)
        except ValueError:
            raise CommandError(f"{session_id!r} is not a session id.") from None
        try:
            operations.session_terminate(session_id=session)
        except operations.SessionNotLive:
            raise CommandError(f"No live session {session}.") from None
        self.stdout.write(f"Terminating session {session}.")
