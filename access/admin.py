"""Failed admin logins: read-only; deleting rows lifts a throttle early."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from access.models import LoginFailure


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    list_display = ["at", "username", "address"]
    search_fields = ["username", "address"]
    date_hierarchy = "at"
    readonly_fields = ["at", "username", "address"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
