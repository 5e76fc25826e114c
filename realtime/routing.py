"""WebSocket routes.

`/v1/realtime` serves every provider: the virtual key decides which. The other
paths are where providers' own SDKs connect, so an SDK works by changing only
its base URL; they reach the same consumer, and path parameters (an ElevenLabs
voice_id) join the query.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from realtime.consumers import RealtimeConsumer


class UnknownPath(AsyncWebsocketConsumer):
    """Any other path: refuse the handshake (HTTP 403), quietly."""

    async def connect(self) -> None:
        await self.close()


consumer = RealtimeConsumer.as_asgi()

websocket_urlpatterns = [
    path("v1/realtime", consumer),
    # Azure OpenAI SDKs (GA and preview)
    path("openai/v1/realtime", consumer),
    path("openai/realtime", consumer),
    # google-genai (Gemini Live)
    path(
        "ws/google.ai.generativelanguage.<str:api_version>."
        "GenerativeService.BidiGenerateContent",
        consumer,
    ),
    # Cartesia
    path("tts/websocket", consumer),
    # ElevenLabs: text-to-speech and agents
    path("v1/text-to-speech/<str:voice_id>/stream-input", consumer),
    path("v1/convai/conversation", consumer),
    re_path(r"", UnknownPath.as_asgi()),
]
