"""Why a session is refused or ends early, each with its close code and status.

                                 close  HTTP  error type
GatewayError                      4500   500  server_error
 +-- BadRequest                   4400   400  invalid_request_error
 +-- AuthenticationFailed         4401   401  invalid_request_error
 +-- BudgetExceeded               4402   402  invalid_request_error
 +-- AccessDenied                 4403   403  invalid_request_error
 +-- SessionTimedOut              4408   408  invalid_request_error
 +-- LimitExceeded                4429   429  invalid_request_error
 +-- MessageTooLarge              4413   413  invalid_request_error
 +-- UpstreamUnavailable          4502   502  server_error
 +-- ServiceUnavailable           4503   503  server_error
 +-- UpstreamTimeout              4504   504  server_error
 +-- ShuttingDown                 4001   503  server_error

The client is told in OpenAI's own shapes. Once the WebSocket is open: one
`error` server event (with its `event_id`, which OpenAI's schema requires of
every server event, so typed clients such as the `openai` SDK, pipecat and the
Agents SDK parse it), then the close. A handshake refused before it is accepted,
under a server with the ASGI denial-response extension (uvicorn): the HTTP
status and the JSON body OpenAI's API answers errors with,
`{"error": {"message", "type", "param", "code"}}`.

References: OpenAI Realtime API, server event `error` (`event_id`, `type`,
`error.type`, `error.code`, `error.message`, `error.param`, `error.event_id`;
the `openai` SDK's `RealtimeErrorEvent`); OpenAI's error body, e.g. HTTP 401
`{"error": {"message": "Incorrect API key provided: ...", "type":
"invalid_request_error", "param": null, "code": "invalid_api_key"}}`
(help.openai.com, "Error Code 401 - Incorrect API key provided").

Messages are shown to clients: they never contain a key, a credential or a
payload.
"""

from __future__ import annotations

import uuid
from typing import Any

from realtime import close_codes


def new_event_id() -> str:
    """A unique id for an event the gateway makes (OpenAI's `event_...` form)."""
    return f"event_{uuid.uuid4().hex}"


class GatewayError(Exception):
    """Base: a failure the client is told about with an error event and a close."""

    close_code = close_codes.GATEWAY_FAULT
    http_status = 500  # the status of a handshake refused before acceptance
    error_type = "server_error"
    default_code = "gateway_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    def details(self) -> dict[str, Any]:
        """The error object, in OpenAI's shape."""
        return {
            "type": self.error_type,
            "code": self.code,
            "message": self.message,
            "param": None,
        }

    def event(self) -> dict[str, Any]:
        """The error server event sent to an open client before the close."""
        return {"type": "error", "event_id": new_event_id(), "error": self.details()}

    def response_body(self) -> dict[str, Any]:
        """The JSON body of an HTTP refusal of the handshake."""
        return {"error": self.details()}


class BadRequest(GatewayError):
    """The handshake lacks something the provider needs."""

    close_code = close_codes.BAD_REQUEST
    http_status = 400
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class AuthenticationFailed(GatewayError):
    """No usable credential was presented."""

    close_code = close_codes.UNAUTHORIZED
    http_status = 401
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class BudgetExceeded(GatewayError):
    """A budget of the key or its team is used up for the current UTC day or
    month (realtime.budgets). HTTP 402 Payment Required, as the gateway's own
    status: OpenAI answers an exhausted quota with HTTP 429, type and code
    `insufficient_quota` ("You exceeded your current quota", OpenAI's guide to
    error codes), which clients take for a rate limit and retry; a budget does
    not come back until its period resets, so it gets a status of its own."""

    close_code = close_codes.PAYMENT_REQUIRED
    http_status = 402
    error_type = "invalid_request_error"
    default_code = "budget_exceeded"


class AccessDenied(GatewayError):
    """A known key that may not open or continue this session."""

    close_code = close_codes.FORBIDDEN
    http_status = 403
    error_type = "invalid_request_error"
    default_code = "access_denied"


class SessionTimedOut(GatewayError):
    """The session ran past its key's maximum duration, or sat idle too long."""

    close_code = close_codes.TIMED_OUT
    http_status = 408
    error_type = "invalid_request_error"
    default_code = "session_duration_exceeded"


class LimitExceeded(GatewayError):
    """Over a limit of the key, or rate-limited upstream."""

    close_code = close_codes.TOO_MANY
    http_status = 429
    error_type = "invalid_request_error"
    default_code = "rate_limit_exceeded"


class MessageTooLarge(GatewayError):
    """A frame over the maximum message size."""

    close_code = close_codes.MESSAGE_TOO_LARGE
    http_status = 413
    error_type = "invalid_request_error"
    default_code = "message_too_large"


class UpstreamUnavailable(GatewayError):
    """The upstream is unreachable, refused the session, or failed."""

    close_code = close_codes.UPSTREAM_FAILED
    http_status = 502
    default_code = "upstream_unavailable"


class ServiceUnavailable(GatewayError):
    """The gateway cannot serve new sessions right now (its database is down)."""

    close_code = close_codes.UNAVAILABLE
    http_status = 503
    default_code = "service_unavailable"


class UpstreamTimeout(GatewayError):
    """The upstream did not answer (or read) in time."""

    close_code = close_codes.UPSTREAM_TIMEOUT
    http_status = 504
    default_code = "upstream_timeout"


class ShuttingDown(GatewayError):
    """This gateway process is stopping."""

    close_code = close_codes.GOING_AWAY
    http_status = 503
    default_code = "gateway_shutting_down"


class SlowClient(ConnectionError):
    """The client stopped reading and was dropped; nothing more can reach it."""
