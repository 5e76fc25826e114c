"""Failed admin logins, kept for the login throttle's window."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class LoginFailure(models.Model):
    """One failed admin login: from where, for which username, when."""

    address = models.CharField("client address", max_length=64)
    username = models.CharField("username", max_length=150)
    at = models.DateTimeField("at", default=timezone.now)

    class Meta:
        ordering = ["-at"]
        verbose_name = "failed login"
        verbose_name_plural = "failed logins"
        indexes = [
            models.Index(fields=["address", "at"], name="login_failure_address_idx"),
            models.Index(fields=["username", "at"], name="login_failure_user_idx"),
            models.Index(fields=["at"], name="login_failure_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.username} from {self.address}"
