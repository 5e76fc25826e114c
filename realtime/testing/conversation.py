"""OpenAI's Realtime GA conversation without I/O: client events in, server events out.

Shared by the OpenAI and Azure fakes. It speaks the GA event shapes
(``session.created``, ``conversation.item.added``, ``response.output_text.delta``,
``response.done`` with GA usage, ...). Everything is deterministic: ids are
per-connection counters and usage follows the formula in :class:`FakeUsage`.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import logging
from dataclasses import dataclass, replace
from typing import Any

from realtime.testing.base import words
from realtime.testing.transcription import AUDIO_BYTES_PER_TOKEN, transcription_events

__all__ = [
    "BadClientEvent",
    "Conversation",
    "FakeUsage",
    "StreamedResponse",
    "parse_client_event",
]

logger = logging.getLogger(__name__)

Event = dict[str, Any]

DEFAULT_REPLY = "Hello from the fake realtime upstream."
BETA_CLOSE_REASON = "beta_api_shape_disabled"
AUDIO_CHUNK = bytes(4800)  # 100 ms of 24 kHz 16-bit mono silence
AUDIO_CHUNKS = 3
AUDIO_TOKENS_PER_CHUNK = 10
AUDIO_FORMAT = {"type": "audio/pcm", "rate": 24000}


@dataclass(frozen=True, slots=True)
class FakeUsage:
    """Deterministic usage of one response, in the GA ``usage`` shape.

    - ``input_text = max(1, W)``: W is the number of whitespace-separated words in
      every user ``input_text`` part added by ``conversation.item.create`` since
      the previous ``response.create`` (or since the connection opened).
    - ``input_audio = B // 800``: B is the number of decoded bytes appended with
      ``input_audio_buffer.append`` since the previous ``response.create``.
    - ``cached = 0`` for a connection's first response, else
      ``min(P // 2, input_text)`` where P is the previous response's input_text.
    - ``output_text`` = words in the reply text in text mode, else 0.
    - ``output_audio = 3 chunks * 10 = 30`` in audio mode, else 0.
    - ``input_tokens = input_text + input_audio``,
      ``output_tokens = output_text + output_audio``,
      ``total_tokens = input_tokens + output_tokens``.
    """

    input_text: int
    input_audio: int
    cached: int
    output_text: int
    output_audio: int

    def as_event_field(self) -> Event:
        """Render the GA ``response.usage`` object."""
        input_tokens = self.input_text + self.input_audio
        output_tokens = self.output_text + self.output_audio
        return {
            "total_tokens": input_tokens + output_tokens,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
            "input_token_details": {
                "text_tokens": self.input_text,
                "audio_tokens": self.input_audio,
                "image_tokens": 0,
                "cached_tokens": self.cached,
                "cached_tokens_details": {
                    "text_tokens": self.cached,
                    "audio_tokens": 0,
                    "image_tokens": 0,
                },
            },
            "output_token_details": {
                "text_tokens": self.output_text,
                "audio_tokens": self.output_audio,
            },
        }


class BadClientEvent(Exception):
    """A client frame that is not a usable event; becomes an ``error`` event."""

    def __init__(self, code: str, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def parse_client_event(text: str) -> Event:
    """Decode a text frame into a client event or raise :class:`BadClientEvent`."""
    try:
        event = json.loads(text)
    except ValueError as exc:
        raise BadClientEvent("invalid_json", "The frame is not valid JSON.") from exc
    if not isinstance(event, dict):
        raise BadClientEvent("invalid_json", "A client event must be a JSON object.")
    if not isinstance(event.get("type"), str):
        raise BadClientEvent("missing_type", "The event has no 'type' string.")
    return event


class Conversation:
    """One connection's state machine: client events in, server events out."""

    def __init__(self, *, number: int, model: str, intent: str = "") -> None:
        self._counters: dict[str, itertools.count[int]] = {}
        self._conversation_id = f"conv_{number:04d}"
        self.session: Event = (
            _transcription_session(number)
            if intent == "transcription"
            else _realtime_session(number, model)
        )
        self._last_item_id: str | None = None
        self._last_user_text: str | None = None
        self._pending_words = 0
        self._pending_audio_bytes = 0
        self._uncommitted_audio_bytes = 0  # appended since the last commit
        self._previous_input_text: int | None = None
        self._handlers = {
            "session.update": self._session_update,
            "conversation.item.create": self._item_create,
            "input_audio_buffer.append": self._audio_append,
            "input_audio_buffer.commit": self._audio_commit,
            "input_audio_buffer.clear": self._audio_clear,
            "response.create": self._response_create,
        }

    def _next_id(self, prefix: str) -> str:
        counter = self._counters.setdefault(prefix, itertools.count(1))
        return f"{prefix}_{next(counter):04d}"

    def emit(self, kind: str, **fields: Any) -> Event:
        """Build a server event with the next event id."""
        return {"type": kind, "event_id": self._next_id("event"), **fields}

    def error(
        self,
        code: str,
        message: str,
        *,
        event_id: Any = None,
        param: str | None = None,
    ) -> Event:
        """Build an OpenAI-style ``error`` event."""
        details = {"type": "invalid_request_error", "code": code, "message": message}
        return self.emit(
            "error", error={**details, "param": param, "event_id": event_id}
        )

    def created(self) -> Event:
        """The ``session.created`` event sent when a connection opens."""
        return self.emit("session.created", session=self.session)

    def beta_rejected(self) -> Event:
        """The error the real upstream sends to beta-shaped clients."""
        return self.error(
            BETA_CLOSE_REASON,
            "The beta Realtime interface (OpenAI-Beta: realtime=v1) is retired; "
            "use the GA interface.",
        )

    def handle(self, event: Event) -> list[Event]:
        """Answer one client event."""
        handler = self._handlers.get(event["type"])
        if handler is None:
            logger.debug("unknown client event type")
            return [
                self.error(
                    "unknown_event",
                    f"Unknown event type '{event['type']}'.",
                    event_id=event.get("event_id"),
                )
            ]
        try:
            return handler(event)
        except BadClientEvent as exc:
            logger.debug("invalid client event: %s", exc.code)
            return [
                self.error(
                    exc.code,
                    exc.message,
                    event_id=event.get("event_id"),
                    param=exc.param,
                )
            ]

    def _session_update(self, event: Event) -> list[Event]:
        update = event.get("session")
        if not isinstance(update, dict):
            raise BadClientEvent(
                "invalid_value", "Expected an object.", param="session"
            )
        self.session.update(update)
        return [self.emit("session.updated", session=self.session)]

    def _item_create(self, event: Event) -> list[Event]:
        item = event.get("item")
        if not isinstance(item, dict):
            raise BadClientEvent("invalid_value", "Expected an object.", param="item")
        if not isinstance(item.get("id"), str):
            item = {**item, "id": self._next_id("item")}
        item = {**item, "object": "realtime.item", "status": "completed"}
        self._remember_user_text(item)
        previous = event.get("previous_item_id", self._last_item_id)
        self._last_item_id = item["id"]
        return [
            self.emit("conversation.item.added", previous_item_id=previous, item=item),
            self.emit("conversation.item.done", previous_item_id=previous, item=item),
        ]

    def _remember_user_text(self, item: Event) -> None:
        content = item.get("content")
        if item.get("role") != "user" or not isinstance(content, list):
            return
        for part in content:
            if isinstance(part, dict) and part.get("type") == "input_text":
                text = part.get("text")
                if isinstance(text, str):
                    self._last_user_text = text
                    self._pending_words += len(text.split())

    def _audio_append(self, event: Event) -> list[Event]:
        audio = event.get("audio")
        try:
            if not isinstance(audio, str | bytes):
                raise TypeError("audio must be base64 text")
            size = len(base64.b64decode(audio, validate=True))
        except (TypeError, ValueError, binascii.Error) as exc:
            raise BadClientEvent(
                "invalid_value", "Expected base64-encoded audio.", param="audio"
            ) from exc
        self._pending_audio_bytes += size
        self._uncommitted_audio_bytes += size
        return []

    def _audio_commit(self, event: Event) -> list[Event]:
        item_id = self._next_id("item")
        previous, self._last_item_id = self._last_item_id, item_id
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "message",
            "status": "completed",
            "role": "user",
            "content": [{"type": "input_audio", "transcript": None}],
        }
        audio_bytes, self._uncommitted_audio_bytes = self._uncommitted_audio_bytes, 0
        events = [
            self.emit(
                "input_audio_buffer.committed",
                previous_item_id=previous,
                item_id=item_id,
            ),
            self.emit("conversation.item.added", previous_item_id=previous, item=item),
        ]
        model = self.transcription_model
        if model:  # the session transcribes its input
            events += transcription_events(
                self.emit, model=model, item_id=item_id, audio_bytes=audio_bytes
            )
        return events

    @property
    def transcription_model(self) -> str:
        """The model the session transcribes its input with ("" for none)."""
        audio = self.session.get("audio")
        input_audio = audio.get("input") if isinstance(audio, dict) else None
        config = (
            input_audio.get("transcription") if isinstance(input_audio, dict) else None
        )
        model = config.get("model") if isinstance(config, dict) else None
        return model if isinstance(model, str) else ""

    def _audio_clear(self, event: Event) -> list[Event]:
        self._uncommitted_audio_bytes = 0
        return [self.emit("input_audio_buffer.cleared")]

    def _response_create(self, event: Event) -> list[Event]:
        params = event.get("response", {})
        if not isinstance(params, dict):
            raise BadClientEvent(
                "invalid_value", "Expected an object.", param="response"
            )
        default = self.session.get("output_modalities", ["text"])
        modalities = params.get("output_modalities", default)
        audio = isinstance(modalities, list) and "audio" in modalities
        user_text = (self._last_user_text or "").strip()
        reply = f"You said: {user_text}" if user_text else DEFAULT_REPLY
        usage = self._take_usage(reply, audio=audio)
        return _ResponseScript(
            conversation=self,
            response_id=self._next_id("resp"),
            item_id=self._next_id("item"),
            reply=reply,
            audio=audio,
        ).events(usage)

    def stream_response(self, *, deltas: int) -> StreamedResponse:
        """A long text response of `deltas` one-word deltas, for the peer to send
        one at a time (it may be cancelled before the last)."""
        reply = " ".join(f"w{n}" for n in range(1, deltas + 1))
        script = _ResponseScript(
            conversation=self,
            response_id=self._next_id("resp"),
            item_id=self._next_id("item"),
            reply=reply,
            audio=False,
        )
        return StreamedResponse(script, self._take_usage(reply, audio=False))

    def _take_usage(self, reply: str, *, audio: bool) -> FakeUsage:
        """Charge what arrived since the previous response, then reset."""
        input_text = max(1, self._pending_words)
        previous = self._previous_input_text
        usage = FakeUsage(
            input_text=input_text,
            input_audio=self._pending_audio_bytes // AUDIO_BYTES_PER_TOKEN,
            cached=0 if previous is None else min(previous // 2, input_text),
            output_text=0 if audio else len(reply.split()),
            output_audio=AUDIO_CHUNKS * AUDIO_TOKENS_PER_CHUNK if audio else 0,
        )
        self._previous_input_text = input_text
        self._pending_words = 0
        self._pending_audio_bytes = 0
        return usage

    @property
    def conversation_id(self) -> str:
        """The id of the connection's default conversation."""
        return self._conversation_id

    def added_item(self, item_id: str) -> None:
        """Record an assistant item as the newest in the conversation."""
        self._last_item_id = item_id


def _realtime_session(number: int, model: str) -> Event:
    return {
        "type": "realtime",
        "object": "realtime.session",
        "id": f"sess_{number:04d}",
        "model": model,
        "output_modalities": ["text"],
        "instructions": "",
        "audio": {
            "input": {"format": {**AUDIO_FORMAT}},
            "output": {"format": {**AUDIO_FORMAT}, "voice": "alloy"},
        },
    }


def _transcription_session(number: int) -> Event:
    """A transcription session (`?intent=transcription`): no model of its own;
    it transcribes once `audio.input.transcription.model` is set (openai-python
    `types/realtime/realtime_transcription_session_create_request.py`)."""
    return {
        "type": "transcription",
        "object": "realtime.transcription_session",
        "id": f"sess_{number:04d}",
        "audio": {"input": {"format": {**AUDIO_FORMAT}, "transcription": None}},
    }


class StreamedResponse:
    """A text response sent a delta at a time, which the client may cancel.

    Its usage is the response's input (as :class:`FakeUsage`) and one output
    token a delta sent. ``finish("cancelled")`` ends it early the way OpenAI
    answers ``response.cancel``: a ``response.done`` with status ``cancelled``
    and the usage so far.
    """

    def __init__(self, script: _ResponseScript, usage: FakeUsage) -> None:
        self._script = script
        self._usage = usage
        self._words = words(script.reply)
        self.sent = 0  # deltas sent so far

    @property
    def response_id(self) -> str:
        """The response's id."""
        return self._script.response_id

    @property
    def remaining(self) -> int:
        """Deltas still to send."""
        return len(self._words) - self.sent

    def opening(self) -> list[Event]:
        """``response.created`` and the empty item and part."""
        script = self._script
        emit = script.conversation.emit
        return [
            emit(
                "response.created",
                response=script._response("in_progress", [], None),
            ),
            emit(
                "response.output_item.added",
                **script._item_ids(),
                item=script._item("in_progress", []),
            ),
            emit(
                "response.content_part.added",
                **script._ids(),
                part={"type": "text", "text": ""},
            ),
        ]

    def delta(self) -> Event:
        """The next ``response.output_text.delta``."""
        word = self._words[self.sent]
        self.sent += 1
        script = self._script
        return script.conversation.emit(
            "response.output_text.delta", **script._ids(), delta=word
        )

    def finish(self, status: str) -> list[Event]:
        """The events that end it: ``completed`` or ``cancelled``."""
        script = self._script
        emit = script.conversation.emit
        text = "".join(self._words[: self.sent])
        usage = replace(self._usage, output_text=self.sent).as_event_field()
        script.conversation.added_item(script.item_id)
        if status == "cancelled":
            item = script._item("incomplete", [{"type": "output_text", "text": text}])
            response = script._response("cancelled", [item], usage)
            response["status_details"] = {
                "type": "cancelled",
                "reason": "client_cancelled",
            }
            return [emit("response.done", response=response)]
        item = script._item("completed", [{"type": "output_text", "text": text}])
        return [
            emit("response.output_text.done", **script._ids(), text=text),
            emit(
                "response.content_part.done",
                **script._ids(),
                part={"type": "text", "text": text},
            ),
            emit("response.output_item.done", **script._item_ids(), item=item),
            emit(
                "response.done",
                response=script._response("completed", [item], usage),
            ),
        ]


@dataclass(frozen=True, slots=True)
class _ResponseScript:
    """The GA event sequence of one response."""

    conversation: Conversation
    response_id: str
    item_id: str
    reply: str
    audio: bool

    def _item_ids(self) -> Event:
        return {"response_id": self.response_id, "output_index": 0}

    def _ids(self) -> Event:
        return {**self._item_ids(), "item_id": self.item_id, "content_index": 0}

    def _response(self, status: str, output: list[Event], usage: Event | None) -> Event:
        return {
            "object": "realtime.response",
            "id": self.response_id,
            "status": status,
            "status_details": None,
            "conversation_id": self.conversation.conversation_id,
            "output_modalities": ["audio" if self.audio else "text"],
            "output": output,
            "usage": usage,
        }

    def _item(self, status: str, content: list[Event]) -> Event:
        return {
            "id": self.item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def events(self, usage: FakeUsage) -> list[Event]:
        """Every event of the response, ``response.created`` to ``response.done``."""
        emit = self.conversation.emit
        if self.audio:
            part = {"type": "audio", "transcript": ""}
            done_part = {"type": "audio", "transcript": self.reply}
            content = {"type": "output_audio", "transcript": self.reply}
            body = self._audio_events()
        else:
            part = {"type": "text", "text": ""}
            done_part = {"type": "text", "text": self.reply}
            content = {"type": "output_text", "text": self.reply}
            body = self._text_events()
        item = self._item("completed", [content])
        ids = self._item_ids()
        events = [
            emit("response.created", response=self._response("in_progress", [], None)),
            emit(
                "response.output_item.added",
                **ids,
                item=self._item("in_progress", []),
            ),
            emit("response.content_part.added", **self._ids(), part=part),
            *body,
            emit("response.content_part.done", **self._ids(), part=done_part),
            emit("response.output_item.done", **ids, item=item),
            emit(
                "response.done",
                response=self._response("completed", [item], usage.as_event_field()),
            ),
        ]
        self.conversation.added_item(self.item_id)
        return events

    def _text_events(self) -> list[Event]:
        emit = self.conversation.emit
        deltas = [
            emit("response.output_text.delta", **self._ids(), delta=chunk)
            for chunk in words(self.reply)
        ]
        return [
            *deltas,
            emit("response.output_text.done", **self._ids(), text=self.reply),
        ]

    def _audio_events(self) -> list[Event]:
        emit = self.conversation.emit
        chunk = base64.b64encode(AUDIO_CHUNK).decode("ascii")
        audio = [
            emit("response.output_audio.delta", **self._ids(), delta=chunk)
            for _ in range(AUDIO_CHUNKS)
        ]
        transcript = [
            emit("response.output_audio_transcript.delta", **self._ids(), delta=word)
            for word in words(self.reply)
        ]
        return [
            *audio,
            *transcript,
            emit(
                "response.output_audio_transcript.done",
                **self._ids(),
                transcript=self.reply,
            ),
            emit("response.output_audio.done", **self._ids()),
        ]
