"""GPT-Live's and translation's frame handlers, on recorded-shape frames (no I/O)."""

from __future__ import annotations

import base64
import json

import pytest

from realtime.exceptions import AccessDenied, BadRequest
from realtime.providers.live import LiveSession, responses_usage
from realtime.providers.translation import TranslationSession, base64_size
from realtime.usage import Usage

pytestmark = pytest.mark.timeout(10)

START = json.dumps({"type": "session.start", "session": {"model": "gpt-live-1"}})
AUDIO = json.dumps({"type": "session.input_audio.append", "audio": "AAAA"})


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def started(*, allowed: tuple[str, ...] = (), clock: Clock | None = None):
    live = LiveSession(model="", allowed_models=allowed, clock=clock or Clock())
    assert live.client_text(START) is START
    return live


@pytest.mark.parametrize(
    "frame",
    [AUDIO, json.dumps({"type": "session.close"}), "not json", "[]"],
)
def test_anything_before_session_start_is_refused(frame):
    live = LiveSession(model="")
    with pytest.raises(BadRequest) as refused:
        live.client_text(frame)
    assert refused.value.code == "session_start_required"


def test_a_binary_frame_before_session_start_is_refused():
    live = LiveSession(model="")
    with pytest.raises(BadRequest):
        live.client_bytes(b"\xff\xfe audio")
    assert live.client_bytes(START.encode()) == START.encode()


def test_session_start_names_the_model_checked_against_the_allow_list():
    live = started(allowed=("gpt-live-1",))
    assert (live.model, live.model_named) == ("gpt-live-1", True)
    assert live.client_text(AUDIO) is AUDIO  # after the start: passed as it is


def test_a_model_outside_the_allow_list_is_refused_and_recorded():
    live = LiveSession(model="", allowed_models=("gpt-live-1",))
    start = START.replace("gpt-live-1", "gpt-live-9")
    with pytest.raises(AccessDenied):
        live.client_text(start)
    assert live.model == "gpt-live-9"
    with pytest.raises(BadRequest):  # still not started
        live.client_text(AUDIO)


def test_a_second_start_is_checked_too_even_when_escaped():
    live = started(allowed=("gpt-live-1",))
    escaped = START.replace("session.start", "session\\u002estart").replace(
        "gpt-live-1", "gpt-live-9"
    )
    with pytest.raises(AccessDenied):
        live.client_text(escaped)


def test_session_start_without_a_model_is_refused():
    with pytest.raises(BadRequest) as refused:
        LiveSession(model="").client_text('{"type":"session.start","session":{}}')
    assert refused.value.code == "missing_model"


def test_reported_seconds_are_cumulative_and_the_close_is_final():
    live = started()
    assert live.awaiting_usage
    for seconds in (3.5, 7.25):
        live.upstream_text(
            json.dumps(
                {
                    "type": "session.usage.updated",
                    "event_id": "e1",
                    "usage": {"seconds": seconds},
                }
            )
        )
    assert live.usage.active_seconds == 7.25
    closed = {
        "type": "session.closed",
        "event_id": "e2",
        "reason": "close_requested",
        "session": {"id": "s", "model": "gpt-live-1", "status": "active"},
        "usage": {"seconds": 9.5},
    }
    live.upstream_text(json.dumps(closed))
    assert (live.usage.active_seconds, live.usage.standby_seconds) == (9.5, 0.0)
    assert not live.awaiting_usage


def test_delegated_responses_usage_adds_up():
    live = started()
    usage = {
        "input_tokens": 30,
        "input_tokens_details": {"cached_tokens": 10},
        "output_tokens": 12,
        "total_tokens": 42,
    }
    completed = {
        "type": "response.event",
        "event_id": "e3",
        "delegation_id": "del_1",
        "event": {"type": "response.completed", "response": {"usage": usage}},
    }
    created = {**completed, "event": {"type": "response.created", "response": {}}}
    for event in (created, completed, completed):
        live.upstream_text(json.dumps(event))
    assert live.usage == responses_usage(usage) + responses_usage(usage)
    assert (live.usage.responses, live.usage.total_tokens) == (2, 84)
    assert live.usage.cached_tokens == 20


def test_the_stop_request_is_session_close_with_an_event_id():
    [frame] = started().stop_requests()
    event = json.loads(frame)
    assert event["type"] == "session.close"
    assert event["event_id"].startswith("event_")


def test_the_running_usage_estimates_elapsed_time_until_the_final_report():
    clock = Clock()
    live = started(clock=clock)
    assert LiveSession.max_budget_period <= 30
    assert live.running_usage(clock.now + 12) == Usage(active_seconds=12)
    live.upstream_text('{"type":"session.usage.updated","usage":{"seconds":20}}')
    assert live.running_usage(clock.now + 12).active_seconds == 20  # reported more
    live.upstream_text('{"type":"session.closed","usage":{"seconds":21}}')
    assert live.running_usage(clock.now + 99).active_seconds == 21  # final


def test_before_the_start_nothing_runs():
    assert LiveSession(model="").running_usage(1e6) == Usage()


# --- translation -------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 4800, 48_001])
def test_base64_size_without_decoding(size):
    assert base64_size(base64.b64encode(b"\0" * size).decode()) == size


def test_translation_meters_the_source_audio_relayed():
    translation = TranslationSession(model="gpt-realtime-translate")
    second = base64.b64encode(b"\0" * 48_000).decode()
    append = json.dumps({"type": "session.input_audio_buffer.append", "audio": second})
    for _ in range(3):
        assert translation.client_text(append) is append
    translation.client_text('{"type":"session.update","session":{}}')
    assert translation.usage == Usage(translation_seconds=3.0)


def test_translation_learns_and_checks_the_reported_model():
    translation = TranslationSession(
        model="", allowed_models=("gpt-realtime-translate",)
    )
    assert translation.awaits_model
    created = {
        "type": "session.created",
        "event_id": "e",
        "session": {"type": "translation", "model": "gpt-realtime-translate"},
    }
    translation.upstream_text(json.dumps(created))
    assert translation.model == "gpt-realtime-translate"
    other = TranslationSession(model="", allowed_models=("gpt-realtime-translate",))
    with pytest.raises(AccessDenied):
        other.upstream_text(json.dumps(created).replace("translate", "other"))
