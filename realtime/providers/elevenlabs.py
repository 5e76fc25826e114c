"""ElevenLabs: streaming text-to-speech and conversational agents.

TTS:    wss://api.elevenlabs.io/v1/text-to-speech/{voice_id}/stream-input?model_id=
agents: wss://api.elevenlabs.io/v1/convai/conversation?agent_id=
Clients connect to the gateway with `voice_id=` (TTS) or `agent_id=` (agents) in
the query; the key goes upstream in `xi-api-key`. TTS is metered by the
characters of `text` sent and the audio returned (seconds from `output_format`,
mp3_44100_128 by default); agents by the agent audio returned (and, like every
session, by duration).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from realtime.events import decode_event, mapping
from realtime.exceptions import BadRequest
from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    ProviderAdapter,
    ProviderSession,
    Query,
    UpstreamTarget,
    join_query,
    query_value,
    without,
)
from realtime.usage import Usage, audio_returned, named_format_bytes_per_second

DEFAULT_TTS_FORMAT = "mp3_44100_128"
DEFAULT_AGENT_FORMAT = "pcm_16000"


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

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        query = request.query
        if query_value(query, "agent_id"):
            path = "/v1/convai/conversation"
        elif voice := query_value(query, "voice_id"):
            path = f"/v1/text-to-speech/{quote(voice, safe='')}/stream-input"
            query = without(query, "voice_id")
        else:
            raise BadRequest(
                "Name an ElevenLabs voice_id (text-to-speech) or agent_id (agents) "
                "in the query."
            )
        return UpstreamTarget(
            url=join_query(request.base_url, query, path=path),
            headers=(("xi-api-key", request.credential.reveal()),),
        )

    def open_session(
        self, *, model: str, request: ConnectRequest, allowed_models: tuple[str, ...]
    ) -> ProviderSession:
        if query_value(request.query, "agent_id"):
            return AgentSession(model=model, allowed_models=allowed_models)
        output_format = query_value(request.query, "output_format") or (
            DEFAULT_TTS_FORMAT
        )
        return TextToSpeechSession(
            model=model, allowed_models=allowed_models, output_format=output_format
        )
