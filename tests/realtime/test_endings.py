"""The close policy, from tables: what happened -> status, codes, error event."""

from __future__ import annotations

import pytest

from realtime import endings
from realtime.endings import Ending
from realtime.exceptions import (
    AccessDenied,
    GatewayError,
    LimitExceeded,
    ShuttingDown,
    UpstreamTimeout,
)


@pytest.mark.parametrize(
    ("client_code", "status", "recorded", "upstream", "reason"),
    [
        (1000, "finished", 1000, 1000, ""),
        (1001, "finished", 1001, 1001, ""),
        (None, "finished", None, 1000, ""),
        (1005, "finished", 1005, 1000, ""),
        (1006, "finished", 1006, 1001, "client vanished without a close frame"),
        (4000, "finished", 4000, 4000, ""),
        (1015, "finished", 1015, 1000, ""),
    ],
)  # fmt: skip
def test_a_client_close(client_code, status, recorded, upstream, reason):
    ending = Ending.by_client(client_code)
    assert (ending.status, ending.close_code, ending.upstream_code) == (
        status, recorded, upstream,
    )  # fmt: skip
    assert ending.reason == reason
    assert ending.error is None


@pytest.mark.parametrize(
    ("upstream_code", "status", "client_code"),
    [
        (1000, "finished", 1000),
        (1001, "finished", 4001),
        (1005, "finished", 1000),
        (1008, "finished", 4008),
        (1011, "failed", 4011),
        (1012, "failed", 4012),
        (1013, "failed", 4013),
        (1014, "failed", 4014),
        (4000, "finished", 4000),
        (4999, "finished", 4999),
        (2000, "finished", 4502),
    ],
)  # fmt: skip
def test_an_upstream_close_frame_is_relayed(upstream_code, status, client_code):
    ending = endings.upstream_lost(
        received=(upstream_code, "bye"), sent_code=None, max_bytes=10
    )
    assert (ending.status, ending.close_code, ending.reason) == (
        status, client_code, "bye",
    )  # fmt: skip
    assert ending.error is None
    assert ending.upstream_code == 1000


@pytest.mark.parametrize(
    ("sent_code", "error_code", "client_code"),
    [
        (1009, "message_too_large", 4413),
        (1011, "upstream_timeout", 4504),
        (1002, "upstream_protocol_error", 4502),
        (1007, "upstream_protocol_error", 4502),
        (None, "upstream_unavailable", 4502),
        (1000, "upstream_unavailable", 4502),
    ],
)  # fmt: skip
def test_an_upstream_lost_without_its_close_frame(sent_code, error_code, client_code):
    ending = endings.upstream_lost(received=None, sent_code=sent_code, max_bytes=64)
    assert ending.status == "failed"
    assert ending.close_code == client_code
    assert ending.error is not None and ending.error.code == error_code
    assert ending.recorded_error == ending.error.message


def test_the_size_limit_is_named_when_the_provider_exceeds_it():
    ending = endings.upstream_lost(received=None, sent_code=1009, max_bytes=1234)
    assert "1234 bytes" in ending.recorded_error


@pytest.mark.parametrize(
    ("error", "status", "client_code", "upstream_code"),
    [
        (AccessDenied("no", code="key_revoked"), "finished", 4403, 1000),
        (LimitExceeded("slow down"), "rejected", 4429, 1000),
        (UpstreamTimeout("late"), "failed", 4504, 1000),
        (ShuttingDown("bye"), "finished", 4001, 1001),
        (GatewayError("bug"), "failed", 4500, 1000),
    ],
)  # fmt: skip
def test_the_gateway_ends_a_session(error, status, client_code, upstream_code):
    ending = Ending.by_gateway(error, status=status)
    assert (ending.status, ending.close_code, ending.upstream_code) == (
        status, client_code, upstream_code,
    )  # fmt: skip
    assert ending.error is error
    assert ending.recorded_error == error.message


def test_named_endings():
    assert endings.SLOW_CLIENT.status == "finished"
    assert endings.SLOW_CLIENT.close_code == 1006
    assert endings.SLOW_CLIENT.upstream_code == 1001
    assert endings.SLOW_CLIENT.recorded_error == endings.SLOW_CLIENT.reason

    revoked = endings.key_refused("the virtual key was revoked", "key_revoked")
    assert (revoked.status, revoked.close_code) == ("finished", 4403)
    assert revoked.error is not None
    assert revoked.error.message == "The virtual key was revoked."
    assert revoked.error.code == "key_revoked"

    fault = endings.gateway_fault()
    assert (fault.status, fault.close_code) == ("failed", 4500)

    terminated = endings.terminated()
    assert (terminated.status, terminated.close_code) == ("finished", 4403)
    assert terminated.error is not None
    assert terminated.error.code == "session_terminated"

    stopping = endings.shutting_down()
    assert (stopping.status, stopping.close_code, stopping.upstream_code) == (
        "finished", 4001, 1001,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("ending", "reason"),
    [
        (Ending.by_client(1000), "client_closed"),
        (Ending.by_client(None), "client_closed"),
        (Ending.by_client(1006), "client_vanished"),
        (Ending.by_upstream(1000, "bye"), "upstream_closed"),
        (Ending.by_upstream(4000, ""), "upstream_closed"),
        (Ending.by_upstream(1011, "boom"), "upstream_failed"),
        (endings.upstream_lost(received=None, sent_code=None, max_bytes=1),
         "upstream_unavailable"),
        (endings.upstream_lost(received=None, sent_code=1011, max_bytes=1),
         "upstream_timeout"),
        (endings.key_refused("revoked", "key_revoked"), "key_revoked"),
        (endings.gateway_fault(), "gateway_error"),
        (endings.terminated(), "session_terminated"),
        (endings.shutting_down(), "gateway_shutdown"),
        (endings.SLOW_CLIENT, "slow_client"),
        (Ending.by_gateway(LimitExceeded("x", code="rate_limited"), status="rejected"),
         "rate_limited"),
    ],
)  # fmt: skip
def test_why_a_session_ended_in_a_word(ending, reason):
    assert ending.end_reason == reason


@pytest.mark.parametrize(
    ("ending", "error_code", "says"),
    [
        (endings.duration_exceeded(600), "session_duration_exceeded", "600 seconds"),
        (endings.idle_timeout(30), "idle_timeout", "30 seconds"),
    ],
)  # fmt: skip
def test_a_keys_time_limits_end_a_session_with_4408(ending, error_code, says):
    assert (ending.status, ending.close_code, ending.upstream_code) == (
        "finished", 4408, 1000,
    )  # fmt: skip
    assert ending.error is not None
    assert (ending.error.code, ending.error.http_status) == (error_code, 408)
    assert ending.error.error_type == "invalid_request_error"
    assert says in ending.recorded_error
