"""How a session ends: a value computed from what happened, with no I/O.

Every way a session can end (the client closes or vanishes, the upstream closes
or fails, the gateway refuses or stops it) is turned into one `Ending`: the
status its row records, the code each side is sent, and the error event the
client is told first. The consumer carries an ending out; nothing here touches
a socket or the database, so the policy is tested from tables.
"""

from __future__ import annotations

from dataclasses import dataclass

from realtime import close_codes
from realtime.exceptions import (
    AccessDenied,
    GatewayError,
    MessageTooLarge,
    SessionTimedOut,
    ShuttingDown,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from realtime.models import SessionStatus

# Upstream close codes that mean the provider failed rather than ended normally.
UPSTREAM_FAULT_CODES = frozenset({1006, 1011, 1012, 1013, 1014})
# The client vanished without a close frame.
ABNORMAL_CLOSURE = 1006
GATEWAY_SHUTDOWN = "gateway_shutdown"
# The end_reason of a row whose gateway process died (set by the sweep).
PROCESS_LOST = "gateway_process_lost"


@dataclass(frozen=True, slots=True)
class Ending:
    """How a session ends: what the row says and what each side is told."""

    status: str
    close_code: int | None  # sent to the client if it is still there; recorded
    upstream_code: int = close_codes.NORMAL
    reason: str = ""
    error: GatewayError | None = None  # sent as an error event before the close
    cause: str = "client_closed"  # the end_reason when no error says it

    @classmethod
    def by_gateway(cls, error: GatewayError, *, status: str) -> Ending:
        """The gateway ends the session and tells the client why."""
        upstream = 1001 if isinstance(error, ShuttingDown) else close_codes.NORMAL
        return cls(status, error.close_code, upstream_code=upstream, error=error)

    @classmethod
    def by_client(cls, code: int | None) -> Ending:
        """The client closed (or vanished: 1006)."""
        return cls(
            SessionStatus.FINISHED,
            code,
            upstream_code=close_codes.to_upstream(code),
            reason=(
                "client vanished without a close frame"
                if code == ABNORMAL_CLOSURE
                else ""
            ),
            cause="client_vanished" if code == ABNORMAL_CLOSURE else "client_closed",
        )

    @classmethod
    def by_upstream(cls, code: int, reason: str) -> Ending:
        """The upstream closed with a close frame: relay it."""
        status = (
            SessionStatus.FAILED
            if code in UPSTREAM_FAULT_CODES
            else SessionStatus.FINISHED
        )
        cause = (
            "upstream_failed" if status == SessionStatus.FAILED else "upstream_closed"
        )
        return cls(status, close_codes.to_client(code), reason=reason, cause=cause)

    @property
    def end_reason(self) -> str:
        """Why the session ended, in a word for filters and metrics: the
        gateway's error code when the gateway ended it, else who closed how."""
        if self.error is None:
            return self.cause
        return (
            GATEWAY_SHUTDOWN
            if isinstance(self.error, ShuttingDown)
            else (self.error.code)
        )

    @property
    def recorded_error(self) -> str:
        """The text the row keeps: the error's message, else the close reason."""
        return self.error.message if self.error is not None else self.reason


# The gateway dropped a client that stopped reading (the server's flow control).
SLOW_CLIENT = Ending(
    SessionStatus.FINISHED,
    ABNORMAL_CLOSURE,
    upstream_code=1001,
    reason="client stopped reading; connection dropped",
    cause="slow_client",
)


def upstream_lost(
    *, received: tuple[int, str] | None, sent_code: int | None, max_bytes: int
) -> Ending:
    """The ending of a session whose upstream connection is over.

    `received`: the upstream's close frame (code, reason), if one came;
    `sent_code`: the code of the close frame our side sent, if any (the
    `websockets` client sends 1009 for a frame over `max_size`, 1011 when
    pings go unanswered, 1002/1007 for an invalid frame).
    """
    if received is not None:
        return Ending.by_upstream(*received)
    error: GatewayError
    if sent_code == 1009:
        error = MessageTooLarge(
            f"The provider sent a message over the gateway's limit of "
            f"{max_bytes} bytes."
        )
    elif sent_code == 1011:
        error = UpstreamTimeout("The provider stopped answering pings.")
    elif sent_code in (1002, 1007):
        error = UpstreamUnavailable(
            "The provider sent an invalid WebSocket message.",
            code="upstream_protocol_error",
        )
    else:
        error = UpstreamUnavailable("The connection to the provider was lost.")
    return Ending.by_gateway(error, status=SessionStatus.FAILED)


def key_refused(message: str, code: str) -> Ending:
    """A live session's key was revoked, expired or deleted."""
    error = AccessDenied(message[:1].upper() + message[1:] + ".", code=code)
    return Ending.by_gateway(error, status=SessionStatus.FINISHED)


def duration_exceeded(max_seconds: float) -> Ending:
    """The session reached its key's maximum duration."""
    error = SessionTimedOut(
        f"The session reached this virtual key's maximum of {max_seconds:g} seconds."
    )
    return Ending.by_gateway(error, status=SessionStatus.FINISHED)


def idle_timeout(idle_seconds: float) -> Ending:
    """No frame went either way for the key's idle timeout."""
    error = SessionTimedOut(
        f"No message went either way for {idle_seconds:g} seconds, this virtual "
        "key's idle timeout.",
        code="idle_timeout",
    )
    return Ending.by_gateway(error, status=SessionStatus.FINISHED)


TERMINATED = "session_terminated"


def terminated() -> Ending:
    """An operator terminated the session (the admin or `terminate_session`)."""
    error = AccessDenied("An administrator terminated the session.", code=TERMINATED)
    return Ending.by_gateway(error, status=SessionStatus.FINISHED)


def gateway_fault() -> Ending:
    """A bug or fault in the gateway ended the session."""
    error = GatewayError("The gateway failed; the session was closed.")
    return Ending.by_gateway(error, status=SessionStatus.FAILED)


def shutting_down() -> Ending:
    """The server is stopping: the client should reconnect elsewhere."""
    error = ShuttingDown("The gateway is shutting down; reconnect.")
    return Ending.by_gateway(error, status=SessionStatus.FINISHED)
