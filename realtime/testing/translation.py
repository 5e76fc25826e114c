"""A loopback fake of OpenAI's realtime translation (`/v1/realtime/translations`).

Served by :class:`~realtime.testing.FakeRealtimeServer` (and the
``fake_upstream`` command) beside its realtime endpoint. It speaks the event
shapes of openai-python 3.52's ``types/realtime/realtime_translation_*``:

- the handshake must name ``model`` in its query ("The WebSocket URL requires a
  `model` query parameter"); the fake refuses one without it with HTTP 400;
- first ``session.created`` (``session``: ``id``, ``type: "translation"``,
  ``model``, ``audio``, ``expires_at``);
- ``session.input_audio_buffer.append`` (base64 24 kHz PCM16 mono) ->
  ``session.output_audio.delta`` of the same length (the "translation": the
  audio back, with ``format``, ``sample_rate``, ``channels`` and
  ``elapsed_ms``) and a ``session.output_transcript.delta``;
- ``session.update`` -> ``session.updated`` (the model cannot change);
- ``session.close`` -> ``session.closed``, then a normal close.

Every server event has an ``event_id``. ``audio_bytes`` (on the protocol, summed
by the server as ``translated_bytes``) is the source audio received, so a test
can check the gateway's metering against it. No I/O here.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import time
from typing import Any

from realtime.testing.base import Close, Reply, Session, json_object

__all__ = ["TRANSLATION_PATHS", "TranslationProtocol"]

Event = dict[str, Any]

TRANSLATION_PATHS = ("/v1/realtime/translations", "/openai/v1/realtime/translations")
SAMPLE_RATE = 24_000
BYTES_PER_SECOND = SAMPLE_RATE * 2  # PCM16 mono


class TranslationProtocol(Session):
    """One translation session: client events in, server events out."""

    def __init__(
        self, *, number: int, model: str, client_events: list[str], audio: list[int]
    ) -> None:
        self._number = number
        self._ids = itertools.count(1)
        self._client_events = client_events
        self._audio = audio  # the server's list of source audio sizes, in bytes
        self._elapsed_ms = 0
        self._session: Event = {
            "id": f"sess_translation_{number}",
            "object": "realtime.translation_session",
            "type": "translation",
            "model": model,
            "audio": {"input": {}, "output": {"language": "es"}},
            "expires_at": int(time.time()) + 3600,
        }

    def _event(self, kind: str, **fields: Any) -> Event:
        event_id = f"event_translation_{self._number}_{next(self._ids)}"
        return {"type": kind, "event_id": event_id, **fields}

    def _error(self, code: str, message: str, param: str | None = None) -> Event:
        error = {
            "type": "invalid_request_error",
            "code": code,
            "message": message,
            "param": param,
        }
        return self._event("error", error=error)

    def opening(self) -> list[Reply]:
        """``session.created`` with the session's configuration."""
        return [self._event("session.created", session=self._session)]

    def receive(self, message: str | bytes) -> list[Reply]:
        """Answer one client frame."""
        event = json_object(message)
        kind = event.get("type") if event is not None else None
        if event is None or not isinstance(kind, str):
            return [self._error("invalid_json", "Expected a JSON event object.")]
        self._client_events.append(kind)
        if kind == "session.input_audio_buffer.append":
            return self._append(event)
        if kind == "session.update":
            update = event.get("session")
            if isinstance(update, dict) and isinstance(update.get("audio"), dict):
                self._session["audio"] = update["audio"]
            return [self._event("session.updated", session=self._session)]
        if kind == "session.close":
            return [self._event("session.closed"), Close(1000)]
        return [self._error("unknown_event", f"Unknown event {kind!r}.", "type")]

    def _append(self, event: Event) -> list[Reply]:
        audio = event.get("audio")
        try:
            data = base64.b64decode(audio, validate=True) if audio else b""
        except (TypeError, ValueError, binascii.Error):
            data = b""
        if not data or len(data) % 2:
            return [self._error("invalid_value", "Expected PCM16 audio.", "audio")]
        self._audio.append(len(data))
        self._elapsed_ms += len(data) * 1000 // BYTES_PER_SECOND
        return [
            self._event(
                "session.output_audio.delta",
                delta=audio,
                format="pcm16",
                sample_rate=SAMPLE_RATE,
                channels=1,
                elapsed_ms=self._elapsed_ms,
            ),
            self._event(
                "session.output_transcript.delta",
                delta="hola ",
                elapsed_ms=self._elapsed_ms,
            ),
        ]
