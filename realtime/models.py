"""The usage log: one row per realtime session."""

from __future__ import annotations

import datetime
import uuid

from django.db import models
from django.utils import timezone

from keys.models import Provider, VirtualKey


class SessionStatus(models.TextChoices):
    ACTIVE = "active", "active"
    FINISHED = "finished", "finished"  # a clean close by either side
    FAILED = "failed", "failed"  # an upstream or gateway fault
    REJECTED = "rejected", "rejected"  # a known key refused at connect
    INTERRUPTED = "interrupted", "interrupted"  # its gateway process died


class SessionInterface(models.TextChoices):
    """Which of a provider's realtime interfaces a session used."""

    REALTIME = "realtime", "realtime"
    LIVE = "live", "GPT-Live"
    WEBRTC = "webrtc", "WebRTC call"
    TRANSCRIPTION = "transcription", "transcription"
    TRANSLATION = "translation", "translation"


class RealtimeSession(models.Model):
    """Who talked to which provider and model, for how long, and what it cost."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    virtual_key = models.ForeignKey(
        VirtualKey,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name="virtual key",
    )
    # Kept as text too, so the log survives a deleted key or provider.
    virtual_key_name = models.CharField("virtual key name", max_length=100, blank=True)
    provider = models.ForeignKey(
        Provider,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="sessions",
        verbose_name="provider",
    )
    provider_slug = models.CharField("provider slug", max_length=64)
    model = models.CharField("model", max_length=200, blank=True)
    interface = models.CharField(
        "interface",
        max_length=16,
        choices=SessionInterface.choices,
        default=SessionInterface.REALTIME,
    )
    client_address = models.CharField("client address", max_length=64, blank=True)
    gateway_instance = models.CharField("gateway instance", max_length=200, blank=True)

    status = models.CharField(
        "status", max_length=16, choices=SessionStatus.choices, default="active"
    )
    started_at = models.DateTimeField("started", default=timezone.now)
    ended_at = models.DateTimeField("ended", null=True, blank=True)
    checkpointed_at = models.DateTimeField("last checkpoint", null=True, blank=True)
    # Set by an operator's terminate (realtime.operations.session_terminate): the
    # session's own periodic check reads it if the channel layer's word is lost.
    terminate_requested_at = models.DateTimeField(
        "terminate requested", null=True, blank=True
    )
    close_code = models.IntegerField("close code", null=True, blank=True)
    close_reason = models.CharField("close reason", max_length=255, blank=True)
    error = models.CharField("error", max_length=500, blank=True)
    # Why it ended, in a word: the gateway's error code, or who closed how
    # (realtime.endings.Ending.end_reason); empty while active.
    end_reason = models.CharField("end reason", max_length=64, blank=True)
    # Refused handshakes of one key for one reason within a minute share a row.
    attempts = models.PositiveIntegerField("attempts", default=1)

    # The counter columns: realtime.usage.COUNTER_FIELDS, one column a field of
    # Meter and Usage (a test checks the two agree, names and numeric types).
    messages_from_client = models.PositiveBigIntegerField("messages in", default=0)
    messages_from_upstream = models.PositiveBigIntegerField("messages out", default=0)
    bytes_from_client = models.PositiveBigIntegerField("bytes in", default=0)
    bytes_from_upstream = models.PositiveBigIntegerField("bytes out", default=0)

    responses = models.PositiveIntegerField("responses", default=0)
    input_tokens = models.PositiveBigIntegerField("input tokens", default=0)
    output_tokens = models.PositiveBigIntegerField("output tokens", default=0)
    total_tokens = models.PositiveBigIntegerField("total tokens", default=0)
    cached_tokens = models.PositiveBigIntegerField("cached tokens", default=0)
    input_text_tokens = models.PositiveBigIntegerField("input text tokens", default=0)
    input_audio_tokens = models.PositiveBigIntegerField("input audio tokens", default=0)
    output_text_tokens = models.PositiveBigIntegerField("output text tokens", default=0)
    output_audio_tokens = models.PositiveBigIntegerField(
        "output audio tokens", default=0
    )
    cached_text_tokens = models.PositiveBigIntegerField("cached text tokens", default=0)
    cached_audio_tokens = models.PositiveBigIntegerField(
        "cached audio tokens", default=0
    )
    cached_image_tokens = models.PositiveBigIntegerField(
        "cached image tokens", default=0
    )
    input_image_tokens = models.PositiveBigIntegerField("input image tokens", default=0)
    transcription_tokens = models.PositiveBigIntegerField(
        "transcription tokens", default=0
    )
    transcription_seconds = models.FloatField("transcription seconds", default=0)
    characters = models.PositiveBigIntegerField("characters", default=0)
    audio_chunks = models.PositiveBigIntegerField("audio chunks", default=0)
    audio_seconds = models.FloatField("audio seconds", default=0)
    active_seconds = models.FloatField("active seconds", default=0)
    standby_seconds = models.FloatField("standby seconds", default=0)
    translation_seconds = models.FloatField("translation seconds", default=0)
    cost_usd = models.DecimalField(
        "cost (USD)", max_digits=14, decimal_places=6, null=True, blank=True
    )

    class Meta:
        ordering = ["-started_at"]
        verbose_name = "realtime session"
        verbose_name_plural = "realtime sessions"
        indexes = [
            # The list reads it backwards (newest first). Ascending, because rows
            # arrive in time order: a descending index would split its leftmost
            # page at every insert and grow half empty. On PostgreSQL it also
            # carries what the dashboard groups and sums, so a period's figures
            # are read from the index alone (realtime.dashboard, bench/).
            models.Index(
                fields=["started_at"],
                include=[
                    "status",
                    "provider_slug",
                    "model",
                    "virtual_key_name",
                    "virtual_key",
                    "total_tokens",
                    "transcription_tokens",
                    "cost_usd",
                ],
                name="session_started_cover_idx",
            ),
            models.Index(fields=["status", "started_at"], name="session_status_idx"),
            models.Index(
                fields=["virtual_key", "status"], name="session_key_status_idx"
            ),
            models.Index(
                fields=["gateway_instance", "status"], name="session_instance_idx"
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ended_at__isnull=True)
                | models.Q(ended_at__gte=models.F("started_at")),
                name="session_ends_after_start",
            )
        ]

    def __str__(self) -> str:
        who = self.virtual_key_name or "passthrough"
        return f"{who} → {self.provider_slug} ({self.id})"

    @property
    def duration(self) -> datetime.timedelta | None:
        """How long the session lasted (so far, when still active)."""
        end = self.ended_at or (timezone.now() if self.status == "active" else None)
        return None if end is None else end - self.started_at


class LiveSession(RealtimeSession):
    """The sessions open right now, on every gateway process (see the admin)."""

    class Meta:
        proxy = True
        verbose_name = "live session"
        verbose_name_plural = "live sessions"
        permissions = [("terminate_livesession", "Can terminate a live session")]


def _usd(name: str) -> models.DecimalField:
    return models.DecimalField(
        name, max_digits=12, decimal_places=6, null=True, blank=True
    )


class ModelPrice(models.Model):
    """Public list prices of a model, in USD, from a date on; blank = not billed."""

    provider_kind = models.CharField(
        "provider kind", max_length=32, help_text="e.g. openai, google."
    )
    model = models.CharField(
        "model",
        max_length=200,
        help_text="An exact model name, or a prefix ending in * (gpt-realtime*).",
    )
    effective_from = models.DateField("effective from")
    source = models.CharField("source", max_length=300, blank=True)

    input_text_per_mtok = _usd("input text per 1M tokens")
    cached_input_text_per_mtok = _usd("cached input text per 1M tokens")
    input_audio_per_mtok = _usd("input audio per 1M tokens")
    cached_input_audio_per_mtok = _usd("cached input audio per 1M tokens")
    input_image_per_mtok = _usd("input image per 1M tokens")
    cached_input_image_per_mtok = _usd("cached input image per 1M tokens")
    output_text_per_mtok = _usd("output text per 1M tokens")
    output_audio_per_mtok = _usd("output audio per 1M tokens")
    transcription_per_mtok = _usd("transcription per 1M tokens")
    transcription_per_minute = _usd("transcription per minute")
    per_1k_characters = _usd("per 1,000 characters")
    per_audio_minute = _usd("per minute of audio returned")
    per_active_minute = _usd("per minute of active session time")
    per_standby_minute = _usd("per minute of standby session time")
    translation_per_minute = _usd("translation per minute of audio")

    class Meta:
        ordering = ["provider_kind", "model", "-effective_from"]
        verbose_name = "model price"
        verbose_name_plural = "model prices"
        constraints = [
            models.UniqueConstraint(
                fields=["provider_kind", "model", "effective_from"],
                name="price_unique_per_day",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider_kind}/{self.model} from {self.effective_from}"
