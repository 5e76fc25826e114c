"""Events checked against the `openai` SDK's own types (its Realtime schema).

The Agents SDK validates every server event with exactly this discriminated
union (`agents.realtime.openai_realtime.AllRealtimeServerEvents`), so an event
that passes here is one the SDKs parse.
"""

from __future__ import annotations

from typing import Annotated, Any

from openai.types.beta.realtime import ErrorEvent as BetaErrorEvent
from openai.types.realtime import RealtimeErrorEvent, RealtimeServerEvent
from openai.types.shared import ErrorObject
from pydantic import Field, TypeAdapter

_SERVER_EVENT: TypeAdapter[Any] = TypeAdapter(
    Annotated[RealtimeServerEvent, Field(discriminator="type")]
)


def parse_error_event(event: dict[str, Any]) -> RealtimeErrorEvent:
    """The event as the SDK's GA and beta types parse it (strictly); else fail."""
    parsed = _SERVER_EVENT.validate_python(event)
    assert isinstance(parsed, RealtimeErrorEvent), type(parsed)
    BetaErrorEvent.model_validate(event)
    return parsed


def parse_error_body(body: dict[str, Any]) -> ErrorObject:
    """An HTTP error body in OpenAI's shape, `{"error": {...}}`; else fail."""
    assert set(body) == {"error"}, body
    return ErrorObject.model_validate(body["error"])
