"""Audio arithmetic shared by the text-to-speech fakes (Cartesia, ElevenLabs).

Every fake TTS speaks 0.05 s of silence per character, in the requested format,
streamed in 100 ms chunks, and keeps running totals in an :class:`AudioMeter`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

__all__ = ["AudioFormat", "AudioMeter", "MeteredSpeech", "pcm16"]

CHARACTERS_PER_SECOND = 20  # every fake TTS speaks 0.05 s of audio per character
CHUNK_SECONDS = Fraction(1, 10)  # audio is streamed in 100 ms chunks
PCM_SAMPLE_RATES = frozenset({8000, 16000, 22050, 24000, 44100, 48000})


@dataclass(frozen=True, slots=True)
class AudioFormat:
    """How many bytes a second of a (fake) audio encoding takes.

    ``frames_per_second`` is the sample rate for PCM and G.711, and the byte rate
    for compressed formats (whose frames are single bytes of filler: the fakes
    never produce decodable MP3 or Opus).
    """

    frames_per_second: int
    frame_size: int
    silence: bytes

    def clip(self, characters: int) -> bytes:
        """The audio spoken for ``characters`` characters (0.05 s each, floored)."""
        frames = characters * self.frames_per_second // CHARACTERS_PER_SECOND
        return self.silence * frames

    def seconds(self, size: int) -> Fraction:
        """How long ``size`` bytes of this format last."""
        return Fraction(size // self.frame_size, self.frames_per_second)

    def chunks(self, audio: bytes) -> list[bytes]:
        """Split audio into 100 ms chunks (the last one may be shorter)."""
        step = int(self.frames_per_second * CHUNK_SECONDS) * self.frame_size
        return [audio[i : i + step] for i in range(0, len(audio), step)]


def pcm16(rate: int) -> AudioFormat:
    """16-bit mono PCM at ``rate`` Hz."""
    return AudioFormat(rate, 2, b"\x00\x00")


@dataclass(slots=True)
class AudioMeter:
    """Running totals of one fake, over all its connections."""

    characters_received: int = 0
    characters_sent: int = 0
    audio_bytes_sent: int = 0
    audio_bytes_received: int = 0
    exact_seconds_sent: Fraction = field(default_factory=Fraction)

    @property
    def audio_seconds_sent(self) -> float:
        """Seconds of audio sent so far."""
        return float(self.exact_seconds_sent)

    def sent(self, audio: bytes, audio_format: AudioFormat) -> None:
        """Count audio sent to a client."""
        self.audio_bytes_sent += len(audio)
        self.exact_seconds_sent += audio_format.seconds(len(audio))


class MeteredSpeech:
    """Totals of a text-to-speech fake, read from its ``meter``."""

    meter: AudioMeter

    @property
    def characters_received(self) -> int:
        """Text characters received to speak, over all connections."""
        return self.meter.characters_received

    @property
    def audio_bytes_sent(self) -> int:
        """Decoded audio bytes sent."""
        return self.meter.audio_bytes_sent

    @property
    def audio_seconds_sent(self) -> float:
        """Seconds of audio sent."""
        return self.meter.audio_seconds_sent
