"""GPT-Live's delegated Responses work: billed as its backend model, named in
the session's `delegation.responses.model` (or the response's own `model`),
not at the session model's rates."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest

from realtime import pricing
from realtime.exceptions import AccessDenied
from realtime.models import ModelPrice
from realtime.providers.live import LiveSession, responses_usage
from realtime.providers.live_call import LiveCallSession
from realtime.usage import NO_BILLING

pytestmark = pytest.mark.timeout(10)

USAGE = {"input_tokens": 1_000, "output_tokens": 500, "total_tokens": 1_500}
DELEGATION = {"type": "responses", "responses": {"model": "gpt-5.5"}}


def start(session: dict) -> str:
    return json.dumps({"type": "session.start", "session": session})


def completed(response: dict) -> str:
    event = {"type": "response.completed", "response": {**response, "usage": USAGE}}
    return json.dumps({"type": "response.event", "event_id": "e", "event": event})


def test_session_start_names_the_backend_model_its_tokens_are_billed_as():
    live = LiveSession(model="")
    live.client_text(start({"model": "gpt-live-1", "delegation": DELEGATION}))
    live.upstream_text(completed({"id": "resp_1"}))
    live.upstream_text(completed({"id": "resp_2"}))
    twice = responses_usage(USAGE) + responses_usage(USAGE)
    assert live.backend_model == "gpt-5.5"
    assert live.usage == twice  # the row's tokens: all of them
    assert live.billing.delegated == (("gpt-5.5", twice),)


def test_the_server_reports_a_changed_backend_and_the_response_its_model():
    live = LiveSession(model="")
    live.client_text(start({"model": "gpt-live-1"}))  # client delegation
    live.upstream_text(completed({"id": "resp_1"}))  # no backend: the session's
    assert live.billing.delegated == ()
    updated = {
        "type": "session.updated",
        "session": {"model": "gpt-live-1", "delegation": DELEGATION},
    }
    live.upstream_text(json.dumps(updated))
    live.upstream_text(completed({"id": "resp_2"}))
    live.upstream_text(completed({"id": "resp_3", "model": "gpt-5.5-mini"}))
    one = responses_usage(USAGE)
    assert live.billing.delegated == (("gpt-5.5", one), ("gpt-5.5-mini", one))
    assert live.usage == one + one + one


def test_a_sideband_learns_the_backend_from_session_started():
    call = LiveCallSession(model="gpt-live-1")
    started = {
        "type": "session.started",
        "session": {"id": "s", "model": "gpt-live-1", "delegation": DELEGATION},
    }
    call.upstream_text(json.dumps(started))
    call.upstream_text(completed({"id": "resp_1"}))
    assert call.billing.delegated == (("gpt-5.5", responses_usage(USAGE)),)


@pytest.mark.django_db
def test_delegated_tokens_cost_the_backend_models_rates():
    ModelPrice.objects.filter(provider_kind="openai").delete()
    since = datetime.date(2020, 1, 1)
    ModelPrice.objects.create(
        provider_kind="openai",
        model="gpt-live-1",
        effective_from=since,
        per_active_minute=Decimal("0.05"),
    )
    ModelPrice.objects.create(
        provider_kind="openai",
        model="gpt-5.5",
        effective_from=since,
        input_text_per_mtok=Decimal(5),
        output_text_per_mtok=Decimal(40),
    )
    live = LiveSession(model="")
    live.client_text(start({"model": "gpt-live-1", "delegation": DELEGATION}))
    live.upstream_text(completed({"id": "resp_1"}))
    closed = {"type": "session.closed", "usage": {"seconds": 60.0}}
    live.upstream_text(json.dumps(closed))
    on = datetime.date(2026, 12, 2)
    cost = pricing.session_cost(live.usage, "openai", live.model, live.billing, on)
    # A minute at $0.05, 1,000 tokens in at $5 and 500 out at $40 a million.
    assert cost == Decimal("0.05") + Decimal("0.005") + Decimal("0.02")
    # Without the backend known, the tokens would cost gpt-live-1's: nothing.
    alone = pricing.session_cost(live.usage, "openai", "gpt-live-1", NO_BILLING, on)
    assert alone == Decimal("0.05")


# --- the key's allow-list holds on the models work is delegated to ---------------

DECISIONS = {"type": "decisions", "decisions": {"model": "gpt-5.5", "questions": []}}


@pytest.mark.parametrize("delegation", [DELEGATION, DECISIONS])
def test_a_delegated_model_outside_the_allow_list_is_refused_at_start(delegation):
    live = LiveSession(model="", allowed_models=("gpt-live-1",))
    with pytest.raises(AccessDenied) as refused:
        live.client_text(start({"model": "gpt-live-1", "delegation": delegation}))
    assert refused.value.code == "model_not_allowed"
    assert "gpt-5.5" in str(refused.value)


def test_a_delegated_model_on_the_allow_list_starts():
    live = LiveSession(model="", allowed_models=("gpt-live-1", "gpt-5.5"))
    frame = start({"model": "gpt-live-1", "delegation": DELEGATION})
    assert live.client_text(frame) is frame
    assert live.backend_model == "gpt-5.5"


def test_a_session_update_that_delegates_elsewhere_is_checked():
    live = LiveSession(model="", allowed_models=("gpt-live-1",))
    live.client_text(start({"model": "gpt-live-1"}))
    update = {"type": "session.update", "session": {"delegation": DECISIONS}}
    with pytest.raises(AccessDenied):
        live.client_text(json.dumps(update))
    harmless = {"type": "session.update", "session": {"triggers": []}}
    assert live.client_text(json.dumps(harmless)) == json.dumps(harmless)
