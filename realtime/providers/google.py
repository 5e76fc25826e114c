"""Google Gemini Live (BidiGenerateContent).

The key goes in `x-goog-api-key`. The model is named in the client's first
message, `{"setup": {"model": "models/..."}}`, not at the handshake: a `model`
query parameter makes the server close with 1007, so it is never forwarded. The
gateway reads that setup message to record the model and enforce the key's
allow-list. `usageMetadata` is reported per turn (the prompt count grows because
each turn re-reads the history), so the session sums every report. Gemini sends
its JSON messages as binary frames (`setupComplete` arrives as one: see
ai-shifu/ai-shifu#2760) and a client may do the same, so both kinds are read,
both ways: a binary setup message is checked like a text one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from realtime.events import count, decode_event, mapping
from realtime.providers.base import (
    ClientRoute,
    ConnectRequest,
    ProviderAdapter,
    ProviderSession,
    Query,
    UpstreamTarget,
    join_query,
    without,
)
from realtime.usage import Usage

_MODEL_PREFIX = "models/"


def _modality_tokens(details: Any) -> dict[str, int]:
    totals: dict[str, int] = {}
    if isinstance(details, list):
        for entry in details:
            entry = mapping(entry)
            modality = str(entry.get("modality", "")).upper()
            totals[modality] = totals.get(modality, 0) + count(entry.get("tokenCount"))
    return totals


def usage_from_metadata(metadata: dict) -> Usage:
    """One turn's `usageMetadata` as Usage (thoughts bill as output)."""
    prompt = count(metadata.get("promptTokenCount")) + count(
        metadata.get("toolUsePromptTokenCount")
    )
    response = count(metadata.get("responseTokenCount")) + count(
        metadata.get("thoughtsTokenCount")
    )
    prompt_by = _modality_tokens(metadata.get("promptTokensDetails"))
    cached_by = _modality_tokens(metadata.get("cacheTokensDetails"))
    response_by = _modality_tokens(metadata.get("responseTokensDetails"))
    return Usage(
        responses=1,
        input_tokens=prompt,
        output_tokens=response,
        total_tokens=count(metadata.get("totalTokenCount")) or prompt + response,
        cached_tokens=count(metadata.get("cachedContentTokenCount")),
        cached_text_tokens=cached_by.get("TEXT", 0),
        cached_audio_tokens=cached_by.get("AUDIO", 0),
        input_text_tokens=prompt_by.get("TEXT", 0),
        input_audio_tokens=prompt_by.get("AUDIO", 0),
        output_text_tokens=response_by.get("TEXT", 0),
        output_audio_tokens=response_by.get("AUDIO", 0),
    )


class GeminiLiveSession(ProviderSession):
    """Reads the setup message once, then only the usage reports.

    Gemini Live has no request that stops a turn and reports its usage (a
    client turn with `turnComplete` interrupts generation, per the migration
    notes on ai.google.dev's gemini-3.1-flash-live-preview page, but no report
    of the interrupted turn is promised), so a session ending mid-turn is closed at
    once (the base's `awaiting_usage` is False) and that turn's usage is lost.
    """

    def __init__(self, *, allowed_models: tuple[str, ...]) -> None:
        super().__init__(model="", allowed_models=allowed_models)
        self.inspects_client_text = True  # until the setup message has passed

    def client_text(self, text: str) -> str:
        event = decode_event(text)
        setup = mapping(event.get("setup")) if event else {}
        if not setup:
            return text
        self.inspects_client_text = False
        model = str(setup.get("model") or "")
        self.name_model(model.removeprefix(_MODEL_PREFIX))
        return text

    def upstream_text(self, text: str) -> str:
        if '"usageMetadata"' in text:
            self._add_usage(decode_event(text))
        return text

    def upstream_bytes(self, data: bytes) -> bytes:
        if b'"usageMetadata"' in data:
            try:
                event = json.loads(data)
            except (ValueError, RecursionError):
                return data
            self._add_usage(event if isinstance(event, dict) else None)
        return data

    def _add_usage(self, event: dict | None) -> None:
        if event is not None and isinstance(event.get("usageMetadata"), dict):
            self.usage += usage_from_metadata(event["usageMetadata"])


class GeminiLiveAdapter(ProviderAdapter):
    """wss://generativelanguage.googleapis.com/ws/...BidiGenerateContent."""

    kind = "google"
    default_url = (
        "wss://generativelanguage.googleapis.com/ws/"
        "google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    credential_header = "x-goog-api-key"
    credential_params = ("key",)
    # google-genai; the API version in the path is not passed on.
    client_routes = (
        ClientRoute(
            "ws/google.ai.generativelanguage.<str:api_version>."
            "GenerativeService.BidiGenerateContent"
        ),
    )

    def handshake_model(self, query: Query, options: Mapping[str, Any]) -> str | None:
        return None  # named in the setup message

    def target(self, request: ConnectRequest) -> UpstreamTarget:
        return UpstreamTarget(
            url=join_query(request.base_url, without(request.query, "model", "key")),
            headers=(("x-goog-api-key", request.credential.reveal()),),
        )

    def open_session(
        self, *, model: str, request: ConnectRequest, allowed_models: tuple[str, ...]
    ) -> ProviderSession:
        return GeminiLiveSession(allowed_models=allowed_models)
