"""What a session cost: usage times the model's list prices (ModelPrice).

Every session's end is priced, so a process keeps each provider kind's price
rows for GATEWAY_PRICE_CACHE_SECONDS (60 s; 0 reads them every time) instead of
reading them per session: a price added or changed in the admin applies to
sessions that end up to that long afterwards. Prices are list prices set ahead
of time (`effective_from`), so a minute's delay bills nothing differently in
practice.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable, Mapping
from decimal import Decimal

from django.conf import settings

from realtime.models import ModelPrice
from realtime.usage import Billing, Usage

_MILLION = Decimal(1_000_000)
_THOUSAND = Decimal(1_000)
_MINUTE = Decimal(60)


def price_for(*, kind: str, model: str, on: datetime.date) -> ModelPrice | None:
    """The price in force on `on`: an exact model name first, else the longest
    matching `prefix*` pattern; the latest effective date among those."""
    if not model:
        return None
    best: ModelPrice | None = None
    best_rank = (-1, datetime.date.min)
    for price in _prices_of(kind):
        if price.effective_from > on:
            continue
        pattern = price.model
        if pattern == model:
            specificity = 10_000
        elif pattern.endswith("*") and model.startswith(pattern[:-1]):
            specificity = len(pattern)
        else:
            continue
        rank = (specificity, price.effective_from)
        if rank > best_rank:
            best, best_rank = price, rank
    return best


# kind -> (when read, monotonic; its price rows). Replaced whole, never mutated,
# so readers on any thread see one consistent list.
_cache: dict[str, tuple[float, tuple[ModelPrice, ...]]] = {}


def _prices_of(kind: str) -> tuple[ModelPrice, ...]:
    """Every price row of a provider kind, read at most once per TTL."""
    ttl = settings.GATEWAY_PRICE_CACHE_SECONDS
    if ttl <= 0:
        return tuple(ModelPrice.objects.filter(provider_kind=kind))
    now = time.monotonic()
    cached = _cache.get(kind)
    if cached is None or now - cached[0] > ttl:
        rows = tuple(ModelPrice.objects.filter(provider_kind=kind))
        cached = _cache[kind] = (now, rows)
    return cached[1]


def forget_prices() -> None:
    """Drop the cached prices: the next lookup reads the table."""
    _cache.clear()


def prices_for(
    *, kind: str, models: Iterable[str], on: datetime.date
) -> dict[str, ModelPrice | None]:
    """The price in force on `on` of each of `models`."""
    return {model: price_for(kind=kind, model=model, on=on) for model in set(models)}


def parts_cost(
    parts: Iterable[tuple[str, Usage]], prices: Mapping[str, ModelPrice | None]
) -> Decimal | None:
    """The cost of usage billed in parts, each at its model's price (a part
    whose model has none costs nothing); None when no part's model is priced."""
    priced = [(usage, prices.get(model)) for model, usage in parts]
    if all(price is None for _, price in priced):
        return None
    return sum(
        (cost_usd(usage, price) for usage, price in priced if price is not None),
        Decimal(0),
    )


def session_cost(
    usage: Usage | None,
    kind: str,
    model: str,
    billing: Billing,
    on: datetime.date,
) -> Decimal | None:
    """A session's cost: each part of its usage at the rates of the model it is
    billed as (`Billing.parts`: the input transcription at the transcription
    model's, delegated work at its model's, the rest at the session model's).
    None when none of those models is priced."""
    if usage is None:
        return None
    parts = billing.parts(usage, model)
    prices = prices_for(kind=kind, models=(name for name, _ in parts), on=on)
    return parts_cost(parts, prices)


def _rate(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


def cost_usd(usage: Usage, price: ModelPrice) -> Decimal:
    """The cost of `usage` at `price`, rounded to a millionth of a dollar.

    Each kind of token has its own rate: input text, audio and image tokens,
    the cached part of each (reported within them, so the uncached part is the
    difference), output text and audio; transcription tokens or seconds; the
    TTS providers' characters and audio; GPT-Live's active and standby
    session time; translated audio. A blank rate bills nothing. A usage
    with no modality split counts its input and output as text, and its cached
    tokens as cached text.
    """
    text_in = usage.input_text_tokens
    audio_in, image_in = usage.input_audio_tokens, usage.input_image_tokens
    if text_in + audio_in + image_in == 0:  # no modality split reported
        text_in = usage.input_tokens
    cached_text = usage.cached_text_tokens
    cached_audio, cached_image = usage.cached_audio_tokens, usage.cached_image_tokens
    if cached_text + cached_audio + cached_image == 0:
        cached_text = min(usage.cached_tokens, text_in)
    text_out, audio_out = usage.output_text_tokens, usage.output_audio_tokens
    if text_out + audio_out == 0:
        text_out = usage.output_tokens

    per_token = (
        _tokens(text_in, cached_text, price.input_text_per_mtok)
        + _tokens(cached_text, 0, price.cached_input_text_per_mtok)
        + _tokens(audio_in, cached_audio, price.input_audio_per_mtok)
        + _tokens(cached_audio, 0, price.cached_input_audio_per_mtok)
        + _tokens(image_in, cached_image, price.input_image_per_mtok)
        + _tokens(cached_image, 0, price.cached_input_image_per_mtok)
        + _tokens(text_out, 0, price.output_text_per_mtok)
        + _tokens(audio_out, 0, price.output_audio_per_mtok)
        + _tokens(usage.transcription_tokens, 0, price.transcription_per_mtok)
    ) / _MILLION
    other = (
        Decimal(str(usage.transcription_seconds))
        / _MINUTE
        * _rate(price.transcription_per_minute)
        + Decimal(usage.characters) / _THOUSAND * _rate(price.per_1k_characters)
        + Decimal(str(usage.audio_seconds)) / _MINUTE * _rate(price.per_audio_minute)
        + _minutes(usage.active_seconds, price.per_active_minute)
        + _minutes(usage.standby_seconds, price.per_standby_minute)
        + _minutes(usage.translation_seconds, price.translation_per_minute)
    )
    return (per_token + other).quantize(Decimal("0.000001"))


def _minutes(seconds: float, rate: Decimal | None) -> Decimal:
    """`seconds` of time billed at a per-minute rate (billed by the second)."""
    return Decimal(str(seconds)) / _MINUTE * _rate(rate)


def _tokens(count: int, less: int, rate: Decimal | None) -> Decimal:
    """`count - less` tokens (never below none) times a per-million rate."""
    return Decimal(max(count - less, 0)) * _rate(rate)
