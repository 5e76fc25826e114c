"""Loopback fakes of realtime AI providers other than OpenAI, for gateway tests.

Each fake is a ``websockets`` server on ``127.0.0.1`` (port 0 by default) that
checks the opening handshake the way the real provider does, records it (a
:class:`~realtime.fake_upstream.Handshake`), then speaks the provider's protocol
deterministically so that usage metering can be asserted exactly. All of them are
async context managers with ``url``, ``base_url``, ``handshakes``, ``closed`` and
``wait_closed_count(n)``, like :class:`~realtime.fake_upstream.FakeRealtimeServer`.

- :class:`FakeGeminiLive`: Gemini Live API (``BidiGenerateContent``).
- :class:`FakeCartesiaTTS`: Cartesia TTS WebSocket (``/tts/websocket``).
- :class:`FakeElevenLabs`: ElevenLabs TTS ``stream-input`` and Agents
  (``/v1/convai/conversation``).
- :class:`FakeAzureRealtime`: Azure OpenAI Realtime (GA and preview URLs) on top
  of the OpenAI fake's conversation logic.

The protocol logic lives in one ``_Session`` per connection, which turns a client
frame into replies (events, or a :class:`_Close`) and does no I/O; the servers
own the sockets. Facts taken from public references are cited where used; the
rest (marked "not verified") is a reasonable guess that tests should not treat
as the provider's contract.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import itertools
import json
import logging
import math
import re
from collections.abc import Collection
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Self
from urllib.parse import urlencode

from websockets.asyncio.server import Server, ServerConnection
from websockets.asyncio.server import serve as websockets_serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from realtime.fake_upstream import FakeRealtimeServer, Handshake

__all__ = [
    "AudioFormat",
    "AudioMeter",
    "FakeAzureRealtime",
    "FakeCartesiaTTS",
    "FakeElevenLabs",
    "FakeGeminiLive",
    "GeminiUsage",
]

logger = logging.getLogger(__name__)

Event = dict[str, Any]

MAX_CLOSE_REASON_BYTES = 123  # a close frame's payload is capped at 125 bytes
CHARACTERS_PER_SECOND = 20  # every fake TTS speaks 0.05 s of audio per character
CHUNK_SECONDS = Fraction(1, 10)  # audio is streamed in 100 ms chunks


@dataclass(frozen=True, slots=True)
class _Close:
    """A reply that closes the connection with ``code`` and ``reason``."""

    code: int
    reason: str = ""

    def __post_init__(self) -> None:
        reason = self.reason.encode()[:MAX_CLOSE_REASON_BYTES]
        object.__setattr__(self, "reason", reason.decode(errors="ignore"))


Reply = Event | _Close


class _Session:
    """One connection's protocol logic: client frames in, replies out, no I/O."""

    idle_timeout: float | None = None

    def opening(self) -> list[Reply]:
        """Replies sent as soon as the connection opens."""
        return []

    def receive(self, message: str | bytes) -> list[Reply]:
        """Answer one client frame."""
        raise NotImplementedError

    def idle(self) -> list[Reply]:
        """Answer ``idle_timeout`` seconds without a client frame."""
        return []


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """How many bytes a second of a (fake) audio encoding takes.

    ``frames_per_second`` is the sample rate for PCM and G.711, and the byte rate
    for compressed formats (whose frames are single bytes of filler: the fakes
    never produce decodable MP3 or Opus).
    """

    frames_per_second: int
    frame_size: int
    silence: bytes

    def clip(self, characters: int) -> bytes:
        """The audio spoken for ``characters`` characters (0.05 s each, floored)."""
        frames = characters * self.frames_per_second // CHARACTERS_PER_SECOND
        return self.silence * frames

    def seconds(self, size: int) -> Fraction:
        """How long ``size`` bytes of this format last."""
        return Fraction(size // self.frame_size, self.frames_per_second)

    def chunks(self, audio: bytes) -> list[bytes]:
        """Split audio into 100 ms chunks (the last one may be shorter)."""
        step = int(self.frames_per_second * CHUNK_SECONDS) * self.frame_size
        return [audio[i : i + step] for i in range(0, len(audio), step)]


def _pcm16(rate: int) -> AudioFormat:
    return AudioFormat(rate, 2, b"\x00\x00")


@dataclass(slots=True)
class AudioMeter:
    """Running totals of one fake, over all its connections."""

    characters_received: int = 0
    characters_sent: int = 0
    audio_bytes_sent: int = 0
    audio_bytes_received: int = 0
    exact_seconds_sent: Fraction = field(default_factory=Fraction)

    @property
    def audio_seconds_sent(self) -> float:
        """Seconds of audio sent so far."""
        return float(self.exact_seconds_sent)

    def sent(self, audio: bytes, audio_format: AudioFormat) -> None:
        """Count audio sent to a client."""
        self.audio_bytes_sent += len(audio)
        self.exact_seconds_sent += audio_format.seconds(len(audio))


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(value: Any) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (ValueError, binascii.Error):
        return None


def _json_object(message: str | bytes) -> Event | None:
    """Decode a frame holding a JSON object, or return None."""
    try:
        decoded = json.loads(message)
    except ValueError:  # also covers bytes that are not UTF-8
        return None
    return decoded if isinstance(decoded, dict) else None


def _matches(given: str | None, expected: str) -> bool:
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _json_response(connection: ServerConnection, status: int, body: Event) -> Response:
    response = connection.respond(status, json.dumps(body))
    del response.headers["Content-Type"]
    response.headers["Content-Type"] = "application/json"
    return response


def _words(text: str) -> list[str]:
    """Split text into chunks that concatenate back to it, one word each."""
    return re.findall(r"\s*\S+", text)


class _MeteredSpeech:
    """Totals of a text-to-speech fake, read from its ``meter``."""

    meter: AudioMeter

    @property
    def characters_received(self) -> int:
        """Text characters received to speak, over all connections."""
        return self.meter.characters_received

    @property
    def audio_bytes_sent(self) -> int:
        """Decoded audio bytes sent."""
        return self.meter.audio_bytes_sent

    @property
    def audio_seconds_sent(self) -> float:
        """Seconds of audio sent."""
        return self.meter.audio_seconds_sent


class _LoopbackServer:
    """Listening, handshake records, close records: what every fake shares."""

    path = "/"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0) -> None:
        self._host = host
        self._port = port
        self._server: Server | None = None
        self._connections: set[ServerConnection] = set()
        self._closed_changed = asyncio.Condition()
        self.handshakes: list[Handshake] = []
        self.closed: list[tuple[int | None, str]] = []

    async def start(self) -> None:
        """Start listening."""
        if self._server is not None:
            raise RuntimeError("the fake is already started")
        self._server = await websockets_serve(
            self._handle,
            self._host,
            self._port,
            process_request=self._process_request,
            max_size=16 * 1024 * 1024,
            ping_interval=None,
        )

    async def stop(self) -> None:
        """Close every live connection (1001), then the listening socket."""
        if self._server is None:
            return
        self._server.close(close_connections=True)
        await self._server.wait_closed()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        """The bound port (the requested one before start)."""
        if self._server is None:
            return self._port
        return self._server.sockets[0].getsockname()[1]

    @property
    def base_url(self) -> str:
        """``ws://host:port`` with no path."""
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"ws://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The provider's endpoint on this fake."""
        return self.base_url + self.path

    @property
    def open_connections(self) -> int:
        """How many clients are connected right now."""
        return len(self._connections)

    async def wait_closed_count(self, n: int, timeout: float = 5.0) -> None:
        """Wait until ``n`` connections have finished; raise TimeoutError after."""
        async with asyncio.timeout(timeout), self._closed_changed:
            await self._closed_changed.wait_for(lambda: len(self.closed) >= n)

    def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        """Return an HTTP response to refuse the handshake, or None to accept."""
        return None

    def _session(self, handshake: Handshake) -> _Session:
        raise NotImplementedError

    def _encode(self, event: Event) -> str | bytes:
        return json.dumps(event, separators=(",", ":"))

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        handshake = Handshake.from_request(request)
        self.handshakes.append(handshake)
        return self._refuse(connection, handshake)

    async def _handle(self, connection: ServerConnection) -> None:
        assert connection.request is not None  # set once the handshake succeeded
        session = self._session(Handshake.from_request(connection.request))
        self._connections.add(connection)
        try:
            await self._converse(connection, session)
            await connection.wait_closed()
        finally:
            self._connections.discard(connection)
            received = connection.protocol.close_rcvd
            self.closed.append(
                (None, "") if received is None else (received.code, received.reason)
            )
            async with self._closed_changed:
                self._closed_changed.notify_all()

    async def _converse(self, connection: ServerConnection, session: _Session) -> None:
        with contextlib.suppress(ConnectionClosed):  # the client left
            replies = session.opening()
            while await self._emit(connection, replies):
                try:
                    async with asyncio.timeout(session.idle_timeout):
                        message = await connection.recv()
                except TimeoutError:
                    replies = session.idle()
                else:
                    replies = session.receive(message)

    async def _emit(self, connection: ServerConnection, replies: list[Reply]) -> bool:
        """Send replies; return False once one of them closed the connection."""
        for reply in replies:
            if isinstance(reply, _Close):
                await connection.close(reply.code, reply.reason)
                return False
            await connection.send(self._encode(reply))
        return True


# --------------------------------------------------------------------------
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
# --------------------------------------------------------------------------

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
GEMINI_OUTPUT_FORMAT = _pcm16(24000)
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


def _field(obj: Any, name: str) -> Any:
    """Read a camelCase field, also accepting its snake_case spelling."""
    if not isinstance(obj, dict):
        return None
    if name in obj:
        return obj[name]
    return obj.get(re.sub(r"([A-Z])", r"_\1", name).lower())


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


class _GeminiSession(_Session):
    """Setup, then turns; each turn ends with usage on the turnComplete message."""

    def __init__(
        self,
        *,
        refusal: _Close | None,
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
        event = _json_object(message)
        if event is None or len(event) != 1:
            return [_Close(1007, GEMINI_INVALID)]
        if not self._set_up:
            return self._setup(event.get("setup"))
        content = _field(event, "clientContent")
        if content is not None:
            return self._client_content(content)
        realtime = _field(event, "realtimeInput")
        if realtime is not None:
            return self._realtime_input(realtime)
        if _field(event, "toolResponse") is not None:
            return []
        return [_Close(1007, GEMINI_INVALID)]  # unknown, or a second setup

    def _setup(self, setup: Any) -> list[Reply]:
        model = _field(setup, "model")
        if not isinstance(model, str) or not model.startswith("models/"):
            return [_Close(1007, GEMINI_INVALID)]
        modalities = _field(_field(setup, "generationConfig"), "responseModalities")
        self._audio_out = isinstance(modalities, list) and "AUDIO" in modalities
        instruction = _field(setup, "systemInstruction")
        self._history_text = _text_words(_field(instruction, "parts"))[0]
        self._set_up = True
        self._setups.append(setup)
        return [{"setupComplete": {}}]

    def _client_content(self, content: Any) -> list[Reply]:
        turns = _field(content, "turns") or []
        if not isinstance(turns, list):
            return [_Close(1007, GEMINI_INVALID)]
        for turn in turns:
            words, text = _text_words(_field(turn, "parts"))
            self._pending_words += words
            if text is not None and _field(turn, "role") in (None, "user"):
                self._last_text = text
        return self._turn() if _field(content, "turnComplete") is True else []

    def _realtime_input(self, realtime: Any) -> list[Reply]:
        blobs = _field(realtime, "mediaChunks") or []
        audio = _field(realtime, "audio")
        if not isinstance(blobs, list):
            return [_Close(1007, GEMINI_INVALID)]
        for blob in [*blobs, audio] if audio is not None else blobs:
            data = _b64decode(_field(blob, "data"))
            if data is None:
                return [_Close(1007, GEMINI_INVALID)]
            mime_type = _field(blob, "mimeType")
            if isinstance(mime_type, str) and mime_type.startswith("audio/"):
                self._pending_audio += Fraction(len(data), 2 * _pcm_rate(mime_type))
        text = _field(realtime, "text")
        if isinstance(text, str):
            # Stands in for voice activity detection: a text input is a turn.
            self._pending_words += len(text.split())
            self._last_text = text
            return self._turn()
        ended = _field(realtime, "audioStreamEnd") is True
        if ended or _field(realtime, "activityEnd") is not None:
            return self._turn() if self._pending_audio else []
        return []

    def _turn(self) -> list[Reply]:
        self._history_text += self._pending_words
        self._history_audio += math.floor(
            self._pending_audio * GEMINI_AUDIO_TOKENS_PER_SECOND
        )
        text = (self._last_text or "").strip()
        reply = f"You said: {text}" if text else GEMINI_DEFAULT_REPLY
        if self._audio_out:
            inline = {"mimeType": GEMINI_OUTPUT_MIME, "data": _b64(GEMINI_OUTPUT_CHUNK)}
            parts = [[{"inlineData": inline}]] * GEMINI_OUTPUT_CHUNKS
            response_tokens = GEMINI_OUTPUT_AUDIO_TOKENS
        else:
            parts = [[{"text": chunk}] for chunk in _words(reply)]
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


class FakeGeminiLive(_LoopbackServer):
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

    def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if GEMINI_PATH_RE.fullmatch(handshake.path):
            return None
        error = {"code": 404, "message": "Not Found", "status": "NOT_FOUND"}
        return _json_response(connection, 404, {"error": error})

    def _session(self, handshake: Handshake) -> _Session:
        given = handshake.header("x-goog-api-key") or handshake.query.get("key")
        refusal = None
        if not given:
            refusal = _Close(1008, GEMINI_NO_KEY)
        elif not _matches(given, self._api_key):
            refusal = _Close(1007, GEMINI_BAD_KEY)
        elif "model" in handshake.query:
            refusal = _Close(1007, GEMINI_MODEL_QUERY)
        return _GeminiSession(
            refusal=refusal,
            thoughts_tokens=self._thoughts_tokens,
            usage_sent=self.usage_sent,
            setups=self.setups,
        )

    def _encode(self, event: Event) -> str | bytes:
        text = json.dumps(event, separators=(",", ":"))
        return text.encode() if self._binary_frames else text


# --------------------------------------------------------------------------
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
# --------------------------------------------------------------------------

CARTESIA_PATH = "/tts/websocket"
CARTESIA_ENCODINGS = {
    "pcm_s16le": (2, b"\x00\x00"),
    "pcm_f32le": (4, bytes(4)),
    "pcm_mulaw": (1, b"\xff"),
    "pcm_alaw": (1, b"\xd5"),
}
CARTESIA_SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000, 44100, 48000})
CARTESIA_STEP_TIME_MS = 25.0
VERSION_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _cartesia_format(output_format: Any) -> AudioFormat | None:
    if not isinstance(output_format, dict) or output_format.get("container") != "raw":
        return None
    encoding = output_format.get("encoding")
    rate = output_format.get("sample_rate")
    if not isinstance(encoding, str) or encoding not in CARTESIA_ENCODINGS:
        return None
    if not isinstance(rate, int) or rate not in CARTESIA_SAMPLE_RATES:
        return None
    width, silence = CARTESIA_ENCODINGS[encoding]
    return AudioFormat(rate, width, silence)


@dataclass(slots=True)
class _CartesiaContext:
    audio_format: AudioFormat
    add_timestamps: bool
    elapsed: Fraction = field(default_factory=Fraction)


class _CartesiaSession(_Session):
    """Contexts keyed by ``context_id``; every request is answered in order."""

    def __init__(self, *, meter: AudioMeter) -> None:
        self._meter = meter
        self._contexts: dict[str, _CartesiaContext] = {}
        self._cancelled: set[str] = set()
        self._ids = itertools.count(1)
        self._flush_ids = itertools.count(1)

    def receive(self, message: str | bytes) -> list[Reply]:
        request = _json_object(message) if isinstance(message, str) else None
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
                context_id, "chunk", data=_b64(chunk), step_time=CARTESIA_STEP_TIME_MS
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


class FakeCartesiaTTS(_MeteredSpeech, _LoopbackServer):
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

    def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if handshake.path != CARTESIA_PATH:
            return _json_response(connection, 404, {"error": "Not found"})
        bearer = handshake.header("authorization") or ""
        given = (
            handshake.header("x-api-key")
            or bearer.removeprefix("Bearer ").strip()
            or handshake.query.get("api_key")
        )
        if not _matches(given, self._api_key):
            return _json_response(connection, 401, {"error": "Invalid API key"})
        version = handshake.query.get("cartesia_version") or handshake.header(
            "cartesia-version"
        )
        if version is None or not VERSION_RE.fullmatch(version):
            error = "Missing or invalid API version (cartesia_version)."
            return _json_response(connection, 400, {"error": error})
        self.versions.append(version)
        return None

    def _session(self, handshake: Handshake) -> _Session:
        return _CartesiaSession(meter=self.meter)


# --------------------------------------------------------------------------
# ElevenLabs: TTS stream-input and Agents
#
# Facts relied on:
# - TTS: wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/stream-input,
#   key in the xi-api-key header or the first message's xi_api_key; query
#   model_id and output_format (codec_rate[_bitrate], default mp3_44100_128)
#   (elevenlabs.io/docs/api-reference/websocket; api-evangelist/elevenlabs
#   asyncapi). Messages: initial {"text": " ", voice_settings,
#   generation_config {chunk_length_schedule}}, then {"text": ...,
#   "try_trigger_generation"?, "flush"?}, {"text": ""} ends input; the server
#   sends {audio, isFinal, normalizedAlignment, alignment} with alignment keys
#   chars / charStartTimesMs / charsDurationsMs (several clients, e.g. livekit
#   agents, parse these), then {"isFinal": true}.
# - Problems arrive as 1008 closes after the upgrade: a wrong key (pipecat#1006),
#   "voice_settings field must be provided in the first message..."
#   (pipecat#4541), "Have not received a new text input within the timeout of
#   20 seconds..." (elevenlabs/elevenlabs-docs#426). The reason texts for a
#   wrong key and bad input are not verified.
# - Agents: /v1/convai/conversation?agent_id=...; events from the official SDK
#   (elevenlabs-python conversational_ai/conversation.py):
#   conversation_initiation_metadata{_event: conversation_id,
#   agent_output_audio_format, user_input_audio_format}, user_transcript
#   {user_transcription_event.user_transcript}, agent_response
#   {agent_response_event.agent_response}, audio {audio_event {audio_base_64,
#   event_id}}, ping {ping_event {event_id, ping_ms}} answered by
#   {"type": "pong", "event_id": n}; client user_audio_chunk, user_message,
#   contextual_update, user_activity, conversation_initiation_client_data.
#   The real agent turns on voice activity; this fake answers once 1 s of
#   user audio has arrived (not the provider's behaviour).
# --------------------------------------------------------------------------

ELEVENLABS_TTS_PATH_RE = re.compile(r"/v1/text-to-speech/([^/]+)/stream-input")
ELEVENLABS_AGENT_PATH = "/v1/convai/conversation"
ELEVENLABS_DEFAULT_FORMAT = "mp3_44100_128"
ELEVENLABS_SCHEDULE = (120, 160, 250, 290)
ELEVENLABS_BAD_KEY = "Invalid API key"
ELEVENLABS_BAD_MESSAGE = "Invalid message received"
ELEVENLABS_VOICE_SETTINGS = (
    "voice_settings field must be provided in the first message and then either "
    "be not provided or not change."
)
ELEVENLABS_DEFAULT_REPLY = "Hello from the fake ElevenLabs agent."
ELEVENLABS_PING_MS = 20
ELEVENLABS_TURN_SECONDS = 1


def elevenlabs_format(name: str) -> AudioFormat | None:
    """Parse an ElevenLabs ``output_format`` such as ``pcm_16000``."""
    match = re.fullmatch(r"(pcm|ulaw|alaw|mp3|opus)_(\d+)(?:_(\d+))?", name)
    if match is None:
        return None
    codec, rate, bitrate = match.group(1), int(match.group(2)), match.group(3)
    if codec in ("mp3", "opus"):
        return None if bitrate is None else AudioFormat(int(bitrate) * 125, 1, b"\0")
    if bitrate is not None or rate not in CARTESIA_SAMPLE_RATES:
        return None
    if codec == "pcm":
        return _pcm16(rate)
    return AudioFormat(rate, 1, b"\xff" if codec == "ulaw" else b"\xd5")


def _alignment(text: str) -> Event:
    step = 1000 // CHARACTERS_PER_SECOND
    return {
        "chars": list(text),
        "charStartTimesMs": [i * step for i in range(len(text))],
        "charsDurationsMs": [step] * len(text),
    }


class _ElevenLabsTTSSession(_Session):
    """Buffered text, generated on schedule, flush or end of input."""

    def __init__(
        self,
        *,
        api_key: str,
        header_key: str | None,
        audio_format: AudioFormat | None,
        meter: AudioMeter,
        idle_timeout: float,
    ) -> None:
        self._api_key = api_key
        self._header_key = header_key
        self._format = audio_format
        self._meter = meter
        self.idle_timeout = idle_timeout
        self._started = False
        self._voice_settings: Any = None
        self._schedule: list[int] = list(ELEVENLABS_SCHEDULE)
        self._buffer = ""

    def opening(self) -> list[Reply]:
        if self._format is None:
            return [_Close(1008, "Invalid output_format")]
        if self._header_key is not None and not _matches(
            self._header_key, self._api_key
        ):
            return [_Close(1008, ELEVENLABS_BAD_KEY)]
        return []

    def idle(self) -> list[Reply]:
        seconds = f"{self.idle_timeout:g}"
        return [
            _Close(
                1008,
                "Have not received a new text input within the "
                f"timeout of {seconds} seconds.",
            )
        ]

    def receive(self, message: str | bytes) -> list[Reply]:
        request = _json_object(message) if isinstance(message, str) else None
        if request is None or not isinstance(request.get("text"), str):
            return [_Close(1008, ELEVENLABS_BAD_MESSAGE)]
        if not self._started:
            return self._start(request)
        settings = request.get("voice_settings")
        if settings is not None and settings != self._voice_settings:
            return [_Close(1008, ELEVENLABS_VOICE_SETTINGS)]
        text, flush = request["text"], request.get("flush") is True
        if text == "" and not flush:
            return [*self._generate(), {"isFinal": True}, _Close(1000)]
        self._buffer += text
        self._meter.characters_received += len(text)
        if flush or request.get("try_trigger_generation") is True:
            return self._generate()
        if len(self._buffer) >= self._schedule[0]:
            return self._generate()
        return []

    def _start(self, request: Event) -> list[Reply]:
        key = self._header_key or request.get("xi_api_key")
        if not isinstance(key, str) or not _matches(key, self._api_key):
            return [_Close(1008, ELEVENLABS_BAD_KEY)]
        self._started = True
        self._voice_settings = request.get("voice_settings")
        schedule = _field(request.get("generation_config"), "chunk_length_schedule")
        if (
            isinstance(schedule, list)
            and schedule
            and all(isinstance(n, int) and n > 0 for n in schedule)
        ):
            self._schedule = list(schedule)
        if request["text"].strip():  # the first message is normally one space
            self._buffer = request["text"]
            self._meter.characters_received += len(request["text"])
        return []

    def _generate(self) -> list[Reply]:
        text, self._buffer = self._buffer, ""
        if not text:
            return []
        if len(self._schedule) > 1:
            self._schedule.pop(0)
        assert self._format is not None  # refused at opening otherwise
        audio = self._format.clip(len(text))
        self._meter.sent(audio, self._format)
        alignment = _alignment(text)
        return [
            {
                "audio": _b64(audio),
                "isFinal": False,
                "normalizedAlignment": alignment,
                "alignment": alignment,
            }
        ]


class _ElevenLabsAgentSession(_Session):
    """Metadata and a ping first; a reply per user message or second of audio."""

    def __init__(
        self,
        *,
        refusal: _Close | None,
        number: int,
        input_format: AudioFormat,
        output_format: AudioFormat,
        format_names: tuple[str, str],
        meter: AudioMeter,
        pongs: list[int],
    ) -> None:
        self._refusal = refusal
        self._conversation_id = f"conv_{number:04d}"
        self._input = input_format
        self._output = output_format
        self._format_names = format_names
        self._meter = meter
        self._pongs = pongs
        self._event_ids = itertools.count(1)
        self._pending_audio = 0

    def opening(self) -> list[Reply]:
        if self._refusal is not None:
            return [self._refusal]
        output_name, input_name = self._format_names
        metadata = {
            "conversation_id": self._conversation_id,
            "agent_output_audio_format": output_name,
            "user_input_audio_format": input_name,
        }
        return [
            {
                "type": "conversation_initiation_metadata",
                "conversation_initiation_metadata_event": metadata,
            },
            self._ping(),
        ]

    def receive(self, message: str | bytes) -> list[Reply]:
        event = _json_object(message) if isinstance(message, str) else None
        if event is None:
            return [_Close(1008, ELEVENLABS_BAD_MESSAGE)]
        if "user_audio_chunk" in event:
            return self._audio(event["user_audio_chunk"])
        kind = event.get("type")
        if kind == "pong" and isinstance(event.get("event_id"), int):
            self._pongs.append(event["event_id"])
        elif kind == "user_message" and isinstance(event.get("text"), str):
            return self._respond(transcript=None, text=event["text"])
        return []  # client data, contextual updates, activity, tool results

    def _audio(self, chunk: Any) -> list[Reply]:
        data = _b64decode(chunk)
        if data is None:
            return [_Close(1008, ELEVENLABS_BAD_MESSAGE)]
        self._meter.audio_bytes_received += len(data)
        self._pending_audio += len(data)
        if self._input.seconds(self._pending_audio) < ELEVENLABS_TURN_SECONDS:
            return []
        milliseconds = int(self._input.seconds(self._pending_audio) * 1000)
        self._pending_audio = 0
        return self._respond(transcript=f"({milliseconds} ms of audio)", text=None)

    def _respond(self, *, transcript: str | None, text: str | None) -> list[Reply]:
        reply = (
            f"You said: {text.strip()}"
            if text and text.strip()
            else (ELEVENLABS_DEFAULT_REPLY)
        )
        audio = self._output.clip(len(reply))
        self._meter.characters_sent += len(reply)
        self._meter.sent(audio, self._output)
        replies: list[Reply] = []
        if transcript is not None:
            replies.append(
                {
                    "type": "user_transcript",
                    "user_transcription_event": {"user_transcript": transcript},
                }
            )
        replies.append(
            {
                "type": "agent_response",
                "agent_response_event": {"agent_response": reply},
            }
        )
        replies.extend(
            {
                "type": "audio",
                "audio_event": {
                    "audio_base_64": _b64(chunk),
                    "event_id": next(self._event_ids),
                },
            }
            for chunk in self._output.chunks(audio)
        )
        replies.append(self._ping())
        return replies

    def _ping(self) -> Event:
        ping = {"event_id": next(self._event_ids), "ping_ms": ELEVENLABS_PING_MS}
        return {"type": "ping", "ping_event": ping}


class FakeElevenLabs(_MeteredSpeech, _LoopbackServer):
    """ElevenLabs TTS ``stream-input`` and Agents upstreams on one loopback port.

    ``url`` is the base URL (both paths carry ids); use :meth:`tts_url` and
    :meth:`agent_url`. TTS totals: ``characters_received``, ``audio_bytes_sent``,
    ``audio_seconds_sent`` (0.05 s of silence per character in the requested
    ``output_format``). Agent totals live in ``agent_meter``
    (``audio_bytes_received``, ``audio_bytes_sent``, ``audio_seconds_sent``,
    ``characters_sent``: characters of agent replies spoken); ``pongs``
    lists the event ids of pongs received.
    """

    def __init__(
        self,
        *,
        api_key: str,
        agent_requires_auth: bool = True,
        agent_input_format: str = "pcm_16000",
        agent_output_format: str = "pcm_16000",
        inactivity_timeout: float = 20.0,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host=host, port=port)
        agent_formats = (
            elevenlabs_format(agent_input_format),
            elevenlabs_format(agent_output_format),
        )
        if None in agent_formats:
            raise ValueError("unsupported agent audio format")
        self._agent_formats = agent_formats
        self._agent_format_names = (agent_output_format, agent_input_format)
        self._api_key = api_key
        self._agent_requires_auth = agent_requires_auth
        self._inactivity_timeout = inactivity_timeout
        self._conversations = itertools.count(1)
        self.meter = AudioMeter()
        self.agent_meter = AudioMeter()
        self.pongs: list[int] = []

    @property
    def url(self) -> str:
        """The base URL: paths carry the voice id (TTS) or agent id (query)."""
        return self.base_url

    def tts_url(self, voice_id: str, **query: str) -> str:
        """The ``stream-input`` URL of a voice, with optional query parameters."""
        suffix = f"?{urlencode(query)}" if query else ""
        return f"{self.base_url}/v1/text-to-speech/{voice_id}/stream-input{suffix}"

    def agent_url(self, agent_id: str) -> str:
        """The Agents conversation URL of an agent."""
        query = urlencode({"agent_id": agent_id})
        return f"{self.base_url}{ELEVENLABS_AGENT_PATH}?{query}"

    def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if handshake.path == ELEVENLABS_AGENT_PATH or ELEVENLABS_TTS_PATH_RE.fullmatch(
            handshake.path
        ):
            return None
        return _json_response(connection, 404, {"detail": "Not Found"})

    def _session(self, handshake: Handshake) -> _Session:
        if handshake.path != ELEVENLABS_AGENT_PATH:
            name = handshake.query.get("output_format", ELEVENLABS_DEFAULT_FORMAT)
            return _ElevenLabsTTSSession(
                api_key=self._api_key,
                header_key=handshake.header("xi-api-key"),
                audio_format=elevenlabs_format(name),
                meter=self.meter,
                idle_timeout=self._inactivity_timeout,
            )
        refusal = None
        if not handshake.query.get("agent_id"):
            refusal = _Close(1008, "agent_id is required")
        elif self._agent_requires_auth and not _matches(
            handshake.header("xi-api-key"), self._api_key
        ):
            refusal = _Close(1008, ELEVENLABS_BAD_KEY)
        input_format, output_format = self._agent_formats
        assert input_format is not None and output_format is not None
        return _ElevenLabsAgentSession(
            refusal=refusal,
            number=next(self._conversations),
            input_format=input_format,
            output_format=output_format,
            format_names=self._agent_format_names,
            meter=self.agent_meter,
            pongs=self.pongs,
        )


# --------------------------------------------------------------------------
# Azure OpenAI Realtime
#
# Facts relied on (learn.microsoft.com .../openai/how-to/realtime-audio-websockets
# and MicrosoftDocs/azure-ai-docs commit d7c37bc):
# - GA: wss://<resource>.openai.azure.com/openai/v1/realtime?model=<deployment>;
#   preview: /openai/realtime?api-version=2025-04-01-preview&deployment=<name>,
#   "api-version ... (Preview version only)".
# - Auth: Authorization: Bearer <Entra token>, or the key as the api-key header
#   or api-key query parameter. The v1 API also takes the key as a bearer token
#   (the docs use the plain OpenAI client against /openai/v1/).
# - Errors are {"error": {"code", "message"}} (Microsoft Q&A 12820829 shows a
#   400 at the handshake). The 401 and DeploymentNotFound texts are Azure's
#   usual ones; the 404 for a missing api-version and the 400 for a dated
#   api-version on the GA path are recollections, not verified.
# - The preview interface really speaks the beta event shapes; this fake speaks
#   the GA shapes on both paths (the OpenAI fake's conversation logic).
# --------------------------------------------------------------------------

AZURE_GA_PATH = "/openai/v1/realtime"
AZURE_PREVIEW_PATH = "/openai/realtime"
AZURE_API_VERSION_RE = re.compile(r"\d{4}-\d{2}-\d{2}(-preview)?")
AZURE_GA_API_VERSIONS = frozenset({"v1", "preview"})
AZURE_DENIED = (
    "Access denied due to invalid subscription key or wrong API endpoint. Make "
    "sure to provide a valid key for an active subscription and use a correct "
    "regional API endpoint for your resource."
)
AZURE_NO_DEPLOYMENT = (
    "The API deployment for this resource does not exist. If you created the "
    "deployment within the last 5 minutes, please wait a moment and try again."
)


class FakeAzureRealtime(FakeRealtimeServer):
    """An Azure OpenAI Realtime upstream: OpenAI's fake behind Azure's handshake.

    ``url`` is the GA endpoint and ``preview_url`` the preview one; append the
    query (``?model=<deployment>``, or ``?api-version=...&deployment=...``).
    ``deployments_used`` records the deployment of every accepted handshake.
    ``deployments`` (optional) lists the deployments that exist.
    """

    def __init__(
        self,
        *,
        api_key: str,
        entra_token: str | None = None,
        deployments: Collection[str] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(api_key=None, host=host, port=port)
        self._azure_host = host
        self._azure_credentials = tuple(c for c in (api_key, entra_token) if c)
        self._azure_key = api_key
        self._deployments = None if deployments is None else frozenset(deployments)
        self.deployments_used: list[str] = []

    @property
    def base_url(self) -> str:
        """``ws://host:port`` with no path."""
        host = f"[{self._azure_host}]" if ":" in self._azure_host else self._azure_host
        return f"ws://{host}:{self.port}"

    @property
    def url(self) -> str:
        """The GA endpoint, ``.../openai/v1/realtime``."""
        return self.base_url + AZURE_GA_PATH

    @property
    def preview_url(self) -> str:
        """The preview endpoint, ``.../openai/realtime``."""
        return self.base_url + AZURE_PREVIEW_PATH

    async def _process_request(
        self, connection: ServerConnection, request: Request
    ) -> Response | None:
        handshake = Handshake.from_request(request)
        self.handshakes.append(handshake)
        refusal = self._azure_refusal(handshake)
        if refusal is not None:
            status, code, message = refusal
            body = {"error": {"code": code, "message": message}}
            return _json_response(connection, status, body)
        return None

    def _azure_refusal(self, handshake: Handshake) -> tuple[int, str, str] | None:
        query = handshake.query
        version = query.get("api-version")
        if handshake.path == AZURE_GA_PATH:
            deployment = query.get("model")
            if version is not None and version not in AZURE_GA_API_VERSIONS:
                return 400, "BadRequest", "API version not supported"
        elif handshake.path == AZURE_PREVIEW_PATH:
            deployment = query.get("deployment")
            if version is None or not AZURE_API_VERSION_RE.fullmatch(version):
                return 404, "404", "Resource not found"
        else:
            return 404, "404", "Resource not found"
        if not self._azure_authorized(handshake):
            return 401, "401", AZURE_DENIED
        if not deployment:
            return 400, "BadRequest", "A deployment (model) is required."
        if self._deployments is not None and deployment not in self._deployments:
            return 404, "DeploymentNotFound", AZURE_NO_DEPLOYMENT
        self.deployments_used.append(deployment)
        return None

    def _azure_authorized(self, handshake: Handshake) -> bool:
        key = handshake.header("api-key") or handshake.query.get("api-key")
        if key is not None:
            return _matches(key, self._azure_key)
        authorization = handshake.header("authorization") or ""
        token = authorization.removeprefix("Bearer ")
        return token != authorization and any(
            _matches(token, credential) for credential in self._azure_credentials
        )
