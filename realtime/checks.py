"""System checks for the realtime gateway's settings."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register


@register()
def check_upstream_timeout(app_configs: object, **kwargs: object) -> list[Error]:
    """The upstream handshake must finish before Daphne gives up on ours (5 s)."""
    if settings.GATEWAY_UPSTREAM_CONNECT_TIMEOUT >= 5:
        return [
            Error(
                "GATEWAY_UPSTREAM_CONNECT_TIMEOUT must be under 5 seconds: Daphne "
                "refuses a client handshake that takes longer.",
                id="realtime.E001",
            )
        ]
    return []
