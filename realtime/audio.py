"""Audio arithmetic for metering TTS providers: how long is this many bytes."""

from __future__ import annotations

from realtime.events import Usage

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
    if not all(part.isdigit() for part in parts[1:]):  # no signs, no junk
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
