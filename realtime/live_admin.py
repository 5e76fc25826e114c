"""The sessions open right now, on every gateway process, and terminating them.

Live means an `active` row whose heartbeat (the checkpoint every process writes
for its sessions) is fresh (`realtime.selectors.live_sessions`), so the list
needs no word from the processes themselves. Terminating one goes through
`realtime.operations.session_terminate`, which reaches whichever process runs it.
Also here: the directory that shows keys' sessions to the keys admin.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse

from keys.sessions import LiveSession as KeyLiveSession
from realtime import operations, selectors
from realtime.admin import RealtimeSessionAdmin, key_link
from realtime.models import LiveSession, RealtimeSession, SessionInterface

TERMINATE_PERMISSION = "realtime.terminate_livesession"


@admin.register(LiveSession)
class LiveSessionAdmin(RealtimeSessionAdmin):
    list_display = [
        "started_at",
        key_link,
        "model_and_interface",
        "gateway_instance",
        "duration_display",
        "checkpointed_at",
        "total_tokens",
    ]
    list_filter = ["provider_slug", "interface", "gateway_instance", "model"]
    date_hierarchy = None  # type: ignore[assignment]  # (the log drills by day)
    actions = ["terminate_selected"]

    @admin.display(description="model", ordering="model")
    def model_and_interface(self, session: RealtimeSession) -> str:
        """The model, and the interface when it is not the realtime WebSocket
        (a WebRTC call is listed, and terminated, like any session)."""
        if session.interface == SessionInterface.REALTIME:
            return session.model
        return f"{session.model} ({session.get_interface_display()})"

    def get_queryset(self, request: HttpRequest) -> QuerySet[RealtimeSession]:
        return selectors.live_sessions(super().get_queryset(request))

    def changelist_view(self, request, extra_context=None):
        # The plain change list: the usage totals belong to the session log.
        return admin.ModelAdmin.changelist_view(self, request, extra_context)

    def has_terminate_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(TERMINATE_PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        terminate = path(
            "<path:object_id>/terminate/",
            self.admin_site.admin_view(self.terminate_view),
            name="realtime_livesession_terminate",
        )
        # Not the log's own (its CSV export): the plain admin's, then Terminate.
        return [terminate, *admin.ModelAdmin.get_urls(self)]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        may = self.has_terminate_permission(request)
        context = {**(extra_context or {}), "may_terminate": may}
        return super().change_view(request, object_id, form_url, context)

    def terminate_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The Terminate button: a page naming the session, then POST."""
        if not self.has_terminate_permission(request):
            raise PermissionDenied
        session = self.get_object(request, object_id)
        if session is None:
            raise Http404("No such live session: it may have ended.")
        if request.method == "POST":
            self._terminate(request, [session])
            return HttpResponseRedirect(
                reverse("admin:realtime_livesession_changelist")
            )
        return self._confirm(request, [session], action=None)

    @admin.action(
        description="Terminate selected sessions (close them now)",
        permissions=["terminate"],
    )
    def terminate_selected(
        self, request: HttpRequest, queryset: QuerySet[RealtimeSession]
    ) -> HttpResponse | None:
        if request.POST.get("post") == "yes":
            self._terminate(request, list(queryset))
            return None
        return self._confirm(request, list(queryset), action="terminate_selected")

    def _terminate(self, request: HttpRequest, sessions: list[RealtimeSession]) -> None:
        closed = 0
        for session in sessions:
            try:
                operations.session_terminate(session_id=session.id)
                closed += 1
            except operations.SessionNotLive:
                pass  # it ended meanwhile
        self.message_user(
            request,
            f"Terminating {closed} session(s); "
            f"{len(sessions) - closed} had ended already.",
            messages.SUCCESS,
        )

    def _confirm(
        self,
        request: HttpRequest,
        sessions: list[RealtimeSession],
        *,
        action: str | None,
    ) -> TemplateResponse:
        context: dict[str, Any] = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Terminate these sessions?",
            "sessions": sessions,
            "action": action,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(
            request, "admin/realtime/livesession/terminate_confirmation.html", context
        )


class AdminSessionDirectory:
    """Keys' sessions for the keys admin (`keys.sessions`), from the log."""

    def live_sessions(self, key_ids: Sequence[int]) -> list[KeyLiveSession]:
        """The sessions of these keys open now, on any gateway process."""
        rows = selectors.live_sessions().filter(virtual_key_id__in=list(key_ids))
        return [
            KeyLiveSession(
                key_id=row.virtual_key_id or 0,
                session_id=str(row.id),
                model=row.model,
                started_at=row.started_at,
                gateway_instance=row.gateway_instance,
                url=reverse("admin:realtime_livesession_change", args=[row.id]),
            )
            for row in rows.only(
                "id", "virtual_key_id", "model", "started_at", "gateway_instance"
            )
        ]

    def sessions_url(self, key_id: int) -> str:
        """The session log, filtered to one key."""
        log = reverse("admin:realtime_realtimesession_changelist")
        return f"{log}?virtual_key__id__exact={key_id}"
