"""The usage log in the admin: read-only, filterable, with a daily chart."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from realtime import selectors
from realtime.admin_scale import (
    EstimatedCountPaginator,
    RecentValuesFilter,
    spanned_dates,
)
from realtime.models import ModelPrice, RealtimeSession
from realtime.usage import COUNTER_FIELDS


@admin.register(RealtimeSession)
class RealtimeSessionAdmin(admin.ModelAdmin):
    list_display = [
        "started_at",
        "virtual_key_name",
        "provider_slug",
        "model",
        "status",
        "duration_display",
        "messages_from_client",
        "messages_from_upstream",
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cost_usd",
        "close_code",
    ]
    # Each bounded on a big log (realtime.admin_scale, bench/ADMIN_RESULTS.md).
    list_filter = [
        "status",
        ("end_reason", RecentValuesFilter),
        ("provider_slug", RecentValuesFilter),
        ("model", RecentValuesFilter),
        "started_at",
    ]
    search_fields = ["=id", "virtual_key_name", "model", "client_address"]
    date_hierarchy = "started_at"
    list_per_page = 50
    paginator = EstimatedCountPaginator
    show_full_result_count = False  # COUNT(*) over a large log is slow
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "id",
                    "virtual_key_name",
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
                    "duration_display",
                    "close_code",
                    "close_reason",
                    "error",
                ]
            },
        ),
        ("Traffic and usage", {"fields": [*COUNTER_FIELDS, "cost_usd"]}),
    ]

    @admin.display(description="duration")
    def duration_display(self, session: RealtimeSession) -> str:
        duration = session.duration
        return "-" if duration is None else f"{duration.total_seconds():.1f} s"

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

    def get_queryset(self, request: HttpRequest) -> QuerySet[RealtimeSession]:
        return spanned_dates(super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and "cl" in context:
            days, totals = selectors.usage_summary(context["cl"].queryset)
            peak = max((day.tokens for day in days), default=0) or 1
            context["usage_days"] = [
                (day, round(100 * day.tokens / peak)) for day in days
            ]
            context["usage_totals"] = totals
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
