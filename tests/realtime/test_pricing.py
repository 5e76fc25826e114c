from __future__ import annotations

import datetime
import importlib
from decimal import Decimal

import pytest
from django.apps import apps
from django.db import models

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


# One rate a column, each a different power of two: a usage of one unit of a
# kind (1M tokens, a minute, 1,000 characters) costs exactly its column's rate.
RATES = {
    "input_text_per_mtok": 1,
    "cached_input_text_per_mtok": 2,
    "input_audio_per_mtok": 4,
    "cached_input_audio_per_mtok": 8,
    "input_image_per_mtok": 16,
    "cached_input_image_per_mtok": 32,
    "output_text_per_mtok": 64,
    "output_audio_per_mtok": 128,
    "transcription_per_mtok": 256,
    "transcription_per_minute": 512,
    "per_1k_characters": 1024,
    "per_audio_minute": 2048,
    "per_active_minute": 4096,
    "per_standby_minute": 8192,
    "translation_per_minute": 16384,
}
M = 1_000_000


@pytest.mark.parametrize(
    ("usage", "dollars"),
    [
        (Usage(input_text_tokens=M), 1),
        (Usage(input_text_tokens=M, cached_text_tokens=M), 2),
        (Usage(input_audio_tokens=M), 4),
        (Usage(input_audio_tokens=M, cached_audio_tokens=M), 8),
        (Usage(input_image_tokens=M), 16),
        (Usage(input_image_tokens=M, cached_image_tokens=M), 32),
        (Usage(output_text_tokens=M), 64),
        (Usage(output_audio_tokens=M), 128),
        (Usage(transcription_tokens=M), 256),
        (Usage(transcription_seconds=60.0), 512),
        (Usage(characters=1000), 1024),
        (Usage(audio_seconds=60.0), 2048),
        (Usage(active_seconds=60.0), 4096),
        (Usage(standby_seconds=60.0), 8192),
        (Usage(translation_seconds=60.0), 16384),
        # Billed by the second: 90 s active and 30 s standby.
        (Usage(active_seconds=90.0, standby_seconds=30.0), 6144 + 4096),
        # Half the audio cached: half at each rate.
        (Usage(input_audio_tokens=M, cached_audio_tokens=M // 2), 6),
        # Cached text, audio and image each at its own rate, beside uncached.
        (
            Usage(
                input_text_tokens=2 * M,
                cached_text_tokens=M,
                input_audio_tokens=2 * M,
                cached_audio_tokens=M,
                input_image_tokens=2 * M,
                cached_image_tokens=M,
            ),
            1 + 2 + 4 + 8 + 16 + 32,
        ),
        # No modality split reported: text, and the cached part cached text.
        (Usage(input_tokens=M), 1),
        (Usage(input_tokens=M, cached_tokens=M), 2),
        (Usage(output_tokens=M), 64),
        # A split reported: the totals are not counted again.
        (Usage(input_tokens=M, input_image_tokens=M, cached_tokens=M), 16),
    ],
)
def test_each_kind_of_usage_at_its_own_rate(usage, dollars):
    rates = price("m", **{name: str(rate) for name, rate in RATES.items()})
    assert pricing.cost_usd(usage, rates) == Decimal(dollars)


def test_every_rate_column_prices_some_usage():
    columns = {
        field.name
        for field in ModelPrice._meta.get_fields()
        if isinstance(field, models.DecimalField)
    }
    assert columns == set(RATES)
    everything = Usage(
        input_text_tokens=2 * M,
        cached_text_tokens=M,
        input_audio_tokens=2 * M,
        cached_audio_tokens=M,
        input_image_tokens=2 * M,
        cached_image_tokens=M,
        output_text_tokens=M,
        output_audio_tokens=M,
        transcription_tokens=M,
        transcription_seconds=60.0,
        characters=1000,
        audio_seconds=60.0,
        active_seconds=60.0,
        standby_seconds=60.0,
        translation_seconds=60.0,
    )
    for column in columns:
        alone = price(f"m-{column}", **{column: "1"})
        assert pricing.cost_usd(everything, alone) == Decimal(1), column


def test_newer_models_have_their_own_attributed_prices():
    importlib.import_module("realtime.migrations.0003_seed_prices").seed(apps, None)
    newer = importlib.import_module("realtime.migrations.0006_image_tokens_and_prices")
    newer.seed(apps, None)
    added = ModelPrice.objects.filter(effective_from=newer.READ)
    assert added.count() == len(newer.TOKEN_PRICES) + len(newer.MINUTE_PRICES)
    assert all(
        p.source.startswith("https://developers.openai.com/") and newer.READ in p.source
        for p in added
    )
    today = datetime.date(2026, 12, 2)

    def found(model: str) -> ModelPrice:
        match = pricing.price_for(kind="openai", model=model, on=today)
        assert match is not None, model
        return match

    assert found("gpt-realtime-2").output_text_per_mtok == Decimal(24)
    assert found("gpt-realtime-2.1-mini").input_image_per_mtok == Decimal("0.8")
    assert found("gpt-realtime-1.5").cached_input_image_per_mtok == Decimal("0.5")
    # The dated snapshot of the first gpt-realtime is not taken for gpt-realtime-2.
    assert found("gpt-realtime-2025-08-28").model == "gpt-realtime*"
    assert found("gpt-realtime-mini-2025-12-15").model == "gpt-realtime-mini*"
    assert found("gpt-realtime-whisper").transcription_per_minute == Decimal("0.017")
    newer.unseed(apps, None)
    assert not ModelPrice.objects.filter(effective_from=newer.READ).exists()


def test_the_time_billed_interfaces_have_attributed_prices():
    seeds = importlib.import_module(
        "realtime.migrations.0010_live_translation_transcription_prices"
    )
    seeds.seed(apps, None)
    added = ModelPrice.objects.filter(effective_from=seeds.READ)
    assert added.count() == len(seeds.PRICES)
    assert all(
        p.source.startswith("https://developers.openai.com/api/docs/models/")
        and seeds.READ in p.source
        for p in added
    )
    on = datetime.date(2026, 12, 2)
    live = pricing.price_for(kind="openai", model="gpt-live-1", on=on)
    assert live is not None
    # 90 s active, 30 s standby: $0.075 + $0.01.
    usage = Usage(active_seconds=90, standby_seconds=30)
    assert pricing.cost_usd(usage, live) == Decimal("0.085")
    translate = pricing.price_for(kind="openai", model="gpt-realtime-translate", on=on)
    assert translate is not None
    assert pricing.cost_usd(Usage(translation_seconds=120), translate) == Decimal(
        "0.068"
    )
    transcribe = pricing.price_for(kind="openai", model="gpt-live-transcribe", on=on)
    assert transcribe is not None
    assert transcribe.transcription_per_minute == Decimal("0.017")
    seeds.unseed(apps, None)
    assert not ModelPrice.objects.filter(effective_from=seeds.READ).exists()


@pytest.fixture
def cached_prices(settings):
    """Prices cached for a minute, as a gateway process keeps them."""
    settings.GATEWAY_PRICE_CACHE_SECONDS = 60
    pricing.forget_prices()
    yield
    pricing.forget_prices()


def test_a_process_reads_a_kinds_prices_once_per_ttl(
    cached_prices, django_assert_num_queries
):
    broad = price("gpt-realtime*")
    with django_assert_num_queries(1):
        assert pricing.price_for(kind="openai", model="gpt-realtime", on=DAY) == broad
        assert pricing.price_for(kind="openai", model="gpt-realtime-x", on=DAY) == broad
    # The later day and the exact name come from the same rows.
    exact = price("gpt-realtime", on="2025-08-01")
    with django_assert_num_queries(0):
        assert pricing.price_for(kind="openai", model="gpt-realtime", on=DAY) == broad
    pricing.forget_prices()  # what the TTL's end does
    assert pricing.price_for(kind="openai", model="gpt-realtime", on=DAY) == exact
    assert (
        pricing.price_for(
            kind="openai", model="gpt-realtime", on=datetime.date(2025, 7, 1)
        )
        == broad
    )


def test_a_stale_cache_is_read_again(cached_prices, monkeypatch):
    price("gpt-realtime*")
    pricing.price_for(kind="openai", model="gpt-realtime", on=DAY)
    exact = price("gpt-realtime")
    later = pricing.time.monotonic() + 61
    monkeypatch.setattr(pricing.time, "monotonic", lambda: later)
    assert pricing.price_for(kind="openai", model="gpt-realtime", on=DAY) == exact
