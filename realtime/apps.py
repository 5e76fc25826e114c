from __future__ import annotations

from django.apps import AppConfig


class RealtimeConfig(AppConfig):
    name = "realtime"
    verbose_name = "Realtime usage"

    def ready(self) -> None:
        from keys.kinds import provider_kinds
        from keys.ledger import ledgers
        from keys.sessions import session_directory
        from realtime import checks  # noqa: F401  (registers the system checks)

        # (also registers the live sessions' admin)
        from realtime.live_admin import AdminSessionDirectory
        from realtime.providers import AdapterKinds
        from realtime.selectors import SessionLedger

        # keys/ checks provider rows against the adapters without importing them,
        # and shows keys' and teams' usage from the session log the same way.
        provider_kinds.register(AdapterKinds())
        ledgers.register(SessionLedger())
        # ... and a key's live sessions and a link to its session log.
        session_directory.register(AdminSessionDirectory())
