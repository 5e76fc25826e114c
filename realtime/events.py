"""Cheap, careful reads of the provider events that report usage.

Pure: no I/O. Frames are forwarded untouched; a provider adapter decodes one only
after a substring check says it can carry usage, and reads its numbers as
untrusted JSON. What they add up to is `realtime.usage.Usage`.
"""

from __future__ import annotations

import json
from typing import Any


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
