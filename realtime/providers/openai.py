"""OpenAI Realtime (the GA interface)."""

from __future__ import annotations

from keys.values import Secret
from realtime.events import Usage, count, decode_event, mapping
from realtime.providers.base import ProviderAdapter, UpstreamTarget, join_query


class OpenAIAdapter(ProviderAdapter):
    """wss://api.openai.com/v1/realtime with `Authorization: Bearer`."""

    kind = "openai"
    default_url = "wss://api.openai.com/v1/realtime"

    def target(
        self,
        *,
        base_url: str,
        credential: Secret,
        query: tuple[tuple[str, str], ...],
        subprotocols: tuple[str, ...],
    ) -> UpstreamTarget:
        """The client's query (model, intent, ...) goes along; no beta header."""
        return UpstreamTarget(
            url=join_query(base_url, query),
            headers=(("Authorization", f"Bearer {credential.reveal()}"),),
        )

    def usage_in(self, text: str) -> Usage | None:
        """The usage of a `response.done` event."""
        if '"response.done"' not in text:
            return None
        event = decode_event(text)
        if event is None or event.get("type") != "response.done":
            return None
        return usage_from_response(mapping(mapping(event.get("response")).get("usage")))


def usage_from_response(usage: dict) -> Usage:
    """A `response.usage` object (GA and beta share the shape) as Usage."""
    input_details = mapping(usage.get("input_token_details"))
    output_details = mapping(usage.get("output_token_details"))
    input_tokens = count(usage.get("input_tokens"))
    output_tokens = count(usage.get("output_tokens"))
    return Usage(
        responses=1,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=count(usage.get("total_tokens")) or input_tokens + output_tokens,
        cached_tokens=count(input_details.get("cached_tokens")),
        input_text_tokens=count(input_details.get("text_tokens")),
        input_audio_tokens=count(input_details.get("audio_tokens")),
        output_text_tokens=count(output_details.get("text_tokens")),
        output_audio_tokens=count(output_details.get("audio_tokens")),
    )
