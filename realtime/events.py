"""Token usage, and cheap reads of the provider events that report it.

Pure: no I/O. Frames are forwarded untouched; a provider adapter decodes one only
after a substring check says it can carry usage.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from typing import Any


@dataclass(frozen=True, slots=True)
class Usage:
    """What a provider reports (or the gateway measures) as billable, summed over
    a session: tokens by kind, and the units non-token providers bill in."""

    responses: int = 0  # responses, turns or generations
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    transcription_tokens: int = 0
    transcription_seconds: float = 0.0
    characters: int = 0  # text sent for speech (TTS providers)
    audio_chunks: int = 0  # audio messages returned (TTS providers)
    audio_seconds: float = 0.0  # audio returned (TTS providers)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            *(getattr(self, f.name) + getattr(other, f.name) for f in fields(Usage))
        )

    def as_fields(self) -> dict[str, int]:
        """The usage as session-row column values."""
        return {f.name: getattr(self, f.name) for f in fields(Usage)}


NO_USAGE = Usage()


def count(value: Any) -> int:
    """A token count from untrusted JSON: a non-negative int, else 0."""
    return value if type(value) is int and value > 0 else 0


def seconds(value: Any) -> float:
    """A duration from untrusted JSON: a non-negative finite number, else 0."""
    if type(value) in (int, float) and 0 < value < 1e9:
        return float(value)
    return 0.0


def mapping(value: Any) -> dict:
    """A JSON object from untrusted JSON, else an empty dict."""
    return value if isinstance(value, dict) else {}


def decode_event(text: str) -> dict | None:
    """A JSON object from a text frame, or None when it is not one."""
    try:
        event = json.loads(text)
    except (ValueError, RecursionError):  # not JSON, or nested absurdly deep
        return None
    return event if isinstance(event, dict) else None
