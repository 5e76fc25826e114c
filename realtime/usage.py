"""What a session uses: the gateway's meter, the provider's usage, and the audio
arithmetic that meters TTS providers.

Pure: no I/O, no Django. The session row's counter columns are declared here
once (the fields of `Meter`, then those of `Usage`); the model keeps its columns
explicit and a test checks that they match `COUNTER_FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace


@dataclass(slots=True, eq=False)
class Meter:
    """Messages and bytes of one session, each way; mutated on the hot path
    (slotted: `meter.bytes_from_client += n` is a plain slot write)."""

    messages_from_client: int = 0
    messages_from_upstream: int = 0
    bytes_from_client: int = 0
    bytes_from_upstream: int = 0

    def snapshot(self) -> dict[str, int]:
        """The counters as session-row column values."""
        return {name: getattr(self, name) for name in METER_FIELDS}


@dataclass(frozen=True, slots=True)
class Usage:
    """What a provider reports (or the gateway measures) as billable, summed over
    a session: tokens by kind, and the units non-token providers bill in."""

    responses: int = 0  # responses, turns or generations
    input_tokens: int = 0
    output_tokens: int = 0
    total_tokens: int = 0
    cached_tokens: int = 0
    cached_text_tokens: int = 0
    cached_audio_tokens: int = 0
    cached_image_tokens: int = 0
    input_text_tokens: int = 0
    input_audio_tokens: int = 0
    input_image_tokens: int = 0
    output_text_tokens: int = 0
    output_audio_tokens: int = 0
    transcription_tokens: int = 0
    transcription_seconds: float = 0.0
    characters: int = 0  # text sent for speech (TTS providers)
    audio_chunks: int = 0  # audio messages returned (TTS providers)
    audio_seconds: float = 0.0  # audio returned (TTS providers)
    # GPT-Live bills session time, split as the provider reports it at the end.
    active_seconds: float = 0.0
    standby_seconds: float = 0.0
    translation_seconds: float = 0.0  # source audio translated (realtime translation)

    def __add__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            *(getattr(self, name) + getattr(other, name) for name in USAGE_FIELDS)
        )

    def __sub__(self, other: Usage) -> Usage:
        if not isinstance(other, Usage):
            return NotImplemented
        return Usage(
            *(max(getattr(self, n) - getattr(other, n), 0) for n in USAGE_FIELDS)
        )

    def as_fields(self) -> dict[str, int | float]:
        """The usage as session-row column values."""
        return {name: getattr(self, name) for name in USAGE_FIELDS}


NO_USAGE = Usage()


@dataclass(frozen=True, slots=True)
class Billing:
    """Which model parts of a session's usage are billed as, when not the
    session's own: its input transcription as the model that transcribes
    (blank: the session's; OpenAI bills it "according to the ASR model's
    pricing rather than the realtime model's"), and work delegated to other
    models (GPT-Live's Responses backend) as those, with that work's usage."""

    transcription_model: str = ""
    delegated: tuple[tuple[str, Usage], ...] = ()

    def parts(self, usage: Usage, model: str) -> tuple[tuple[str, Usage], ...]:
        """`usage` (the session's total) as (model, part) pairs, the session's
        own model first with what no other model accounts for."""
        rest, others = usage, []
        for name, part in self.delegated:
            if name and name != model:
                others.append((name, part))
                rest -= part
        transcriber = self.transcription_model
        if transcriber and transcriber != model:
            transcribed = Usage(
                transcription_tokens=rest.transcription_tokens,
                transcription_seconds=rest.transcription_seconds,
            )
            rest = replace(rest, transcription_tokens=0, transcription_seconds=0.0)
            others.append((transcriber, transcribed))
        return ((model, rest), *others)


NO_BILLING = Billing()

# The session row's counter columns, declared by the two classes above.
METER_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(Meter))
USAGE_FIELDS: tuple[str, ...] = tuple(field.name for field in fields(Usage))
COUNTER_FIELDS: tuple[str, ...] = METER_FIELDS + USAGE_FIELDS  # display order


def text_size(text: str) -> int:
    """The UTF-8 size of a text frame, without encoding it when it is ASCII."""
    return len(text) if text.isascii() else len(text.encode("utf-8"))


# Audio arithmetic for metering TTS providers: how long is this many bytes.

_BYTES_PER_SAMPLE = {
    "pcm_s16le": 2,
    "pcm_f32le": 4,
    "pcm_mulaw": 1,
    "pcm_alaw": 1,
}


def base64_size(encoded: str) -> int:
    """The decoded size of base64 text, without decoding it."""
    length = len(encoded)
    if length == 0:
        return 0
    padding = encoded.count("=", max(length - 2, 0))
    return max(length * 3 // 4 - padding, 0)


def raw_bytes_per_second(encoding: str, sample_rate: int) -> int:
    """Bytes per second of raw mono audio; 0 when unknown."""
    return _BYTES_PER_SAMPLE.get(encoding, 0) * max(sample_rate, 0)


def named_format_bytes_per_second(name: str) -> int:
    """Bytes per second of an ElevenLabs-style format name (pcm_16000,
    ulaw_8000, mp3_44100_128, opus_48000_64); 0 when unknown."""
    parts = name.split("_")
    if not all(part.isascii() and part.isdigit() for part in parts[1:]):  # 0-9 only
        return 0
    numbers = [int(part) for part in parts[1:]]
    codec = parts[0]
    if codec == "pcm" and len(numbers) == 1:
        return numbers[0] * 2
    if codec in ("ulaw", "alaw") and len(numbers) == 1:
        return numbers[0]
    if codec in ("mp3", "opus") and len(numbers) == 2:
        return numbers[1] * 1000 // 8  # the bitrate, in kbit/s
    return 0


def audio_returned(encoded: str, bytes_per_second: int) -> Usage:
    """One base64 audio message returned: a chunk, and its seconds if known."""
    size = base64_size(encoded)
    return Usage(
        audio_chunks=1,
        audio_seconds=size / bytes_per_second if bytes_per_second else 0.0,
    )
