"""The usage log in the admin: read-only, filterable, with a daily chart."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from realtime import selectors
from realtime.models import ModelPrice, RealtimeSession
from realtime.usage import COUNTER_FIELDS


@admin.display(description="virtual key", ordering="virtual_key_name")
def key_link(session: RealtimeSession) -> str:
    """The session's key, linked to the key's page while the key exists."""
    name = session.virtual_key_name or "(passthrough)"
    if session.virtual_key_id is None:
        return name
    url = reverse("admin:keys_virtualkey_change", args=[session.virtual_key_id])
    return format_html('<a href="{}">{}</a>', url, name)


@admin.display(description="duration")
def duration(session: RealtimeSession) -> str:
    """How long the session lasted (so far, while it is open)."""
    lasted = session.duration
    return "-" if lasted is None else f"{lasted.total_seconds():.1f} s"


@admin.register(RealtimeSession)
class RealtimeSessionAdmin(admin.ModelAdmin):
    # What fits a 1280 px screen beside the filters; the rest is on the detail page.
    list_display = [
        "started_at",
        key_link,
        "model",
        "status",
        "duration_display",
        "total_tokens",
        "cost_usd",
        "close_code",
    ]
    list_display_links = ["started_at"]
    list_filter = ["status", "end_reason", "provider_slug", "model", "started_at"]
    search_fields = ["=id", "virtual_key_name", "model", "client_address"]
    date_hierarchy = "started_at"
    list_per_page = 50
    show_full_result_count = False  # COUNT(*) over a large log is slow
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "virtual_key_link",
                    "provider_slug",
                    "model",
                    "client_address",
                    "gateway_instance",
                ]
            },
        ),
        (
            "Lifecycle",
            {
                "fields": [
                    "status",
                    "started_at",
                    "ended_at",
                    "checkpointed_at",
                    "terminate_requested_at",
                    "duration_display",
                    "close_code",
                    "close_reason",
                    "end_reason",
                    "error",
                ]
            },
        ),
        ("Traffic and usage", {"fields": [*COUNTER_FIELDS, "cost_usd"]}),
    ]

    @admin.display(description="virtual key")
    def virtual_key_link(self, session: RealtimeSession) -> str:
        return key_link(session)

    @admin.display(description="duration")
    def duration_display(self, session: RealtimeSession) -> str:
        return duration(session)

    def get_readonly_fields(
        self, request: HttpRequest, obj: RealtimeSession | None = None
    ) -> list[str]:
        return [str(field) for _, group in self.fieldsets for field in group["fields"]]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: RealtimeSession | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: RealtimeSession | None = None
    ) -> bool:
        return False  # the usage log is an audit trail

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            sessions = context["cl"].queryset
            days = selectors.usage_by_day(sessions)
            peak = max((day.tokens for day in days), default=0) or 1
            context["usage_days"] = [
                (day, round(100 * day.tokens / peak)) for day in days
            ]
            context["usage_totals"] = selectors.usage_totals(sessions)
        return response


@admin.register(ModelPrice)
class ModelPriceAdmin(admin.ModelAdmin):
    list_display = [
        "provider_kind",
        "model",
        "effective_from",
        "input_text_per_mtok",
        "input_audio_per_mtok",
        "output_text_per_mtok",
        "output_audio_per_mtok",
        "per_1k_characters",
        "per_audio_minute",
    ]
    list_filter = ["provider_kind"]
    search_fields = ["model"]
    date_hierarchy = "effective_from"
    fieldsets = [
        (None, {"fields": ["provider_kind", "model", "effective_from", "source"]}),
        (
            "Tokens (USD per 1M)",
            {
                "fields": [
                    "input_text_per_mtok",
                    "cached_input_text_per_mtok",
                    "input_audio_per_mtok",
                    "cached_input_audio_per_mtok",
                    "output_text_per_mtok",
                    "output_audio_per_mtok",
                    "transcription_per_mtok",
                ]
            },
        ),
        (
            "Other units (USD)",
            {
                "fields": [
                    "transcription_per_minute",
                    "per_1k_characters",
                    "per_audio_minute",
                ]
            },
        ),
    ]
