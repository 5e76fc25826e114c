"""The counter columns, declared once in realtime.usage, and the audio arithmetic."""

from __future__ import annotations

import dataclasses

import pytest
from django.db import models

from realtime.models import RealtimeSession
from realtime.usage import (
    COUNTER_FIELDS,
    METER_FIELDS,
    USAGE_FIELDS,
    Meter,
    Usage,
    audio_returned,
    base64_size,
    named_format_bytes_per_second,
    raw_bytes_per_second,
)

# Numeric columns of the session row that are not counters.
NOT_COUNTERS = {"close_code", "cost_usd", "attempts"}


def declared_types() -> dict[str, str]:
    """Each counter column and the type its class declares ("int" or "float")."""
    return {
        field.name: field.type
        for cls in (Meter, Usage)
        for field in dataclasses.fields(cls)
    }


def test_the_counter_columns_are_the_meter_then_the_usage():
    assert COUNTER_FIELDS == METER_FIELDS + USAGE_FIELDS
    assert len(set(COUNTER_FIELDS)) == len(COUNTER_FIELDS)
    assert set(declared_types().values()) == {"int", "float"}


def test_the_model_has_one_column_of_the_right_type_per_counter():
    numeric = {
        field.name: field
        for field in RealtimeSession._meta.get_fields()
        if isinstance(field, (models.IntegerField, models.FloatField))
        or field.name in NOT_COUNTERS
    }
    assert set(numeric) - NOT_COUNTERS == set(COUNTER_FIELDS)
    for name, declared in declared_types().items():
        column = numeric[name]
        if declared == "float":
            assert isinstance(column, models.FloatField), name
        else:
            assert isinstance(column, models.IntegerField), name


def test_snapshot_and_as_fields_are_the_row_values():
    meter = Meter()
    meter.messages_from_client += 1
    meter.bytes_from_upstream += 5
    assert list(meter.snapshot()) == list(METER_FIELDS)
    assert meter.snapshot()["messages_from_client"] == 1
    assert meter.snapshot()["bytes_from_upstream"] == 5

    usage = Usage(input_tokens=3, audio_seconds=1.5)
    assert list(usage.as_fields()) == list(USAGE_FIELDS)
    assert usage.as_fields()["input_tokens"] == 3
    assert usage.as_fields()["audio_seconds"] == 1.5


def test_the_meter_is_slotted_for_the_hot_path():
    meter = Meter()
    assert not hasattr(meter, "__dict__")
    with pytest.raises(AttributeError):
        meter.bytes_from_elsewhere = 1  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("encoded", "size"),
    [("", 0), ("AAAA", 3), ("AAA=", 2), ("AA==", 1), ("=", 0), ("==", 0)],
)
def test_base64_size(encoded, size):
    assert base64_size(encoded) == size


@pytest.mark.parametrize(
    ("name", "rate"),
    [
        ("pcm_16000", 32000),
        ("ulaw_8000", 8000),
        ("alaw_8000", 8000),
        ("mp3_44100_128", 16000),
        ("opus_48000_64", 8000),
        ("pcm_-16000", 0),
        ("pcm", 0),
        ("wav_16000", 0),
    ],
)
def test_named_format_bytes_per_second(name, rate):
    assert named_format_bytes_per_second(name) == rate


def test_raw_and_returned_audio():
    assert raw_bytes_per_second("pcm_s16le", 16000) == 32000
    assert raw_bytes_per_second("pcm_s16le", -1) == 0
    assert raw_bytes_per_second("flac", 16000) == 0
    assert audio_returned("AAAA", 3) == Usage(audio_chunks=1, audio_seconds=1.0)
    assert audio_returned("AAAA", 0) == Usage(audio_chunks=1)
