"""The usage log in the admin: read-only, filterable, with a daily chart and a
CSV export of what the filters select."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from realtime import selectors
from realtime.admin_scale import (
    EstimatedCountPaginator,
    RecentValuesFilter,
    spanned_dates,
)
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
    # Each bounded on a big log (realtime.admin_scale, bench/ADMIN_RESULTS.md).
    list_filter = [
        "status",
        "interface",
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
                    "virtual_key_link",
                    "provider_slug",
                    "model",
                    "interface",
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

    def get_queryset(self, request: HttpRequest) -> QuerySet[RealtimeSession]:
        return spanned_dates(super().get_queryset(request))

    def get_urls(self) -> list[URLPattern]:
        export = path(
            "export.csv",
            self.admin_site.admin_view(self.export_csv),
            name="realtime_realtimesession_export",
        )
        return [export, *super().get_urls()]

    def export_csv(self, request: HttpRequest) -> HttpResponseBase:
        """The sessions the change list's filters, search and date select, as a
        streamed CSV with the `usage --csv` columns (selectors.SESSION_COLUMNS)."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(
                reverse("admin:realtime_realtimesession_changelist") + "?e=1"
            )
        # The whole selection, not the page in view (`result_list`).
        sessions = changelist.queryset.order_by("-started_at")
        response = StreamingHttpResponse(
            _csv_lines(sessions.iterator(chunk_size=500)), content_type="text/csv"
        )
        response["Content-Disposition"] = 'attachment; filename="sessions.csv"'
        return response

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


class _Line:
    """A file-like that hands back what `csv.writer` writes to it."""

    def write(self, text: str) -> str:
        return text


# Text a spreadsheet would run as a formula (a provider's error message, say).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value


def _csv_lines(sessions: Iterator[RealtimeSession]) -> Iterator[str]:
    """A header line, then one line a session, as they are read."""
    writer = csv.writer(_Line())
    yield writer.writerow(selectors.SESSION_COLUMNS)
    for session in sessions:
        row = selectors.session_as_dict(session)
        yield writer.writerow([_cell(row[name]) for name in selectors.SESSION_COLUMNS])


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
