"""The admin login throttle: failed logins counted per address and per username.

Failures live in the database, so every gateway process sees the same counts.
An address, or a username, with GATEWAY_ADMIN_LOGIN_FAILURES failures within
GATEWAY_ADMIN_LOGIN_WINDOW_SECONDS is refused before its password is checked,
until its oldest failure in the window ages out. Refused attempts are not
recorded (the table grows only with checked passwords), and old rows are pruned
as new ones are written. Usernames are counted case-insensitively.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import timezone

from access.models import LoginFailure


def _window_start() -> datetime.datetime:
    seconds = settings.GATEWAY_ADMIN_LOGIN_WINDOW_SECONDS
    return timezone.now() - datetime.timedelta(seconds=seconds)


def _username(value: str) -> str:
    return value.strip().lower()[:150]


def login_blocked(*, address: str, username: str) -> bool:
    """True when `address` or `username` has used up its failed logins."""
    recent = LoginFailure.objects.filter(at__gte=_window_start())
    limit = settings.GATEWAY_ADMIN_LOGIN_FAILURES
    return (
        recent.filter(address=address[:64]).count() >= limit
        or recent.filter(username=_username(username)).count() >= limit
    )


def login_failed(*, address: str, username: str) -> None:
    """Record a failed login (and forget failures older than the window)."""
    LoginFailure.objects.filter(at__lt=_window_start()).delete()
    LoginFailure.objects.create(address=address[:64], username=_username(username))
