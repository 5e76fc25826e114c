"""Admin for providers and virtual keys. No secret or ciphertext is ever rendered."""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import ChangeList
from django.core.exceptions import PermissionDenied
from django.db.models import Count, QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import formats, timezone
from django.utils.html import format_html, format_html_join

from keys import services
from keys.forms import ProviderForm, TeamForm, VirtualKeyForm
from keys.ledger import Owner, ledgers
from keys.models import BUDGET_FIELDS, EphemeralToken, Provider, Team, VirtualKey
from keys.sessions import session_directory
from keys.values import NO_USAGE_TO_DATE, Spend, UsageToDate


def _when(moment: datetime.datetime | None) -> str:
    """A time as the admin shows it, its day and its time each kept whole."""
    if moment is None:
        return "-"
    day, _, time = formats.localize(timezone.localtime(moment)).partition(" ")
    nowrap = '<span style="white-space: nowrap;">{}</span>'
    return format_html(f"{nowrap} {nowrap}", day, time)


# Where save_model leaves a new key's token for response_add (one request).
_ISSUED_TOKEN = "_issued_virtual_key_token"


@admin.register(Provider)
class ProviderAdmin(admin.ModelAdmin):
    form = ProviderForm
    list_display = ["slug", "kind", "endpoint", "allow_passthrough", "created_at"]
    list_filter = ["kind", "allow_passthrough"]
    search_fields = ["slug"]

    @admin.display(description="endpoint")
    def endpoint(self, provider: Provider) -> str:
        return provider.upstream_url or "(public endpoint)"

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        assert issubclass(form, ProviderForm)  # self.form, subclassed
        form.may_move_endpoint = request.user.has_perm("keys.change_provider_endpoint")
        return form

    def save_model(
        self, request: HttpRequest, obj: Provider, form: Any, change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        if change and obj.destination != form.destination_before:
            stale = obj.virtual_keys.filter(revoked_at__isnull=True).count()
            self.message_user(
                request,
                f"{obj} now connects to {obj.destination or 'an unknown endpoint'}: "
                f"its {stale} key(s) are refused until their provider API key is "
                "entered again (a credential goes only where it was entered for).",
                messages.WARNING,
            )


# Where a change list leaves each row's usage to date (one query a page).
_USAGE = "_usage_to_date"


def _spend_text(spend: Spend) -> str:
    return (
        f"{spend.tokens:,} tokens, ${spend.cost_usd:.4f}, "
        f"{spend.sessions} session{'s' if spend.sessions != 1 else ''}"
    )


class UsageColumns:
    """Usage today and this month (UTC), from the session log (`keys.ledger`):
    one grouped query for a change list page, one for a change form."""

    usage_owner: Owner

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        owner = self.usage_owner

        class WithUsage(ChangeList):
            def get_results(self, request: HttpRequest) -> None:
                super().get_results(request)
                rows = list(self.result_list)
                usage = ledgers.usage_to_date(by=owner, ids=[row.pk for row in rows])
                for row in rows:
                    setattr(row, _USAGE, usage.get(row.pk, NO_USAGE_TO_DATE))

        return WithUsage

    def _usage(self, obj: VirtualKey | Team) -> UsageToDate:
        usage = getattr(obj, _USAGE, None)
        if usage is None:
            if obj.pk is None:
                return NO_USAGE_TO_DATE
            found = ledgers.usage_to_date(by=self.usage_owner, ids=[obj.pk])
            usage = found.get(obj.pk, NO_USAGE_TO_DATE)
            setattr(obj, _USAGE, usage)
        return usage

    @admin.display(description="used today (UTC)")
    def used_today(self, obj: VirtualKey | Team) -> str:
        return _spend_text(self._usage(obj).today)

    @admin.display(description="used this month (UTC)")
    def used_this_month(self, obj: VirtualKey | Team) -> str:
        return _spend_text(self._usage(obj).month)


@admin.register(Team)
class TeamAdmin(UsageColumns, admin.ModelAdmin):
    usage_owner = "team"
    form = TeamForm
    list_display = [
        "name",
        "key_count",
        *BUDGET_FIELDS,
        "used_today",
        "used_this_month",
    ]
    search_fields = ["name"]
    readonly_fields = ("team_keys", "used_today", "used_this_month", "created_at")
    fieldsets = [
        (None, {"fields": ("name",)}),
        ("Budgets (shared by the team's keys)", {"fields": BUDGET_FIELDS}),
        ("Keys and usage", {"fields": readonly_fields}),
    ]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Team]:
        return super().get_queryset(request).annotate(keys=Count("virtual_keys"))

    @admin.display(description="keys", ordering="keys")
    def key_count(self, team: Team) -> int:
        return getattr(team, "keys", 0)

    @admin.display(description="keys")
    def team_keys(self, team: Team) -> str:
        keys = team.virtual_keys.order_by("name") if team.pk else []
        links = format_html_join(
            ", ",
            '<a href="{}">{}</a> ({})',
            (
                (
                    reverse("admin:keys_virtualkey_change", args=[key.pk]),
                    key,
                    key.status,
                )
                for key in keys
            ),
        )
        return links or format_html("{}", "none")


class KeyStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("active", "active"),
            ("not_yet_valid", "not yet valid"),
            ("revoked", "revoked"),
            ("expired", "expired"),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        if self.value() == "revoked":
            return queryset.filter(revoked_at__isnull=False)
        live = queryset.filter(revoked_at__isnull=True)
        if self.value() == "expired":
            return live.filter(expires_at__lte=now)
        current = live.exclude(expires_at__lte=now)
        if self.value() == "not_yet_valid":
            return current.filter(not_before__gt=now)
        if self.value() == "active":
            return current.exclude(not_before__gt=now)
        return queryset


@admin.register(VirtualKey)
class VirtualKeyAdmin(UsageColumns, admin.ModelAdmin):
    usage_owner = "key"
    form = VirtualKeyForm
    # What fits a 1280 px screen beside the filters; the rest is on the key's page.
    list_display = [
        "name",
        "team",
        "masked_key",
        "status",
        "expires",
        "used_today",
        "last_used",
        "sessions_link",
    ]
    list_filter = [KeyStatusFilter, "provider", "team"]
    list_select_related = ["provider", "team"]
    search_fields = ["name", "key_prefix"]
    date_hierarchy = "created_at"
    readonly_fields = [
        "masked_key",
        "status",
        "credential_destination",
        "created_at",
        "last_used_at",
        "revoked_at",
        "used_today",
        "used_this_month",
        "sessions_link",
    ]
    actions = ["revoke_selected"]

    def get_fieldsets(self, request, obj=None):
        editable = [
            (None, {"fields": ["name", "provider", "team", "credential"]}),
            (
                "Limits",
                {
                    "fields": [
                        "allowed_models",
                        "max_concurrent_sessions",
                        "sessions_per_minute",
                        "max_session_seconds",
                        "idle_timeout_seconds",
                        "not_before",
                        "expires_at",
                    ]
                },
            ),
            ("Budgets", {"fields": BUDGET_FIELDS}),
        ]
        if obj is None:
            return editable
        return [*editable, ("Key and usage", {"fields": self.readonly_fields})]

    @admin.display(description="limits")
    def limits(self, key: VirtualKey) -> str:
        parts = [
            f"{key.max_concurrent_sessions} live"
            if key.max_concurrent_sessions
            else "",
            f"{key.sessions_per_minute}/min" if key.sessions_per_minute else "",
            f"max {key.max_session_seconds} s" if key.max_session_seconds else "",
            f"idle {key.idle_timeout_seconds} s" if key.idle_timeout_seconds else "",
        ]
        return ", ".join(part for part in parts if part) or "-"

    @admin.display(description="key")
    def masked_key(self, key: VirtualKey) -> str:
        return key.masked_key

    @admin.display(description="models")
    def models(self, key: VirtualKey) -> str:
        return ", ".join(key.allowed_models) or "any"

    def save_model(
        self, request: HttpRequest, obj: VirtualKey, form: Any, change: bool
    ) -> None:
        credential = form.cleaned_data.get("credential") or ""
        if not change:
            token = services.virtual_key_issue(key=obj, credential=credential)
            setattr(request, _ISSUED_TOKEN, token)  # read by response_add only
            return
        obj.save()
        if credential:
            services.virtual_key_set_credential(key=obj, credential=credential)

    def response_add(
        self,
        request: HttpRequest,
        obj: VirtualKey,
        post_url_continue: str | None = None,
    ) -> HttpResponse:
        """Show the new token once, on this page only; it is not stored anywhere."""
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "key": obj,
            "token": getattr(request, _ISSUED_TOKEN),
            "title": "Virtual key issued",
        }
        response = TemplateResponse(
            request, "admin/keys/virtualkey/issued.html", context
        )
        response["Cache-Control"] = "no-store"
        return response

    # Times in the list as everywhere (to the second, with their zone), in cells
    # that may wrap: Django keeps a date column on one line.
    @admin.display(description="expires", ordering="expires_at")
    def expires(self, key: VirtualKey) -> str:
        return _when(key.expires_at)

    @admin.display(description="last used", ordering="last_used_at")
    def last_used(self, key: VirtualKey) -> str:
        return _when(key.last_used_at)

    @admin.display(description="sessions")
    def sessions_link(self, key: VirtualKey) -> str:
        url = session_directory.sessions_url(key.pk) if key.pk else ""
        return format_html('<a href="{}">sessions</a>', url) if url else "-"

    # --- revoking: a button on the key's page and a bulk action, both confirmed --

    def get_urls(self) -> list[URLPattern]:
        revoke = path(
            "<path:object_id>/revoke/",
            self.admin_site.admin_view(self.revoke_view),
            name="keys_virtualkey_revoke",
        )
        return [revoke, *super().get_urls()]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return super().change_view(
            request,
            object_id,
            form_url,
            {
                **(extra_context or {}),
                "may_revoke": self.has_change_permission(request),
                "sessions_url": session_directory.sessions_url(int(object_id))
                if object_id.isdigit()
                else "",
            },
        )

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The Revoke button: a page saying what it will close, then POST."""
        key = self.get_object(request, object_id)
        if key is None:
            raise Http404("No such virtual key.")
        if not self.has_change_permission(request, key):
            raise PermissionDenied
        if request.method == "POST":
            self._revoke(request, [key])
            return HttpResponseRedirect(
                reverse("admin:keys_virtualkey_change", args=[key.pk])
            )
        return self._confirm_revoke(request, [key], action=None)

    @admin.action(
        description="Revoke selected keys (closes their live sessions)",
        permissions=["change"],
    )
    def revoke_selected(
        self, request: HttpRequest, queryset: QuerySet[VirtualKey]
    ) -> HttpResponse | None:
        if request.POST.get("post") == "yes":
            self._revoke(request, list(queryset))
            return None  # back to the change list
        return self._confirm_revoke(request, list(queryset), action="revoke_selected")

    def _revoke(self, request: HttpRequest, keys: list[VirtualKey]) -> None:
        for key in keys:
            services.virtual_key_revoke(key=key)
        self.message_user(request, f"Revoked {len(keys)} key(s).", messages.SUCCESS)

    def _confirm_revoke(
        self, request: HttpRequest, keys: list[VirtualKey], *, action: str | None
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Revoke virtual keys?" if len(keys) > 1 else "Revoke this key?",
            "keys": keys,
            "live_sessions": session_directory.live_sessions([k.pk for k in keys]),
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/keys/virtualkey/revoke_confirmation.html", context
        )


@admin.register(EphemeralToken)
class EphemeralTokenAdmin(admin.ModelAdmin):
    """Minted tokens, read-only: revoke their key to end them."""

    list_display = ["__str__", "virtual_key", "model", "created_at", "expires_at"]
    list_filter = ["virtual_key"]
    list_select_related = ["virtual_key"]
    search_fields = ["token_prefix", "virtual_key__name", "model"]
    date_hierarchy = "created_at"
    fields = readonly_fields = (
        "token_prefix",
        "virtual_key",
        "model",
        "session",
        "created_at",
        "expires_at",
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # minted by POST /v1/realtime/client_secrets only

    def has_change_permission(
        self, request: HttpRequest, obj: EphemeralToken | None = None
    ) -> bool:
        return False
