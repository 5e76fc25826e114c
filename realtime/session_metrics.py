"""A session's start and end in its process's metrics, read from the Session:
the WebSocket consumer and a WebRTC call's sideband count them alike."""

from __future__ import annotations

from realtime.admission import Session
from realtime.endings import Ending
from realtime.metrics import Metrics


def count_bridged(metrics: Metrics, session: Session) -> None:
    """The session is bridged: counted, its traffic read live from now."""
    metrics.session_started(
        session_id=session.id,
        provider=session.provider_slug,
        provider_kind=session.record.provider_kind,
        model=session.provider.model,
        meter=session.meter,
        reports=session.provider,
    )


def count_ended(metrics: Metrics, session: Session, ending: Ending) -> None:
    """The session's row is final: its traffic moves to the finished totals."""
    metrics.session_ended(
        session_id=session.id,
        provider=session.provider_slug,
        provider_kind=session.record.provider_kind,
        model=session.provider.model,
        status=ending.status,
        end_reason=ending.end_reason,
        meter=session.meter,
        usage=session.provider.usage,
    )
