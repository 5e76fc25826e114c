from __future__ import annotations

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime usage"

    def ready(self) -> None:
        from realtime import checks  # noqa: F401  (registers the system checks)
