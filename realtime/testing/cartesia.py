"""A loopback fake of Cartesia's TTS WebSocket (``/tts/websocket``).

Every transcript character is 0.05 s of silence in the requested raw format
(see :mod:`realtime.testing.speech`). The protocol logic
(:class:`_CartesiaSession`) does no I/O. Facts taken from public references are
cited below; the rest (marked "not verified") is a reasonable guess that tests
should not treat as the provider's contract.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from realtime.testing.base import (
    Handshake,
    LoopbackServer,
    Reply,
    Session,
    b64,
    json_object,
    json_response,
    matches,
)
from realtime.testing.speech import (
    CHARACTERS_PER_SECOND,
    PCM_SAMPLE_RATES,
    AudioFormat,
    AudioMeter,
    MeteredSpeech,
)

__all__ = ["FakeCartesiaTTS"]

Event = dict[str, Any]

# Cartesia TTS WebSocket
#
# Facts relied on (docs.cartesia.ai/2026-03-01/api-reference/tts/websocket and
# the cartesia-ai skills page):
# - wss://api.cartesia.ai/tts/websocket; the version comes as the
#   Cartesia-Version header or the cartesia_version query (the query wins);
#   the key as X-API-Key, Authorization: Bearer, or (older docs and many
#   clients, e.g. pipecat) the api_key query. A bad key is refused with HTTP 401
#   (pipecat-ai/rtvi-infra-examples#4, livekit/agents#6759). The 400 for a
#   missing version is per the brief (not verified).
# - Generation request {model_id, transcript, voice, context_id, output_format
#   {container: raw, encoding, sample_rate}, add_timestamps, continue}; cancel
#   {context_id, cancel: true}; replies chunk {type, data, done: false,
#   status_code: 206, step_time, context_id}, timestamps {word_timestamps
#   {words, start, end}}, flush_done, done {done: true, status_code: 206} and
#   error {done: true, title, message, error_code, status_code}.

CARTESIA_PATH = "/tts/websocket"
CARTESIA_ENCODINGS = {
    "pcm_s16le": (2, b"\x00\x00"),
    "pcm_f32le": (4, bytes(4)),
    "pcm_mulaw": (1, b"\xff"),
    "pcm_alaw": (1, b"\xd5"),
}
CARTESIA_STEP_TIME_MS = 25.0
VERSION_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _cartesia_format(output_format: Any) -> AudioFormat | None:
    if not isinstance(output_format, dict) or output_format.get("container") != "raw":
        return None
    encoding = output_format.get("encoding")
    rate = output_format.get("sample_rate")
    if not isinstance(encoding, str) or encoding not in CARTESIA_ENCODINGS:
        return None
    if not isinstance(rate, int) or rate not in PCM_SAMPLE_RATES:
        return None
    width, silence = CARTESIA_ENCODINGS[encoding]
    return AudioFormat(rate, width, silence)


@dataclass(slots=True)
class _CartesiaContext:
    audio_format: AudioFormat
    add_timestamps: bool
    elapsed: Fraction = field(default_factory=Fraction)


class _CartesiaSession(Session):
    """Contexts keyed by ``context_id``; every request is answered in order."""

    def __init__(self, *, meter: AudioMeter) -> None:
        self._meter = meter
        self._contexts: dict[str, _CartesiaContext] = {}
        self._cancelled: set[str] = set()
        self._ids = itertools.count(1)
        self._flush_ids = itertools.count(1)

    def receive(self, message: str | bytes) -> list[Reply]:
        request = json_object(message) if isinstance(message, str) else None
        if request is None:
            return [self._error(None, "Expected a JSON object in a text frame.")]
        context_id = request.get("context_id")
        if context_id is None:
            context_id = f"ctx_{next(self._ids):04d}"
        if not isinstance(context_id, str):
            return [self._error(None, "context_id must be a string.")]
        if request.get("cancel") is True:
            self._cancelled.add(context_id)
            self._contexts.pop(context_id, None)
            return []
        if context_id in self._cancelled:
            return []
        return self._generate(context_id, request)

    def _generate(self, context_id: str, request: Event) -> list[Reply]:
        transcript = request.get("transcript")
        if not isinstance(transcript, str):
            return [self._error(context_id, "transcript must be a string.")]
        context = self._contexts.get(context_id)
        if context is None:
            problem = self._invalid(request)
            if problem:
                return [self._error(context_id, problem)]
            audio_format = _cartesia_format(request["output_format"])
            assert audio_format is not None  # checked by _invalid
            context = _CartesiaContext(
                audio_format, request.get("add_timestamps") is True
            )
            self._contexts[context_id] = context
        replies = self._speak(context_id, context, transcript)
        if request.get("flush") is True:
            replies.append(
                self._status(
                    context_id,
                    "flush_done",
                    flush_done=True,
                    flush_id=next(self._flush_ids),
                )
            )
        if request.get("continue") is not True:
            del self._contexts[context_id]
            replies.append(self._status(context_id, "done", done=True))
        return replies

    def _invalid(self, request: Event) -> str | None:
        if not isinstance(request.get("model_id"), str) or not request["model_id"]:
            return "model_id is required."
        if not isinstance(request.get("voice"), dict):
            return "voice is required."
        if _cartesia_format(request.get("output_format")) is None:
            return "output_format must be raw with a supported encoding and rate."
        return None

    def _speak(
        self, context_id: str, context: _CartesiaContext, transcript: str
    ) -> list[Reply]:
        audio_format = context.audio_format
        audio = audio_format.clip(len(transcript))
        self._meter.characters_received += len(transcript)
        self._meter.sent(audio, audio_format)
        replies: list[Reply] = [
            self._status(
                context_id, "chunk", data=b64(chunk), step_time=CARTESIA_STEP_TIME_MS
            )
            for chunk in audio_format.chunks(audio)
        ]
        words = list(re.finditer(r"\S+", transcript))
        if context.add_timestamps and words:
            start = context.elapsed
            timestamps = {
                "words": [word.group() for word in words],
                "start": [
                    float(start + Fraction(w.start(), CHARACTERS_PER_SECOND))
                    for w in words
                ],
                "end": [
                    float(start + Fraction(w.end(), CHARACTERS_PER_SECOND))
                    for w in words
                ],
            }
            replies.append(
                self._status(context_id, "timestamps", word_timestamps=timestamps)
            )
        context.elapsed += audio_format.seconds(len(audio))
        return replies

    @staticmethod
    def _status(
        context_id: str, kind: str, *, done: bool = False, **fields: Any
    ) -> Event:
        return {
            "type": kind,
            "done": done,
            "status_code": 206,
            "context_id": context_id,
            **fields,
        }

    @staticmethod
    def _error(context_id: str | None, message: str) -> Event:
        return {
            "type": "error",
            "done": True,
            "title": "Invalid request",
            "message": message,
            "error_code": "invalid_request",
            "error": message,  # the field older API versions use
            "status_code": 400,
            "context_id": context_id,
        }


class FakeCartesiaTTS(MeteredSpeech, LoopbackServer):
    """A Cartesia TTS WebSocket upstream on a loopback port.

    Every transcript character is 0.05 s of silence in the requested raw format,
    streamed in 100 ms ``chunk`` messages. Totals over all connections:
    ``characters_received``, ``audio_bytes_sent``, ``audio_seconds_sent``; and
    ``versions`` (the API version each accepted connection asked for).
    """

    path = CARTESIA_PATH

    def __init__(self, *, api_key: str, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(host=host, port=port)
        self._api_key = api_key
        self.meter = AudioMeter()
        self.versions: list[str] = []

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if handshake.path != CARTESIA_PATH:
            return json_response(connection, 404, {"error": "Not found"})
        bearer = handshake.header("authorization") or ""
        given = (
            handshake.header("x-api-key")
            or bearer.removeprefix("Bearer ").strip()
            or handshake.query.get("api_key")
        )
        if not matches(given, self._api_key):
            return json_response(connection, 401, {"error": "Invalid API key"})
        version = handshake.query.get("cartesia_version") or handshake.header(
            "cartesia-version"
        )
        if version is None or not VERSION_RE.fullmatch(version):
            error = "Missing or invalid API version (cartesia_version)."
            return json_response(connection, 400, {"error": error})
        self.versions.append(version)
        return None

    def _session(self, handshake: Handshake) -> Session:
        return _CartesiaSession(meter=self.meter)
