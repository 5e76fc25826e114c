"""Cartesia text-to-speech over WebSocket.

wss://api.cartesia.ai/tts/websocket?cartesia_version=..., key in `X-API-Key`
(docs.cartesia.ai/2024-11-13/api-reference/tts/websocket: `cartesia_version`
may be given instead of the Cartesia-Version header). A provider row's URL may
carry cartesia_version itself; the `cartesia_version` option (or the adapter's
default) applies only when neither the URL nor the client names one, and a URL
and an option naming different versions are refused when the row is saved.
There are no tokens: the gateway meters the characters of every `transcript`
sent and the audio returned (`chunk` messages: count, and seconds from the
output format the client asked for in that context).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from realtime.events import count, decode_event, mapping
from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    OptionsError,
    ProviderAdapter,
    ProviderSession,
    Query,
    UpstreamTarget,
    join_query,
    query_value,
    url_query,
    without,
)
from realtime.usage import Usage, audio_returned, raw_bytes_per_second

DEFAULT_VERSION = "2025-04-16"


class CartesiaSession(ProviderSession):
    """Counts transcript characters out and audio chunks and seconds back."""

    inspects_client_text = True

    def __init__(self, *, allowed_models: tuple[str, ...]) -> None:
        super().__init__(model="", allowed_models=allowed_models)
        self._bytes_per_second: dict[str, int] = {}  # per context_id

    def client_text(self, text: str) -> str:
        event = decode_event(text)
        if event is None or "transcript" not in event:
            return text
        model = str(event.get("model_id") or "")
        if model:
            self.name_model(model)  # checked; the row records the latest
        transcript = event.get("transcript")
        characters = len(transcript) if isinstance(transcript, str) else 0
        audio = mapping(event.get("output_format"))
        rate = raw_bytes_per_second(
            str(audio.get("encoding", "")), count(audio.get("sample_rate"))
        )
        self._bytes_per_second[str(event.get("context_id", ""))] = rate
        self.usage += Usage(characters=characters)
        return text

    def upstream_text(self, text: str) -> str:
        if '"chunk"' in text:
            event = decode_event(text)
            if event is not None and event.get("type") == "chunk":
                self._add_chunk(event)
        elif '"done"' in text:
            event = decode_event(text)
            if event is not None and event.get("type") == "done":
                self.usage += Usage(responses=1)
        return text

    def _add_chunk(self, event: dict) -> None:
        data = event.get("data")
        rate = self._bytes_per_second.get(str(event.get("context_id", "")), 0)
        self.usage += audio_returned(data if isinstance(data, str) else "", rate)


class CartesiaAdapter(ProviderAdapter):
    """wss://api.cartesia.ai/tts/websocket."""

    kind = "cartesia"
    default_url = "wss://api.cartesia.ai/tts/websocket"
    credential_header = "x-api-key"
    credential_params = ("api_key",)
    client_routes = (ClientRoute("tts/websocket"),)

    @classmethod
    def option_names(cls) -> tuple[str, ...]:
        return ("cartesia_version",)

    @classmethod
    def validate_options(cls, options: Mapping[str, Any]) -> None:
        super().validate_options(options)
        if not isinstance(options.get("cartesia_version", DEFAULT_VERSION), str):
            raise OptionsError("cartesia_version must be a date string.")

    def handshake_model(self, query: Query, options: Mapping[str, Any]) -> str | None:
        return None  # each generation request names its model_id

    @classmethod
    def validate_url(cls, url: str, options: Mapping[str, Any]) -> None:
        super().validate_url(url, options)
        given = query_value(url_query(url), "cartesia_version")
        configured = options.get("cartesia_version")
        if given and configured and given != configured:
            raise OptionsError(
                f"The URL names cartesia_version {given!r} and the options name "
                f"{configured!r}; keep one."
            )

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        version = request.options.get("cartesia_version", DEFAULT_VERSION)
        return UpstreamTarget(
            url=join_query(
                request.base_url,
                without(request.query, "api_key"),
                defaults=(("cartesia_version", version),),
            ),
            headers=(("X-API-Key", request.credential.reveal()),),
        )

    def open_session(
        self, *, model: str, request: ConnectRequest, allowed_models: tuple[str, ...]
    ) -> ProviderSession:
        return CartesiaSession(allowed_models=allowed_models)
