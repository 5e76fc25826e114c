"""Junk frames never crash a provider fake."""

from __future__ import annotations

import contextlib
import json

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from realtime.testing import (
    FakeAzureRealtime,
    FakeCartesiaTTS,
    FakeElevenLabs,
    FakeGeminiLive,
)
from tests.support.fakes import ELEVEN_INIT, GEMINI_SETUP, KEY

JUNK = [
    b"\xff\xfe",
    "[]",
    "null",
    '{"setup": []}',
    '{"text": [], "voice_settings": [], "generation_config": []}',
    '{"transcript": "x", "model_id": [], "output_format": {"encoding": []}}',
    '{"transcript": [], "context_id": 5, "cancel": []}',
    '{"user_audio_chunk": 5, "type": "pong", "event_id": []}',
    '{"realtimeInput": {"mediaChunks": [{"data": []}], "audio": "x"}}',
    '{"clientContent": {"turns": [{"parts": [5]}, 7], "turnComplete": true}}',
    '{"type": "user_message", "text": 5}',
]


@pytest.mark.timeout(10)
async def test_bad_input_never_crashes_a_fake(caplog: pytest.LogCaptureFixture) -> None:
    gemini, cartesia = FakeGeminiLive(api_key=KEY), FakeCartesiaTTS(api_key=KEY)
    eleven, azure = FakeElevenLabs(api_key=KEY), FakeAzureRealtime(api_key=KEY)
    async with gemini, cartesia, eleven, azure:
        targets = [
            (f"{gemini.url}?key={KEY}", {}, [json.dumps(GEMINI_SETUP)]),
            (f"{cartesia.url}?cartesia_version=2025-04-16&api_key={KEY}", {}, []),
            (eleven.tts_url("v"), {"xi-api-key": KEY}, [json.dumps(ELEVEN_INIT)]),
            (eleven.agent_url("a"), {"xi-api-key": KEY}, []),
            (f"{azure.url}?model=dep", {"api-key": KEY}, []),
        ]
        for url, headers, opening in targets:
            for frame in JUNK:
                async with connect(url, additional_headers=headers) as ws:
                    with contextlib.suppress(ConnectionClosed):
                        for message in [*opening, frame]:
                            await ws.send(message)
                assert ws.close_code != 1011
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
