"""Why a session is refused or ends early, each with its close code.

GatewayError                      4500 server_error
 +-- BadRequest                   4400 invalid_request_error
 +-- AuthenticationFailed         4401 invalid_request_error
 +-- AccessDenied                 4403 invalid_request_error
 +-- LimitExceeded                4429 invalid_request_error
 +-- MessageTooLarge              4413 invalid_request_error
 +-- UpstreamUnavailable          4502 server_error
 +-- ServiceUnavailable           4503 server_error
 +-- UpstreamTimeout              4504 server_error
 +-- ShuttingDown                 4001 server_error

The consumer turns any of them into one JSON error event and a close. Messages
are shown to clients: they never contain a key, a credential or a payload.
"""

from __future__ import annotations

from realtime import close_codes


class GatewayError(Exception):
    """Base: a failure the client is told about with an error event and a close."""

    close_code = close_codes.GATEWAY_FAULT
    error_type = "server_error"
    default_code = "gateway_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code

    def event(self) -> dict:
        """The error event sent to the client before the close."""
        return {
            "type": "error",
            "error": {
                "type": self.error_type,
                "code": self.code,
                "message": self.message,
            },
        }


class BadRequest(GatewayError):
    """The handshake lacks something the provider needs."""

    close_code = close_codes.BAD_REQUEST
    error_type = "invalid_request_error"
    default_code = "invalid_request"


class AuthenticationFailed(GatewayError):
    """No usable credential was presented."""

    close_code = close_codes.UNAUTHORIZED
    error_type = "invalid_request_error"
    default_code = "invalid_api_key"


class AccessDenied(GatewayError):
    """A known key that may not open or continue this session."""

    close_code = close_codes.FORBIDDEN
    error_type = "invalid_request_error"
    default_code = "access_denied"


class LimitExceeded(GatewayError):
    """Over a limit of the key, or rate-limited upstream."""

    close_code = close_codes.TOO_MANY
    error_type = "invalid_request_error"
    default_code = "rate_limit_exceeded"


class MessageTooLarge(GatewayError):
    """A frame over the maximum message size."""

    close_code = close_codes.MESSAGE_TOO_LARGE
    error_type = "invalid_request_error"
    default_code = "message_too_large"


class UpstreamUnavailable(GatewayError):
    """The upstream is unreachable, refused the session, or failed."""

    close_code = close_codes.UPSTREAM_FAILED
    default_code = "upstream_unavailable"


class ServiceUnavailable(GatewayError):
    """The gateway cannot serve new sessions right now (its database is down)."""

    close_code = close_codes.UNAVAILABLE
    default_code = "service_unavailable"


class UpstreamTimeout(GatewayError):
    """The upstream did not answer (or read) in time."""

    close_code = close_codes.UPSTREAM_TIMEOUT
    default_code = "upstream_timeout"


class ShuttingDown(GatewayError):
    """This gateway process is stopping."""

    close_code = close_codes.GOING_AWAY
    default_code = "gateway_shutting_down"


class SlowClient(ConnectionError):
    """The client stopped reading and was dropped; nothing more can reach it."""
