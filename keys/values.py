"""Values the keys app hands to the rest of the gateway."""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


class Secret:
    """A string that never shows itself in a repr, a log line or a traceback."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The plaintext, for the one place that must send it upstream."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True, slots=True)
class ProviderTarget:
    """Where a session goes: the provider row, flattened."""

    provider_id: int
    slug: str
    kind: str
    upstream_url: str
    options: dict = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class BudgetLimits:
    """What a key or a team may spend per UTC day and month (None: no budget);
    enforced by the gateway's sessions (realtime.budgets)."""

    usd_day: Decimal | None = None
    usd_month: Decimal | None = None
    tokens_day: int | None = None
    tokens_month: int | None = None

    @property
    def is_set(self) -> bool:
        """True when any of the four budgets is set."""
        return not (
            self.usd_day is None
            and self.usd_month is None
            and self.tokens_day is None
            and self.tokens_month is None
        )


NO_BUDGETS = BudgetLimits()


@dataclass(frozen=True, slots=True)
class KeyIdentity:
    """Who a virtual key is, without its credential (for refused attempts)."""

    key_id: int
    name: str
    provider: ProviderTarget
    max_concurrent_sessions: int | None
    allowed_models: tuple[str, ...] = ()
    expires_at: datetime.datetime | None = None
    not_before: datetime.datetime | None = None
    # Checked when a session starts, in the same locked transaction as the
    # concurrent-session limit (realtime.services.session_start).
    sessions_per_minute: int | None = None
    # Enforced by the session's own watcher (realtime.bridge, realtime.deadlines).
    max_session_seconds: int | None = None
    idle_timeout_seconds: int | None = None
    team_id: int | None = None
    team_name: str = ""
    # Enforced at the handshake and by the session as usage arrives
    # (realtime.budgets); the team's are shared by all of its keys.
    budgets: BudgetLimits = NO_BUDGETS
    team_budgets: BudgetLimits = NO_BUDGETS


@dataclass(frozen=True, slots=True)
class SessionBinding:
    """What a short-lived token (keys.ephemeral) binds its sessions to."""

    model: str  # '' when the token names none (the key's allow-list applies)
    # The session configuration applied upstream before the client's first frame.
    session: dict[str, Any] = field(default_factory=dict)
    token_prefix: str = ""  # the token's recognisable start, for log lines


@dataclass(frozen=True, slots=True)
class ResolvedCredential:
    """What a session needs: the provider, the plaintext credential and the key."""

    provider: ProviderTarget
    credential: Secret
    key: KeyIdentity | None  # None for a raw provider key (passthrough)
    binding: SessionBinding | None = None  # presented a short-lived token


@dataclass(frozen=True, slots=True)
class Spend:
    """What sessions used over a period: how many, their tokens, their cost."""

    sessions: int = 0
    tokens: int = 0  # total and transcription tokens
    cost_usd: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class UsageToDate:
    """What a key or a team used in the current UTC day and month."""

    today: Spend = field(default_factory=Spend)
    month: Spend = field(default_factory=Spend)


NO_USAGE_TO_DATE = UsageToDate()
