"""What keys and teams used, as told to keys/ by the app that logs sessions.

keys/ shows each key's and team's usage today and this month (UTC) in its admin,
but never imports the session log. That app registers a ledger when it starts
(realtime does, in `RealtimeConfig.ready`); until one is registered, nothing
was used.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping
from typing import Literal, Protocol

from keys.values import UsageToDate

Owner = Literal["key", "team"]


class Ledger(Protocol):
    """Sums of session rows per key or per team, for the current UTC periods."""

    def usage_to_date(
        self,
        *,
        by: Owner,
        ids: Collection[int] | None = None,
        now: datetime.datetime | None = None,
    ) -> Mapping[int, UsageToDate]:
        """Usage today and this month of each key (or team) among `ids` that
        used anything (None: all of them), by id."""
        ...


class _NoSessions:
    def usage_to_date(
        self,
        *,
        by: Owner,
        ids: Collection[int] | None = None,
        now: datetime.datetime | None = None,
    ) -> Mapping[int, UsageToDate]:
        return {}


class Ledgers:
    """The registered ledger (one per process, like `admin.site`)."""

    def __init__(self) -> None:
        self._ledger: Ledger = _NoSessions()

    def register(self, ledger: Ledger) -> None:
        """Use `ledger` from now on (the last one registered wins)."""
        self._ledger = ledger

    def usage_to_date(
        self, *, by: Owner, ids: Collection[int] | None = None
    ) -> Mapping[int, UsageToDate]:
        """Usage today and this month by key or team id (absent: none)."""
        return self._ledger.usage_to_date(by=by, ids=ids)


ledgers = Ledgers()
