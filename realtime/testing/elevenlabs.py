"""A loopback fake of ElevenLabs: TTS ``stream-input`` and Agents on one port.

TTS speaks 0.05 s of silence per character in the requested ``output_format``
(see :mod:`realtime.testing.speech`); the agent answers each user message, or
each second of user audio, with a reply. The protocol logic (one session class
per endpoint) does no I/O. Facts taken from public references are cited below;
the rest (marked "not verified") is a reasonable guess that tests should not
treat as the provider's contract.
"""

from __future__ import annotations

import itertools
import re
from typing import Any
from urllib.parse import urlencode

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
)
from realtime.testing.speech import (
    CHARACTERS_PER_SECOND,
    PCM_SAMPLE_RATES,
    AudioFormat,
    AudioMeter,
    MeteredSpeech,
    pcm16,
)

__all__ = ["FakeElevenLabs", "elevenlabs_format"]

Event = dict[str, Any]

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
    if bitrate is not None or rate not in PCM_SAMPLE_RATES:
        return None
    if codec == "pcm":
        return pcm16(rate)
    return AudioFormat(rate, 1, b"\xff" if codec == "ulaw" else b"\xd5")


def _alignment(text: str) -> Event:
    step = 1000 // CHARACTERS_PER_SECOND
    return {
        "chars": list(text),
        "charStartTimesMs": [i * step for i in range(len(text))],
        "charsDurationsMs": [step] * len(text),
    }


class _ElevenLabsTTSSession(Session):
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
            return [Close(1008, "Invalid output_format")]
        if self._header_key is not None and not matches(
            self._header_key, self._api_key
        ):
            return [Close(1008, ELEVENLABS_BAD_KEY)]
        return []

    def idle(self) -> list[Reply]:
        seconds = f"{self.idle_timeout:g}"
        return [
            Close(
                1008,
                "Have not received a new text input within the "
                f"timeout of {seconds} seconds.",
            )
        ]

    def receive(self, message: str | bytes) -> list[Reply]:
        request = json_object(message) if isinstance(message, str) else None
        if request is None or not isinstance(request.get("text"), str):
            return [Close(1008, ELEVENLABS_BAD_MESSAGE)]
        if not self._started:
            return self._start(request)
        settings = request.get("voice_settings")
        if settings is not None and settings != self._voice_settings:
            return [Close(1008, ELEVENLABS_VOICE_SETTINGS)]
        text, flush = request["text"], request.get("flush") is True
        if text == "" and not flush:
            return [*self._generate(), {"isFinal": True}, Close(1000)]
        self._buffer += text
        self._meter.characters_received += len(text)
        if flush or request.get("try_trigger_generation") is True:
            return self._generate()
        if len(self._buffer) >= self._schedule[0]:
            return self._generate()
        return []

    def _start(self, request: Event) -> list[Reply]:
        key = self._header_key or request.get("xi_api_key")
        if not isinstance(key, str) or not matches(key, self._api_key):
            return [Close(1008, ELEVENLABS_BAD_KEY)]
        self._started = True
        self._voice_settings = request.get("voice_settings")
        schedule = read_field(request.get("generation_config"), "chunk_length_schedule")
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
                "audio": b64(audio),
                "isFinal": False,
                "normalizedAlignment": alignment,
                "alignment": alignment,
            }
        ]


class _ElevenLabsAgentSession(Session):
    """Metadata and a ping first; a reply per user message or second of audio."""

    def __init__(
        self,
        *,
        refusal: Close | None,
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
        event = json_object(message) if isinstance(message, str) else None
        if event is None:
            return [Close(1008, ELEVENLABS_BAD_MESSAGE)]
        if "user_audio_chunk" in event:
            return self._audio(event["user_audio_chunk"])
        kind = event.get("type")
        if kind == "pong" and isinstance(event.get("event_id"), int):
            self._pongs.append(event["event_id"])
        elif kind == "user_message" and isinstance(event.get("text"), str):
            return self._respond(transcript=None, text=event["text"])
        return []  # client data, contextual updates, activity, tool results

    def _audio(self, chunk: Any) -> list[Reply]:
        data = b64decode(chunk)
        if data is None:
            return [Close(1008, ELEVENLABS_BAD_MESSAGE)]
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
                    "audio_base_64": b64(chunk),
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


class FakeElevenLabs(MeteredSpeech, LoopbackServer):
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

    async def _refuse(
        self, connection: ServerConnection, handshake: Handshake
    ) -> Response | None:
        if handshake.path == ELEVENLABS_AGENT_PATH or ELEVENLABS_TTS_PATH_RE.fullmatch(
            handshake.path
        ):
            return None
        return json_response(connection, 404, {"detail": "Not Found"})

    def _session(self, handshake: Handshake) -> Session:
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
            refusal = Close(1008, "agent_id is required")
        elif self._agent_requires_auth and not matches(
            handshake.header("xi-api-key"), self._api_key
        ):
            refusal = Close(1008, ELEVENLABS_BAD_KEY)
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
