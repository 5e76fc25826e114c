"""What a session cost: usage times the model's list prices (ModelPrice)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from realtime.models import ModelPrice
from realtime.usage import Usage

_MILLION = Decimal(1_000_000)
_THOUSAND = Decimal(1_000)
_MINUTE = Decimal(60)


def price_for(*, kind: str, model: str, on: datetime.date) -> ModelPrice | None:
    """The price in force on `on`: an exact model name first, else the longest
    matching `prefix*` pattern; the latest effective date among those."""
    if not model:
        return None
    candidates = ModelPrice.objects.filter(provider_kind=kind, effective_from__lte=on)
    best: ModelPrice | None = None
    best_rank = (-1, datetime.date.min)
    for price in candidates:
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


def _rate(value: Decimal | None) -> Decimal:
    return value if value is not None else Decimal(0)


def cost_usd(usage: Usage, price: ModelPrice) -> Decimal:
    """The cost of `usage` at `price`, rounded to a millionth of a dollar."""
    text_in, audio_in = usage.input_text_tokens, usage.input_audio_tokens
    if text_in + audio_in == 0:  # no modality split reported: count it as text
        text_in = usage.input_tokens
    cached_text = usage.cached_text_tokens
    cached_audio = usage.cached_audio_tokens
    if cached_text + cached_audio == 0:
        cached_text = min(usage.cached_tokens, text_in)
    text_out, audio_out = usage.output_text_tokens, usage.output_audio_tokens
    if text_out + audio_out == 0:
        text_out = usage.output_tokens

    per_token = (
        Decimal(max(text_in - cached_text, 0)) * _rate(price.input_text_per_mtok)
        + Decimal(cached_text) * _rate(price.cached_input_text_per_mtok)
        + Decimal(max(audio_in - cached_audio, 0)) * _rate(price.input_audio_per_mtok)
        + Decimal(cached_audio) * _rate(price.cached_input_audio_per_mtok)
        + Decimal(text_out) * _rate(price.output_text_per_mtok)
        + Decimal(audio_out) * _rate(price.output_audio_per_mtok)
        + Decimal(usage.transcription_tokens) * _rate(price.transcription_per_mtok)
    ) / _MILLION
    other = (
        Decimal(str(usage.transcription_seconds))
        / _MINUTE
        * _rate(price.transcription_per_minute)
        + Decimal(usage.characters) / _THOUSAND * _rate(price.per_1k_characters)
        + Decimal(str(usage.audio_seconds)) / _MINUTE * _rate(price.per_audio_minute)
    )
    return (per_token + other).quantize(Decimal("0.000001"))
