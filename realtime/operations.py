"""What operators and the sweeper do to sessions they do not run: terminate one
wherever it runs, and mark the rows of a process that died as interrupted."""

from __future__ import annotations

import datetime
import logging
import uuid

from django.db import transaction
from django.db.models import Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtime import close_codes
from realtime.endings import PROCESS_LOST
from realtime.models import RealtimeSession, SessionStatus
from realtime.revocations import announce_termination

logger = logging.getLogger(__name__)


class SessionNotLive(LookupError):
    """No open session has this id (unknown, or already over)."""


def session_terminate(*, session_id: uuid.UUID) -> None:
    """Close a live session wherever it runs (`realtime.revocations`: the channel
    layer, else the row's flag); SessionNotLive when no session is active."""
    live = RealtimeSession.objects.filter(pk=session_id, status=SessionStatus.ACTIVE)
    if not live.update(terminate_requested_at=timezone.now()):
        raise SessionNotLive(f"no live session {session_id}")
    logger.info("terminate requested for session %s", session_id)
    transaction.on_commit(lambda: announce_termination(session_id))


def sessions_interrupt(
    *, instance: str | None = None, stale_before: datetime.datetime | None = None
) -> int:
    """Mark active rows whose process died as interrupted; returns how many.

    `instance`: every active row of that gateway instance (it is restarting).
    `stale_before`: every active row whose last heartbeat is older than this.
    """
    if instance is None and stale_before is None:
        return 0
    heartbeat = Coalesce("checkpointed_at", "started_at")
    matches = Q()
    if instance is not None:
        matches |= Q(gateway_instance=instance)
    if stale_before is not None:
        matches |= Q(checkpointed_at__lt=stale_before) | Q(
            checkpointed_at__isnull=True, started_at__lt=stale_before
        )
    return RealtimeSession.objects.filter(matches, status=SessionStatus.ACTIVE).update(
        status=SessionStatus.INTERRUPTED,
        ended_at=heartbeat,
        close_code=close_codes.GOING_AWAY,
        error="the gateway process ended without closing the session",
        end_reason=PROCESS_LOST,
    )
