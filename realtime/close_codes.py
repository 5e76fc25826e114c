"""The gateway's close codes: one scheme that every ASGI server can send.

Daphne (autobahn) can send only 1000 and 3000-4999, so codes the gateway makes
follow graphql-ws: 4000 + the HTTP status the failure would have had. Upstream
codes that may be sent pass through; the other 1xxx codes become 4000 + (code -
1000), so 1008 -> 4008 and 1011 -> 4011.
"""

from __future__ import annotations

NORMAL = 1000
GOING_AWAY = 4001  # the scheme's 1001: the gateway is shutting down
BAD_REQUEST = 4400  # the handshake lacks what the provider needs
UNAUTHORIZED = 4401  # missing, unknown or malformed key
PAYMENT_REQUIRED = 4402  # a budget of the key or its team is used up
FORBIDDEN = 4403  # revoked or expired key, model outside the allow-list
TIMED_OUT = 4408  # the key's maximum session duration or idle timeout
MESSAGE_TOO_LARGE = 4413  # a frame over GATEWAY_MAX_MESSAGE_BYTES, either leg
TOO_MANY = 4429  # over a limit of the key, or the upstream rate-limits
GATEWAY_FAULT = 4500  # a bug or fault in the gateway itself
UPSTREAM_FAILED = 4502  # upstream unreachable, refusing or failing
UNAVAILABLE = 4503  # the gateway cannot check keys (its database is down)
UPSTREAM_TIMEOUT = 4504  # upstream did not answer in time

# What websockets (the upstream client) accepts to send besides 3000-4999.
_UPSTREAM_SENDABLE = {1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011}
_UPSTREAM_SENDABLE |= {1012, 1013, 1014}


def is_sendable(code: int) -> bool:
    """True when any ASGI server can send `code` to a client."""
    return code == NORMAL or 3000 <= code <= 4999


def to_client(code: int | None) -> int:
    """The code to send a client for an upstream close `code`."""
    if code is None or code == 1005:  # a close frame without a code is normal
        return NORMAL
    if is_sendable(code):
        return code
    if 1001 <= code <= 1015:
        return 4000 + (code - 1000)
    return UPSTREAM_FAILED


def to_upstream(code: int | None) -> int:
    """The code to send the upstream for a client close `code`."""
    if code is None or code == 1005:
        return NORMAL
    if code == 1006:  # the client vanished without a close frame
        return 1001
    if code in _UPSTREAM_SENDABLE or 3000 <= code <= 4999:
        return code
    return NORMAL
