"""ElevenLabs: streaming text-to-speech and conversational agents.

TTS:    wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/stream-input?model_id=
        (elevenlabs.io/docs/api-reference/websocket)
agents: wss://api.elevenlabs.io/v1/convai/conversation?agent_id=
        (elevenlabs.io/docs/agents-platform/api-reference/eleven-agents/websocket)
Clients connect to the gateway with `voice_id=` (TTS) or `agent_id=` (agents) in
the query; the key goes upstream in `xi-api-key`. TTS is metered by the
characters of `text` sent and the audio returned (seconds from `output_format`,
mp3_44100_128 by default); agents by the agent audio returned (and, like every
session, by duration).

The provider row's URL is either endpoint as documented, query included
(`.../v1/text-to-speech/VOICE/stream-input?model_id=...&output_format=...`, or
`.../v1/convai/conversation?agent_id=...`), or a bare host (a regional one such
as wss://api.eu.residency.elevenlabs.io, or the form rows saved before this rule
hold), to which the path the client asks for is appended. A TTS URL serves only
TTS and an agents URL only agents (a client asking for the other is a bad
request). The client's voice_id replaces the URL's voice; a client that names
none is served the URL's voice. Query parameters merge as in every adapter (see
providers.base): the client's override the URL's of the same name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote, urlsplit

from realtime.events import decode_event, mapping
from realtime.exceptions import BadRequest
from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    OptionsError,
    ProviderAdapter,
    ProviderSession,
    Query,
    UpstreamTarget,
    join_query,
    merge_query,
    query_value,
    url_query,
    without,
)
from realtime.usage import Usage, audio_returned, named_format_bytes_per_second

DEFAULT_TTS_FORMAT = "mp3_44100_128"
DEFAULT_AGENT_FORMAT = "pcm_16000"
TTS_PATH = re.compile(r"(?P<base>.*)/v1/text-to-speech/(?P<voice>[^/]+)/stream-input")
AGENT_PATH = "/v1/convai/conversation"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """What a provider row's URL says: a bare base, or one of the endpoints."""

    base: str  # the path before /v1/...
    serves: str  # "tts", "agents" or "" (a bare base: whatever the client asks)
    voice: str = ""  # the voice in a TTS URL's path
    agent: str = ""  # the agent_id in an agents URL's query

    @classmethod
    def parse(cls, url: str) -> Endpoint:
        """OptionsError when the path is an ElevenLabs endpoint not served here."""
        path = urlsplit(url).path.rstrip("/")
        if match := TTS_PATH.fullmatch(path):
            return cls(match["base"], "tts", unquote(match["voice"]))
        if path.endswith(AGENT_PATH):
            agent = query_value(url_query(url), "agent_id")
            return cls(path.removesuffix(AGENT_PATH), "agents", agent=agent)
        if "/v1/" in f"{path}/":
            raise OptionsError(
                f"The URL's path {path!r} is not an ElevenLabs endpoint the gateway "
                "serves; expected .../v1/text-to-speech/VOICE/stream-input, "
                f"...{AGENT_PATH} or a bare host."
            )
        return cls(path, "")

    def route(self, query: Query) -> tuple[str, str]:
        """What the session is ("tts" or "agents") and its upstream path, for a
        client's `query`; BadRequest when it does not fit this endpoint."""
        asks = ""
        if query_value(query, "agent_id"):
            asks = "agents"
        elif query_value(query, "voice_id"):
            asks = "tts"
        serves = self.serves or asks
        if asks and asks != serves:
            raise BadRequest(
                f"This ElevenLabs provider serves {_SERVES[serves]} only; "
                f"the client asked for {_SERVES[asks]}."
            )
        if serves == "agents" and (query_value(query, "agent_id") or self.agent):
            return serves, self.base + AGENT_PATH
        voice = query_value(query, "voice_id") or self.voice
        if serves == "agents" or not voice:
            raise BadRequest(
                "Name an ElevenLabs voice_id (text-to-speech) or agent_id (agents) "
                "in the query."
            )
        path = f"/v1/text-to-speech/{quote(voice, safe='')}/stream-input"
        return "tts", self.base + path


_SERVES = {"tts": "text-to-speech", "agents": "agents"}


class TextToSpeechSession(ProviderSession):
    """Counts text characters out and audio back."""

    inspects_client_text = True

    def __init__(
        self, *, model: str, output_format: str, allowed_models: tuple[str, ...] = ()
    ) -> None:
        super().__init__(model=model, allowed_models=allowed_models)
        self._bytes_per_second = named_format_bytes_per_second(output_format)

    def client_text(self, text: str) -> str:
        event = decode_event(text)
        sent = event.get("text") if event is not None else None
        # The first message's single space only opens the stream: not billed.
        if isinstance(sent, str) and sent.strip():
            self.usage += Usage(characters=len(sent))
        return text

    def upstream_text(self, text: str) -> str:
        if '"audio"' in text or '"isFinal"' in text:
            event = decode_event(text)
            if event is not None:
                self._add(event)
        return text

    def _add(self, event: dict) -> None:
        audio = event.get("audio")
        if isinstance(audio, str) and audio:
            self.usage += audio_returned(audio, self._bytes_per_second)
        if event.get("isFinal") is True:
            self.usage += Usage(responses=1)


class AgentSession(ProviderSession):
    """Counts the agent's audio and responses."""

    def __init__(self, *, model: str, allowed_models: tuple[str, ...] = ()) -> None:
        super().__init__(model=model, allowed_models=allowed_models)
        self._bytes_per_second = named_format_bytes_per_second(DEFAULT_AGENT_FORMAT)

    def upstream_text(self, text: str) -> str:
        if '"audio_event"' in text or "conversation_initiation_metadata" in text:
            event = decode_event(text)
            if event is not None:
                self._add(event)
        elif '"agent_response"' in text:
            self.usage += Usage(responses=1)
        return text

    def _add(self, event: dict) -> None:
        metadata = mapping(event.get("conversation_initiation_metadata_event"))
        if metadata.get("agent_output_audio_format"):
            fmt = str(metadata["agent_output_audio_format"])
            self._bytes_per_second = named_format_bytes_per_second(fmt)
        audio = mapping(event.get("audio_event")).get("audio_base_64")
        if isinstance(audio, str) and audio:
            self.usage += audio_returned(audio, self._bytes_per_second)


class ElevenLabsAdapter(ProviderAdapter):
    """wss://api.elevenlabs.io, TTS stream-input or convai conversations."""

    kind = "elevenlabs"
    default_url = "wss://api.elevenlabs.io"
    credential_header = "xi-api-key"
    # Text-to-speech (the voice joins the query) and agents.
    client_routes = (
        ClientRoute(
            "v1/text-to-speech/<str:voice_id>/stream-input", query_params=("voice_id",)
        ),
        ClientRoute("v1/convai/conversation"),
    )

    checked_params = ("model_id", "agent_id", "voice_id")

    def handshake_model(self, query: Query, options: Mapping[str, Any]) -> str | None:
        if query_value(query, "agent_id"):
            return f"agent:{query_value(query, 'agent_id')}"
        return query_value(query, "model_id")

    @classmethod
    def validate_url(cls, url: str, options: Mapping[str, Any]) -> None:
        super().validate_url(url, options)
        Endpoint.parse(url)

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        _, path = Endpoint.parse(request.base_url).route(request.query)
        query = without(request.query, "voice_id")
        return UpstreamTarget(
            url=join_query(request.base_url, query, path=path),
            headers=(("xi-api-key", request.credential.reveal()),),
        )

    def open_session(
        self, *, model: str, request: ConnectRequest, allowed_models: tuple[str, ...]
    ) -> ProviderSession:
        serves, _ = Endpoint.parse(request.base_url).route(request.query)
        if serves == "agents":
            return AgentSession(model=model, allowed_models=allowed_models)
        query = merge_query(url_query(request.base_url), request.query)
        output_format = query_value(query, "output_format") or DEFAULT_TTS_FORMAT
        return TextToSpeechSession(
            model=model, allowed_models=allowed_models, output_format=output_format
        )
