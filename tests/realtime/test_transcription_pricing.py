"""Transcription: its sessions known (intent or `session.type`), its model
learnt, and its usage priced at the transcription model's rates."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest

from keys.values import BudgetLimits, KeyIdentity, ProviderTarget, Secret
from realtime import budgets, interfaces, pricing
from realtime.exceptions import AccessDenied
from realtime.models import ModelPrice
from realtime.providers.base import ConnectRequest
from realtime.providers.openai import OpenAIAdapter
from realtime.usage import Billing, Usage

pytestmark = pytest.mark.timeout(10)

ON = datetime.date(2026, 12, 2)


def session(query=(), *, model="gpt-realtime", allowed=()):
    request = ConnectRequest(
        base_url="wss://api.openai.com/v1/realtime",
        credential=Secret("sk-test"),
        query=query,
        subprotocols=(),
        options={},
    )
    return OpenAIAdapter().open_session(
        model=model, request=request, allowed_models=allowed
    )


def update(session_object: dict) -> str:
    return json.dumps({"type": "session.update", "session": session_object})


TRANSCRIBE = {"audio": {"input": {"transcription": {"model": "gpt-4o-transcribe"}}}}


def test_the_intent_makes_a_transcription_session():
    assert interfaces.of_connection({}, (("intent", "transcription"),)) == (
        "transcription"
    )
    assert interfaces.of_connection({}, (("model", "gpt-realtime"),)) == "realtime"
    transcribing = session((("intent", "transcription"),), model="", allowed=("x",))
    assert transcribing.interface == "transcription"
    assert not transcribing.awaits_model  # no session model to wait for


def test_a_realtime_session_learns_its_transcription_model_unchecked():
    realtime = session(allowed=("gpt-realtime",))
    realtime.client_text(update({"type": "realtime", **TRANSCRIBE}))
    assert (realtime.model, realtime.transcription_model) == (
        "gpt-realtime",
        "gpt-4o-transcribe",
    )
    assert realtime.interface == ""


def test_session_type_transcription_checks_the_model_against_the_allow_list():
    transcribing = session(model="", allowed=("gpt-live-transcribe",))
    with pytest.raises(AccessDenied):
        transcribing.client_text(update({"type": "transcription", **TRANSCRIBE}))
    assert transcribing.interface == "transcription"
    allowed = session(model="", allowed=("gpt-4o-transcribe",))
    allowed.client_text(update({"type": "transcription", **TRANSCRIBE}))
    assert (allowed.model, allowed.transcription_model) == (
        "gpt-4o-transcribe",
        "gpt-4o-transcribe",
    )


def test_the_server_reports_the_beta_shape_too():
    beta = session()
    created = {
        "type": "session.created",
        "session": {
            "model": "gpt-realtime",
            "input_audio_transcription": {"model": "whisper-1"},
        },
    }
    beta.upstream_text(json.dumps(created))
    assert beta.transcription_model == "whisper-1"


@pytest.mark.django_db
def test_transcription_is_priced_at_the_transcription_models_rates():
    ModelPrice.objects.all().delete()
    ModelPrice.objects.create(
        provider_kind="openai",
        model="gpt-realtime",
        effective_from=datetime.date(2020, 1, 1),
        input_text_per_mtok=Decimal(4),
        transcription_per_mtok=Decimal(999),  # never the transcription's rate
    )
    ModelPrice.objects.create(
        provider_kind="openai",
        model="gpt-4o-transcribe",
        effective_from=datetime.date(2020, 1, 1),
        transcription_per_mtok=Decimal(6),
    )
    usage = Usage(input_tokens=1_000_000, transcription_tokens=1_000_000)
    transcribed = Billing(transcription_model="gpt-4o-transcribe")
    assert cost(usage, "gpt-realtime", transcribed) == Decimal(10)
    # No transcription model known: as before, the session model's rates.
    assert cost(usage, "gpt-realtime", Billing()) == Decimal(1003)
    unknown = Billing(transcription_model="gpt-unknown-transcribe")
    assert cost(usage, "gpt-unknown", unknown) is None


def cost(usage: Usage, model: str, billing: Billing) -> Decimal | None:
    return pricing.session_cost(usage, "openai", model, billing, ON)


@pytest.mark.django_db
def test_a_budget_prices_the_running_usage_as_the_row_is_priced():
    """The running estimate a USD budget is checked against and the final row
    agree: the transcription at the transcription model's rates."""
    ModelPrice.objects.filter(provider_kind="openai").delete()
    for model, rate in (("gpt-realtime", 999), ("gpt-4o-transcribe", 6)):
        ModelPrice.objects.create(
            provider_kind="openai",
            model=model,
            effective_from=datetime.date(2020, 1, 1),
            transcription_per_mtok=Decimal(rate),
        )
    who = KeyIdentity(
        key_id=1,
        name="k",
        provider=ProviderTarget(
            provider_id=1, slug="p", kind="openai", upstream_url=""
        ),
        max_concurrent_sessions=None,
        budgets=BudgetLimits(usd_day=Decimal(1)),
    )
    noon = datetime.datetime(2026, 12, 2, 12, tzinfo=datetime.UTC)
    budget = budgets.SessionBudget(identity=who, kind="openai", started=noon)
    transcribed = Billing(transcription_model="gpt-4o-transcribe")
    budget.refresh(model="gpt-realtime", billing=transcribed, now=noon)
    usage = Usage(transcription_tokens=100_000)
    assert budget.cost(usage, transcribed) == Decimal("0.6")  # not $99.90
    assert budget.cost(usage, transcribed) == cost(usage, "gpt-realtime", transcribed)
    assert budget.check(usage, transcribed, now=noon) is None
    over = Usage(transcription_tokens=200_000)  # $1.20 at $6 per million
    assert budget.check(over, transcribed, now=noon) is not None
