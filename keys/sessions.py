"""Keys' live sessions, as told to keys/ by the app that runs sessions.

keys/ never imports the session log, yet its admin shows what revoking a key
will close and links a key to its sessions. The app that runs sessions registers
a directory when it starts (realtime does, in `RealtimeConfig.ready`), as it
registers the provider kinds (`keys.kinds`). Until one is registered, no key has
sessions.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class LiveSession:
    """A session open right now, as the keys admin lists it."""

    key_id: int
    session_id: str
    model: str
    started_at: datetime.datetime
    gateway_instance: str
    url: str  # its admin page


class SessionDirectory(Protocol):
    """Where keys' sessions are."""

    def live_sessions(self, key_ids: Sequence[int]) -> Sequence[LiveSession]:
        """The sessions of these keys open now, on any gateway process."""
        ...

    def sessions_url(self, key_id: int) -> str:
        """The admin page listing a key's sessions ("" when there is none)."""
        ...


class _NoSessions:
    def live_sessions(self, key_ids: Sequence[int]) -> Sequence[LiveSession]:
        return ()

    def sessions_url(self, key_id: int) -> str:
        return ""


class Sessions:
    """The registered directory (one per process, like `admin.site`)."""

    def __init__(self) -> None:
        self._directory: SessionDirectory = _NoSessions()

    def register(self, directory: SessionDirectory) -> None:
        """Use `directory` from now on (the last one registered wins)."""
        self._directory = directory

    def live_sessions(self, key_ids: Sequence[int]) -> list[LiveSession]:
        """The sessions of these keys open now, oldest first."""
        found = self._directory.live_sessions(key_ids)
        return sorted(found, key=lambda live: live.started_at)

    def sessions_url(self, key_id: int) -> str:
        """The admin page listing a key's sessions ("" when there is none)."""
        return self._directory.sessions_url(key_id)


session_directory = Sessions()
