"""A loopback fake of Google's Gemini Live API (``BidiGenerateContent``).

It checks the opening handshake and the ``setup`` message the way the real
service does, then answers every turn deterministically with usage on the
``turnComplete`` message (:class:`GeminiUsage`). The protocol logic
(:class:`_GeminiSession`) does no I/O. Facts taken from public references are
cited below; the rest (marked "not verified") is a reasonable guess that tests
should not treat as the provider's contract.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Response

from realtime.testing.base import (
    Close,
    Handshake,
    LoopbackServer,
    Reply,
    Session,
    b64,
    b64decode,
    json_object,
    json_response,
    matches,
    read_field,
    words,
)
from realtime.testing.speech import pcm16

__all__ = ["FakeGeminiLive", "GeminiUsage"]

Event = dict[str, Any]

# Gemini Live API
#
# Facts relied on:
# - Endpoint /ws/google.ai.generativelanguage.{v1alpha,v1beta}.GenerativeService
#   .BidiGenerateContent; the Python SDK sends the key as the x-goog-api-key
#   header (googleapis/python-genai google/genai/live.py); REST-style ?key= is
#   used by browser clients (discuss.ai.google.dev thread 80647 and others).
# - A bad key is not refused at the HTTP handshake: the upgrade succeeds and the
#   server closes the socket. Close 1007 "API key expired..." (yagudaev/voiceclaw
#   PR 155), "API key not valid..." / "Method doesn't allow unregistered
#   callers" on close (discuss.ai.google.dev thread 116522), errors surfacing
#   only via onclose (fishjam-cloud/documentation PR 271). The codes follow
#   Google's REST mapping (invalid key: INVALID_ARGUMENT -> 1007, no identity:
#   PERMISSION_DENIED -> 1008): the 1008 for a missing key is not verified.
# - Invalid requests close with 1007 "Request contains an invalid argument."
#   (google-gemini/cookbook#781, google/adk-python#225).
# - A `model` query parameter closes with 1007 right after the handshake
#   (maintainer probe, per the brief; the reason text is not verified).
# - Server messages: setupComplete | serverContent | toolCall | ... with
#   usageMetadata a separate top-level field of BidiGenerateContentServerMessage
#   (v1beta proto, @google-ai/generativelanguage docs). usageMetadata rides on
#   the serverContent.turnComplete message: pipecat-derived clients warn
#   "Received turn_complete without usage_metadata" and comment that it "is
#   often attached to turn_complete message" (code search). Counts are per turn
#   (maintainer probe). serverContent.generationComplete exists in v1beta.
# - Server frames are binary: Google's live-api-web-console handles only Blob
#   messages ("non blob message" otherwise) and the Python SDK reads with
#   recv(decode=False). Hence binary_frames=True by default.
# - The SDK sends snake_case keys (client_content, realtime_input); proto JSON
#   accepts both spellings, so the fake does too.
# - Audio costs 32 tokens per second (Gemini docs); output audio is
#   audio/pcm;rate=24000.

GEMINI_PATH_RE = re.compile(
    r"/ws/google\.ai\.generativelanguage\.(v1alpha|v1beta)"
    r"\.GenerativeService\.BidiGenerateContent"
)
GEMINI_PATH = (
    "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
)
GEMINI_INVALID = "Request contains an invalid argument."
GEMINI_BAD_KEY = "API key not valid. Please pass a valid API key."
GEMINI_NO_KEY = (
    "Method doesn't allow unregistered callers (callers without established identity)."
)
GEMINI_MODEL_QUERY = (
    'Invalid JSON payload received. Unknown name "model": Cannot bind query parameter.'
)
GEMINI_DEFAULT_REPLY = "Hello from the fake Gemini Live upstream."
GEMINI_AUDIO_TOKENS_PER_SECOND = 32
GEMINI_OUTPUT_FORMAT = pcm16(24000)
GEMINI_OUTPUT_MIME = "audio/pcm;rate=24000"
GEMINI_OUTPUT_CHUNK = bytes(12000)  # 250 ms of 24 kHz 16-bit mono
GEMINI_OUTPUT_CHUNKS = 3
GEMINI_OUTPUT_AUDIO_TOKENS = 24  # 3 x 250 ms at 32 tokens per second


@dataclass(frozen=True, slots=True)
class GeminiUsage:
    """One turn's usage, rendered as the Live API's ``usageMetadata``.

    Counts are per turn, and the prompt includes the whole history:

    - ``prompt_text``: words of the setup's system instruction, of every client
      turn so far (``clientContent`` text parts and ``realtimeInput.text``) and
      of every earlier text reply.
    - ``prompt_audio``: ``floor(seconds * 32)`` per turn of client audio (rate
      from the blob's ``mimeType``, 16 kHz by default), summed over the history,
      plus 24 per earlier audio reply.
    - ``cached``: 0 on a connection's first turn, else the previous turn's
      prompt count // 2.
    - ``response_tokens``: words of the reply in TEXT mode; 24 in AUDIO mode
      (three 250 ms chunks at 32 tokens per second).
    - ``thoughts``: the fake's ``thoughts_tokens`` knob (0 by default).
    - total = prompt + response + thoughts (tool-use prompt tokens are always 0).

    Zero counts are left out, as proto3 JSON does with default values (not
    verified for the Live API specifically).
    """

    prompt_text: int
    prompt_audio: int
    cached: int
    response_tokens: int
    response_modality: str
    thoughts: int = 0

    @property
    def prompt(self) -> int:
        """``promptTokenCount``."""
        return self.prompt_text + self.prompt_audio

    @property
    def total(self) -> int:
        """``totalTokenCount``."""
        return self.prompt + self.response_tokens + self.thoughts

    def as_metadata(self) -> Event:
        """Render the ``usageMetadata`` object."""
        prompt_details = [
            {"modality": modality, "tokenCount": count}
            for modality, count in (
                ("TEXT", self.prompt_text),
                ("AUDIO", self.prompt_audio),
            )
            if count
        ]
        response_details = [
            {"modality": self.response_modality, "tokenCount": self.response_tokens}
        ]
        fields = {
            "promptTokenCount": self.prompt,
            "cachedContentTokenCount": self.cached,
            "responseTokenCount": self.response_tokens,
            "thoughtsTokenCount": self.thoughts,
            "totalTokenCount": self.total,
            "promptTokensDetails": prompt_details,
            "responseTokensDetails": response_details if self.response_tokens else [],
        }
        return {name: value for name, value in fields.items() if value}


def _text_words(parts: Any) -> tuple[int, str | None]:
    """Count the words of a list of content parts; return the joined text too."""
    texts = [
        part["text"]
        for part in (parts if isinstance(parts, list) else [])
        if isinstance(part, dict) and isinstance(part.get("text"), str)
    ]
    joined = " ".join(texts)
    return len(joined.split()), (joined if texts else None)


def _pcm_rate(mime_type: Any) -> int:
    match = re.search(r"rate=(\d+)", mime_type if isinstance(mime_type, str) else "")
    return int(match.group(1)) if match and int(match.group(1)) > 0 else 16000


class _GeminiSession(Session):
    """Setup, then turns; each turn ends with usage on the turnComplete message."""

    def __init__(
        self,
        *,
        refusal: Close | None,
        thoughts_tokens: int,
        usage_sent: list[Event],
        setups: list[Event],
    ) -> None:
        self._refusal = refusal
        self._thoughts = thoughts_tokens
        self._usage_sent = usage_sent
        self._setups = setups
        self._set_up = False
        self._audio_out = False
        self._pending_words = 0
        self._pending_audio = Fraction(0)  # seconds
        self._last_text: str | None = None
        self._history_text = 0
        self._history_audio = 0
        self._previous_prompt: int | None = None

    def opening(self) -> list[Reply]:
        return [self._refusal] if self._refusal else []

    def receive(self, message: str | bytes) -> list[Reply]:
        event = json_object(message)
        if event is None or len(event) != 1:
            return [Close(1007, GEMINI_INVALID)]
        if not self._set_up:
            return self._setup(event.get("setup"))
        content = read_field(event, "clientContent")
        if content is not None:
            return self._client_content(content)
        realtime = read_field(event, "realtimeInput")
        if realtime is not None:
            return self._realtime_input(realtime)
        if read_field(event, "toolResponse") is not None:
            return []
        return [Close(1007, GEMINI_INVALID)]  # unknown, or a second setup

    def _setup(self, setup: Any) -> list[Reply]:
        model = read_field(setup, "model")
        if not isinstance(model, str) or not model.startswith("models/"):
            return [Close(1007, GEMINI_INVALID)]
        modalities = read_field(
            read_field(setup, "generationConfig"), "responseModalities"
        )
        self._audio_out = isinstance(modalities, list) and "AUDIO" in modalities
        instruction = read_field(setup, "systemInstruction")
        self._history_text = _text_words(read_field(instruction, "parts"))[0]
        self._set_up = True
        self._setups.append(setup)
        return [{"setupComplete": {}}]

    def _client_content(self, content: Any) -> list[Reply]:
        turns = read_field(content, "turns") or []
        if not isinstance(turns, list):
            return [Close(1007, GEMINI_INVALID)]
        for turn in turns:
            count, text = _text_words(read_field(turn, "parts"))
            self._pending_words += count
            if text is not None and read_field(turn, "role") in (None, "user"):
                self._last_text = text
        return self._turn() if read_field(content, "turnComplete") is True else []

    def _realtime_input(self, realtime: Any) -> list[Reply]:
        blobs = read_field(realtime, "mediaChunks") or []
        audio = read_field(realtime, "audio")
        if not isinstance(blobs, list):
            return [Close(1007, GEMINI_INVALID)]
        for blob in [*blobs, audio] if audio is not None else blobs:
            data = b64decode(read_field(blob, "data"))
            if data is None:
                return [Close(1007, GEMINI_INVALID)]
            mime_type = read_field(blob, "mimeType")
            if isinstance(mime_type, str) and mime_type.startswith("audio/"):
                self._pending_audio += Fraction(len(data), 2 * _pcm_rate(mime_type))
        text = read_field(realtime, "text")
        if isinstance(text, str):
            # Stands in for voice activity detection: a text input is a turn.
            self._pending_words += len(text.split())
            self._last_text = text
            return self._turn()
        ended = read_field(realtime, "audioStreamEnd") is True
        if ended or read_field(realtime, "activityEnd") is not None:
            return self._turn() if self._pending_audio else []
        return []

    def _turn(self) -> list[Reply]:
        self._history_text += self._pending_words
        self._history_audio += math.floor(
            self._pending_audio * GEMINI_AUDIO_TOKENS_PER_SECOND
        )
        text = (self._last_text or "").strip()
        reply = f"You said: {text}" if text else GEMINI_DEFAULT_REPLY
        parts: list[list[dict[str, Any]]]
        if self._audio_out:
            inline = {"mimeType": GEMINI_OUTPUT_MIME, "data": b64(GEMINI_OUTPUT_CHUNK)}
            parts = [[{"inlineData": inline}]] * GEMINI_OUTPUT_CHUNKS
            response_tokens = GEMINI_OUTPUT_AUDIO_TOKENS
        else:
            parts = [[{"text": chunk}] for chunk in words(reply)]
            response_tokens = len(reply.split())
        usage = GeminiUsage(
            prompt_text=self._history_text,
            prompt_audio=self._history_audio,
            cached=0 if self._previous_prompt is None else self._previous_prompt // 2,
            response_tokens=response_tokens,
            response_modality="AUDIO" if self._audio_out else "TEXT",
            thoughts=self._thoughts,
        )
        if self._audio_out:
            self._history_audio += response_tokens
        else:
            self._history_text += response_tokens
        self._previous_prompt = usage.prompt
        self._pending_words, self._pending_audio, self._last_text = 0, Fraction(0), None
        metadata = usage.as_metadata()
        self._usage_sent.append(metadata)
        return [
            *({"serverContent": {"modelTurn": {"parts": part}}} for part in parts),
            {"serverContent": {"generationComplete": True}},
            {"serverContent": {"turnComplete": True}, "usageMetadata": metadata},
        ]


class FakeGeminiLive(LoopbackServer):
    """A Gemini Live API upstream (``BidiGenerateContent``) on a loopback port.

    Attributes beyond the shared ones: ``usage_sent`` (every ``usageMetadata``
    object sent, in order), ``setups`` (every accepted ``setup`` object) and
    ``audio_format`` (the output audio's :class:`AudioFormat`).
    """

    path = GEMINI_PATH
    audio_format = GEMINI_OUTPUT_FORMAT

    def __init__(
        self,
        *,
        api_key: str,
        binary_frames: bool = True,
        thoughts_tokens: int = 0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        self._api_key = api_key
        self._binary_frames = binary_frames
        self._thoughts_tokens = thoughts_tokens
        self.usage_sent: list[Event] = []
        self.setups: list[Event] = []

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if GEMINI_PATH_RE.fullmatch(handshake.path):
            return None
        error = {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}
        return json_response(connection, 404, {"error": error})

    def _session(self, handshake: Handshake) -> Session:
        given = handshake.header("x-goog-api-key") or handshake.query.get("key")
        refusal = None
        if not given:
            refusal = Close(1008, GEMINI_NO_KEY)
        elif not matches(given, self._api_key):
            refusal = Close(1007, GEMINI_BAD_KEY)
        elif "model" in handshake.query:
            refusal = Close(1007, GEMINI_MODEL_QUERY)
        return _GeminiSession(
            refusal=refusal,
            thoughts_tokens=self._thoughts_tokens,
            usage_sent=self.usage_sent,
            setups=self.setups,
        )

    def _encode(self, event: Event) -> str | bytes:
        text = json.dumps(event, separators=(",", ":"))
        return text.encode() if self._binary_frames else text
