"""Realtime translation over WebSocket: the per-session frame handler and target.

Protocol (openai-python 3.52, `resources/realtime/translations/translations.py`
and `types/realtime/realtime_translation_*`; OpenAI's model page
developers.openai.com/api/docs/models/gpt-realtime-translate, endpoint
`v1/realtime/translations`, priced per minute of audio):

- The client dials `wss://api.openai.com/v1/realtime/translations?model=...`:
  "The WebSocket URL requires a `model` query parameter", so the key's
  allow-list holds on it at the handshake, as for `/v1/realtime`; the server's
  first event, `session.created`, reports the model ("set at session creation
  and cannot be changed with `session.update`").
- The client streams its source audio in `session.input_audio_buffer.append`
  events: "base64-encoded 24 kHz PCM16 mono little-endian raw audio bytes"
  (other formats are refused). The events report no usage, so the gateway
  measures the source audio it relays: 48,000 bytes a second. That is
  `Usage.translation_seconds`, priced per minute (`translation_per_minute`).
"""

from __future__ import annotations

from realtime.events import decode_event, mapping
from realtime.providers.base import (
    ConnectRequest,
    ProviderAdapter,
    ProviderSession,
    UpstreamTarget,
    join_query,
)
from realtime.usage import Usage

TRANSLATIONS_PATH = "realtime/translations"
_APPEND = '"session.input_audio_buffer.append"'
# 24 kHz, 16-bit, one channel.
SOURCE_BYTES_PER_SECOND = 24_000 * 2


def translation_target(
    adapter: ProviderAdapter, request: ConnectRequest
) -> UpstreamTarget:
    """The translation endpoint on the provider's origin, the client's query
    (its model) along, the credential as the realtime endpoint takes it."""
    url = adapter.interface_url(request.base_url, request.options, TRANSLATIONS_PATH)
    return UpstreamTarget(
        url=join_query(url, request.query),
        headers=tuple(adapter.auth_headers(request)),
    )


def base64_size(text: str) -> int:
    """The number of bytes a base64 string decodes to (without decoding it)."""
    size = len(text)
    padding = 2 if text.endswith("==") else 1 if text.endswith("=") else 0
    return max(0, size * 3 // 4 - padding)


class TranslationSession(ProviderSession):
    """Measures the source audio relayed; learns the model the provider runs."""

    inspects_client_text = True
    reports_model = True

    def client_text(self, text: str) -> str:
        """Counts the seconds of source audio an append event carries."""
        if _APPEND in text or "\\u" in text:
            event = decode_event(text)
            if event is not None and event.get("type") == _APPEND.strip('"'):
                audio = event.get("audio")
                if isinstance(audio, str) and audio:
                    added = base64_size(audio) / SOURCE_BYTES_PER_SECOND
                    self.usage += Usage(translation_seconds=added)
        return text

    def upstream_text(self, text: str) -> str:
        """Reads the model `session.created` reports."""
        if '"session.created"' in text:
            event = decode_event(text)
            if event is not None and event.get("type") == "session.created":
                model = mapping(event.get("session")).get("model")
                if isinstance(model, str):
                    self.report_model(model)
        return text
