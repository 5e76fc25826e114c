"""The admin's login form, throttled (see access.services)."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError

from access import services


class ThrottledAdminLoginForm(AdminAuthenticationForm):
    """AdminAuthenticationForm that refuses after too many failed logins."""

    error_messages = {
        **AdminAuthenticationForm.error_messages,
        "throttled": "Too many failed logins from this address or for this "
        "username. Try again later.",
    }

    def clean(self) -> dict[str, Any]:
        address = self.request.META.get("REMOTE_ADDR", "") if self.request else ""
        username = self.cleaned_data.get("username") or ""
        if services.login_blocked(address=address, username=username):
            raise ValidationError(self.error_messages["throttled"], code="throttled")
        try:
            return super().clean()
        except ValidationError:
            if username and self.cleaned_data.get("password"):
                services.login_failed(address=address, username=username)
            raise
