"""The session's row, written from the event loop and never on the hot path.

The row is written at start, checkpointed every so often (the checkpoint is also
the session's heartbeat) and finalised once, retried a few times if the database
is away; a final write that cannot be made logs exactly what was lost.
"""

from __future__ import annotations

import asyncio
import datetime
import logging
import uuid
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db import Error as DatabaseError
from django.utils import timezone

from realtime import database, services
from realtime.endings import Ending
from realtime.usage import Meter

if TYPE_CHECKING:
    from realtime.providers import ProviderSession

# Pauses between attempts to write a session's final row (None: give up); the
# total stays well inside Daphne's application close timeout (10 s).
FINALISE_RETRIES = (0.5, 1.0, 2.0, None)


class SessionLog(logging.LoggerAdapter):
    """Puts the session id on every line (the record's `session`: a JSON field,
    or the plain format's `[session ID]` prefix: `realtime.logformat`); never
    given keys or payloads."""

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        kwargs["extra"] = {**(kwargs.get("extra") or {}), **(self.extra or {})}
        return msg, kwargs


def session_log(session_id: uuid.UUID | None) -> SessionLog:
    """The log of one session (`None`: a handshake that got no session)."""
    extra = {"session": str(session_id)} if session_id is not None else {}
    return SessionLog(logging.getLogger("realtime.session"), extra)


class SessionRecord:
    """Writes one session's row: start, checkpoints, and the final write."""

    __slots__ = (
        "client_address",
        "instance",
        "log",
        "provider_kind",
        "session_id",
        "started_on",
    )

    def __init__(
        self,
        *,
        session_id: uuid.UUID,
        client_address: str,
        instance: str,
        provider_kind: str,
        log: SessionLog,
    ) -> None:
        self.session_id = session_id
        self.client_address = client_address
        self.instance = instance
        self.provider_kind = provider_kind
        self.log = log
        self.started_on: datetime.date | None = None  # once the row is written

    async def start(self, authorized: services.Authorized) -> None:
        """Write the active row; LimitExceeded (a rejected row) or DatabaseError."""
        # The row's start, to the day (for its price); taken just before the
        # insert, whose `started_at` it may precede by the insert's duration.
        started_on = timezone.now().date()
        await database.call(
            services.session_start,
            session_id=self.session_id,
            authorized=authorized,
            client_address=self.client_address,
            instance=self.instance,
        )
        self.started_on = started_on

    async def checkpoint(
        self,
        meter: Meter,
        provider: ProviderSession,
        *,
        cost_usd: Decimal | None = None,
    ) -> None:
        """Write the live counters (the heartbeat), and the cost so far when
        given; DatabaseError."""
        await database.call(
            services.session_checkpoint,
            session_id=self.session_id,
            counters=meter.snapshot(),
            usage=provider.usage,
            model=provider.model,
            cost_usd=cost_usd,
        )

    async def finish(
        self, ending: Ending, meter: Meter, provider: ProviderSession
    ) -> None:
        """Finalise the row, retrying while the database is away."""
        for attempt, pause in enumerate(FINALISE_RETRIES, start=1):
            try:
                await database.call(
                    services.session_finish,
                    session_id=self.session_id,
                    status=ending.status,
                    close_code=ending.close_code,
                    close_reason=ending.reason,
                    end_reason=ending.end_reason,
                    error=ending.recorded_error,
                    counters=meter.snapshot(),
                    usage=provider.usage,
                    model=provider.model,
                    provider_kind=self.provider_kind,
                    billing=provider.billing,
                    interface=provider.interface,
                    started_on=self.started_on,
                )
                return
            except DatabaseError:
                if pause is None:  # out of attempts: say exactly what is lost
                    self.log.error(
                        "could not finalise the session row after %d attempts; "
                        "lost: status=%s %s %s",
                        attempt,
                        ending.status,
                        meter.snapshot(),
                        provider.usage.as_fields(),
                    )
                    return
                self.log.warning("database unavailable; retrying the session row")
                await asyncio.sleep(pause)
