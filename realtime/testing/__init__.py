"""Loopback fakes of the realtime providers, for tests, demos and benchmarks.

Every fake is a ``websockets`` server on ``127.0.0.1`` (port 0 by default) built
on :class:`~realtime.testing.base.LoopbackServer`: an async context manager with
``url``, ``base_url``, ``handshakes`` (one :class:`Handshake` each), ``closed``
and ``wait_closed_count(n)``. Each speaks its provider's protocol
deterministically, so that usage metering can be asserted exactly; the protocol
logic does no I/O.

- :class:`FakeRealtimeServer`: OpenAI Realtime (GA; refuses the beta shape), with
  scripting hooks (``fake.echo``, ``fake.close``, ``fake.flood``, ...), and on
  the same origin GPT-Live (``/v1/live/sessions``, :mod:`realtime.testing.live`)
  and realtime translation (``/v1/realtime/translations``,
  :mod:`realtime.testing.translation`).
- :class:`FakeCallsServer`: the same, with OpenAI's WebRTC call endpoints
  (``/v1/realtime/calls``, ``/v1/live/sessions`` over HTTP), their sideband
  sockets and hangups on the same port; ``manage.py fake_upstream`` serves it.
- :class:`FakeAzureRealtime`: Azure OpenAI Realtime (GA and preview URLs).
- :class:`FakeGeminiLive`: Gemini Live API (``BidiGenerateContent``).
- :class:`FakeCartesiaTTS`: Cartesia TTS WebSocket (``/tts/websocket``).
- :class:`FakeElevenLabs`: ElevenLabs TTS ``stream-input`` and Agents.
"""

from __future__ import annotations

from realtime.testing.azure import FakeAzureRealtime
from realtime.testing.base import Handshake, LoopbackServer
from realtime.testing.calls import FakeCall, FakeCallsServer, sdp_answer, serve
from realtime.testing.cartesia import FakeCartesiaTTS
from realtime.testing.conversation import FakeUsage
from realtime.testing.elevenlabs import FakeElevenLabs, elevenlabs_format
from realtime.testing.gemini import FakeGeminiLive, GeminiUsage
from realtime.testing.openai import FakeRealtimeServer
from realtime.testing.speech import AudioFormat, AudioMeter

__all__ = [
    "AudioFormat",
    "AudioMeter",
    "FakeAzureRealtime",
    "FakeCall",
    "FakeCallsServer",
    "FakeCartesiaTTS",
    "FakeElevenLabs",
    "FakeGeminiLive",
    "FakeRealtimeServer",
    "FakeUsage",
    "GeminiUsage",
    "Handshake",
    "LoopbackServer",
    "elevenlabs_format",
    "sdp_answer",
    "serve",
]
