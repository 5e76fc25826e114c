from __future__ import annotations

import datetime
import importlib
from decimal import Decimal

import pytest
from django.apps import apps

from realtime import pricing
from realtime.models import ModelPrice
from realtime.usage import Usage

pytestmark = pytest.mark.django_db

DAY = datetime.date(2025, 9, 1)


@pytest.fixture(autouse=True)
def no_seeded_prices():
    """Start from an empty price table (the migrations seed one)."""
    ModelPrice.objects.all().delete()


def price(model: str, on: str = "2025-01-01", kind: str = "openai", **rates):
    return ModelPrice.objects.create(
        provider_kind=kind,
        model=model,
        effective_from=on,
        **{name: Decimal(value) for name, value in rates.items()},
    )


def test_exact_name_beats_patterns_and_longer_patterns_beat_shorter():
    broad = price("gpt-realtime*")
    mini = price("gpt-realtime-mini*")
    exact = price("gpt-realtime-mini-2025-10-06")
    assert pricing.price_for(kind="openai", model="gpt-realtime", on=DAY) == broad
    assert pricing.price_for(kind="openai", model="gpt-realtime-mini", on=DAY) == mini
    assert (
        pricing.price_for(kind="openai", model="gpt-realtime-mini-2025-10-06", on=DAY)
        == exact
    )


def test_the_price_in_force_on_the_day_and_only_for_the_kind():
    old = price("gpt-realtime*", on="2025-01-01")
    new = price("gpt-realtime*", on="2025-08-28")
    assert pricing.price_for(kind="openai", model="gpt-realtime", on=DAY) == new
    assert (
        pricing.price_for(
            kind="openai", model="gpt-realtime", on=datetime.date(2025, 3, 1)
        )
        == old
    )
    assert pricing.price_for(kind="azure", model="gpt-realtime", on=DAY) is None
    assert pricing.price_for(kind="openai", model="", on=DAY) is None
    assert pricing.price_for(kind="openai", model="gpt-4o", on=DAY) is None


def test_cost_splits_text_audio_and_cached():
    rates = price(
        "m",
        input_text_per_mtok="4",
        cached_input_text_per_mtok="0.4",
        input_audio_per_mtok="32",
        cached_input_audio_per_mtok="0.4",
        output_text_per_mtok="16",
        output_audio_per_mtok="64",
    )
    usage = Usage(
        input_text_tokens=1000,
        cached_text_tokens=400,
        input_audio_tokens=2000,
        cached_audio_tokens=1000,
        output_text_tokens=300,
        output_audio_tokens=700,
    )
    expected = (
        600 * Decimal(4) + 400 * Decimal("0.4") + 1000 * Decimal(32)
        + 1000 * Decimal("0.4") + 300 * Decimal(16) + 700 * Decimal(64)
    ) / 1_000_000  # fmt: skip
    assert pricing.cost_usd(usage, rates) == expected.quantize(Decimal("0.000001"))


def test_cost_without_a_modality_split_counts_text():
    rates = price("m", input_text_per_mtok="1", output_text_per_mtok="2")
    usage = Usage(input_tokens=1_000_000, output_tokens=500_000, cached_tokens=0)
    assert pricing.cost_usd(usage, rates) == Decimal("2.000000")


def test_cost_of_non_token_units():
    rates = price(
        "sonic*",
        kind="cartesia",
        per_1k_characters="0.05",
        per_audio_minute="0.01",
        transcription_per_minute="0.006",
    )
    usage = Usage(characters=2000, audio_seconds=90.0, transcription_seconds=30.0)
    assert pricing.cost_usd(usage, rates) == Decimal("0.118000")


def test_seeded_prices_are_attributed_and_found():
    seeds = importlib.import_module("realtime.migrations.0003_seed_prices")
    seeds.seed(apps, None)
    assert ModelPrice.objects.count() == len(seeds.SEEDS)
    assert all(p.source for p in ModelPrice.objects.all())
    found = pricing.price_for(kind="openai", model="gpt-realtime-2025-08-28", on=DAY)
    assert (found.model, found.output_audio_per_mtok) == ("gpt-realtime*", Decimal(64))
    # gpt-realtime-mini's own price starts on its release day, 2025-10-06.
    later = datetime.date(2025, 11, 1)
    mini = pricing.price_for(kind="openai", model="gpt-realtime-mini", on=later)
    assert mini.model == "gpt-realtime-mini*"
    seeds.unseed(apps, None)
    assert not ModelPrice.objects.exists()
