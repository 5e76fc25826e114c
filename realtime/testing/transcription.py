"""The fake's input transcription: what a committed audio buffer is answered with.

OpenAI transcribes committed input audio when the session names a transcription
model (`audio.input.transcription.model`), in a transcription session
(`?intent=transcription` or `session.type: "transcription"`) and in a realtime
session alike (developers.openai.com/api/docs/guides/realtime-transcription).
The answer streams as `conversation.item.input_audio_transcription.delta`s and
ends with `.completed`, whose `usage` is "billed according to the ASR model's
pricing" (openai-python 3.52 `types/realtime/
conversation_item_input_audio_transcription_completed_event.py`):

- `{"type": "tokens", "input_tokens", "output_tokens", "total_tokens",
  "input_token_details": {"audio_tokens", "text_tokens"}}` for models billed
  by token (gpt-4o-transcribe, gpt-4o-mini-transcribe, gpt-transcribe);
- `{"type": "duration", "seconds"}` for models "billed by audio input duration"
  (whisper-1; gpt-realtime-whisper and gpt-live-transcribe, "priced by audio
  duration rather than text tokens", developers.openai.com/api/docs/models/
  gpt-realtime-whisper).

Deterministic, no I/O: the transcript is one word per 100 ms of audio
(`"w1 w2 ..."`, at least one), the audio tokens are the buffer's bytes // 800
(as the fake's responses count them), the output tokens the transcript's
words, and the seconds the buffer's 24 kHz PCM16 mono duration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["DURATION_BILLED", "transcription_events", "transcription_usage"]

Event = dict[str, Any]
Emit = Callable[..., Event]

DURATION_BILLED = frozenset(
    {"whisper-1", "gpt-realtime-whisper", "gpt-live-transcribe"}
)
BYTES_PER_SECOND = 24_000 * 2  # 24 kHz PCM16 mono
BYTES_PER_WORD = BYTES_PER_SECOND // 10  # a word every 100 ms
AUDIO_BYTES_PER_TOKEN = 800


def transcript_of(audio_bytes: int) -> str:
    """The fake's transcript of `audio_bytes` of audio."""
    count = max(1, audio_bytes // BYTES_PER_WORD)
    return " ".join(f"w{n}" for n in range(1, count + 1))


def transcription_usage(model: str, *, audio_bytes: int, transcript: str) -> Event:
    """The `usage` of a completed transcription, in the model's billing unit."""
    if model in DURATION_BILLED:
        return {"type": "duration", "seconds": audio_bytes / BYTES_PER_SECOND}
    audio_tokens = audio_bytes // AUDIO_BYTES_PER_TOKEN
    output_tokens = len(transcript.split())
    return {
        "type": "tokens",
        "input_tokens": audio_tokens,
        "output_tokens": output_tokens,
        "total_tokens": audio_tokens + output_tokens,
        "input_token_details": {"audio_tokens": audio_tokens, "text_tokens": 0},
    }


def transcription_events(
    emit: Emit, *, model: str, item_id: str, audio_bytes: int
) -> list[Event]:
    """The deltas, one a word, and the `completed` event of one committed item."""
    transcript = transcript_of(audio_bytes)
    ids = {"item_id": item_id, "content_index": 0}
    deltas = [
        emit("conversation.item.input_audio_transcription.delta", **ids, delta=word)
        for word in _chunks(transcript)
    ]
    usage = transcription_usage(model, audio_bytes=audio_bytes, transcript=transcript)
    completed = emit(
        "conversation.item.input_audio_transcription.completed",
        **ids,
        transcript=transcript,
        usage=usage,
    )
    return [*deltas, completed]


def _chunks(transcript: str) -> list[str]:
    words = transcript.split(" ")
    return [words[0], *(f" {word}" for word in words[1:])]
