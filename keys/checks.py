"""System checks: refuse to start with keys that cannot protect credentials."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, register
from django.core.exceptions import ImproperlyConfigured

from keys import crypto


@register()
def check_encryption_keys(app_configs: object, **kwargs: object) -> list[Error]:
    """GATEWAY_ENCRYPTION_KEYS must hold at least one valid Fernet key."""
    try:
        crypto.build_cipher(list(settings.GATEWAY_ENCRYPTION_KEYS))
    except ImproperlyConfigured as exc:
        return [
            Error(
                str(exc),
                hint="Run `python manage.py generate_encryption_key` and set "
                "GATEWAY_ENCRYPTION_KEYS (scripts/demo.sh does this for development).",
                id="keys.E001",
            )
        ]
    return []
