"""Budgets: what a key and its team may spend per UTC day and month, enforced.

A key and its team each may have budgets in USD and in tokens, per UTC day and
per UTC month (`keys.values.BudgetLimits`). Spend is what
`realtime.selectors.usage_to_date` sums from the session rows (tokens:
`selectors.TOKENS`; USD: the rows' `cost_usd`), by the UTC day each session
started, so the gateway refuses by the same arithmetic the admin and `usage
--by` report. Refused handshakes are not spend.

Where budgets are enforced, and what that costs:

- **At the handshake** (`session_budget`): a key with budgets, or in a team with
  budgets, reads what the key (and the team) spent: one grouped query per owner
  with budgets, none at all for other keys. A budget already reached refuses the
  session with 4402 `budget_exceeded` and a `rejected` row.
- **Live** (`SessionBudget`): the session keeps what the key's and the team's
  *other* sessions spent (`refresh`: read from the database every
  `GATEWAY_BUDGET_REFRESH_SECONDS` by the bridge's watcher; the live sessions of
  every process are there through their checkpoints) and its own usage, exact,
  in memory. After an upstream frame that changed the provider's usage (for
  OpenAI, a `response.done`), the pump asks `check`, which does no I/O: a sum,
  and for USD budgets the cost, priced as the row is at the end
  (`pricing.session_cost`: the input transcription at the transcription
  model's rates, delegated work at its model's), at prices looked up when
  each model was learnt. The frame has been sent by then; a budget reached
  ends the session with 4402. The watcher also checks at each refresh, so a
  session whose key or team was taken over its budget by other sessions ends
  within one refresh without starting another response, and it writes the
  session's row when its usage changed since the last write, so the others see
  it within one refresh.

How far a budget can overshoot: the gateway learns a response's usage only when
the provider reports it, as the response ends, so the response that crosses a
budget is delivered whole (the provider has billed it anyway). One session thus
overshoots by at most the one response that crossed. Sessions of the key (or
team) running at once read each other's spend with a lag of up to two refresh
periods (the other's write, then this one's read), so each of them may finish
one response past the budget, and responses that finish within that lag count
late; a session never starts a response once it has seen the budget reached.
A session's own usage counts in the day (and month) it started, as in
`usage_to_date`, so a session that runs past midnight keeps counting against
the day it started in, and still against the month.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

from django.utils import timezone

from keys.ledger import Owner
from keys.values import (
    NO_USAGE_TO_DATE,
    BudgetLimits,
    KeyIdentity,
    Spend,
    UsageToDate,
)
from realtime import pricing, selectors, services
from realtime.exceptions import BudgetExceeded
from realtime.models import ModelPrice
from realtime.usage import NO_BILLING, NO_USAGE, Billing, Usage

_NOTHING = Spend()


def applies(key: KeyIdentity | None) -> bool:
    """True when a session of `key` is under a budget (its own or its team's)."""
    return key is not None and (key.budgets.is_set or key.team_budgets.is_set)


def _period_word(period: str) -> str:
    return "daily" if period == "day" else "monthly"


def _resets(period: str) -> str:
    return "00:00 UTC" if period == "day" else "the start of the next UTC month"


def reached(
    limits: BudgetLimits, *, tokens: tuple[int, int], cost: tuple[Decimal, Decimal]
) -> tuple[str, str, str] | None:
    """The first budget that spend reached, as (period, unit, limit), or None.

    `tokens` and `cost`: what was spent today and this month. Reaching a budget
    is enough (a budget of 0 allows nothing)."""
    checks = (
        ("day", "token", limits.tokens_day, tokens[0]),
        ("month", "token", limits.tokens_month, tokens[1]),
        ("day", "USD", limits.usd_day, cost[0]),
        ("month", "USD", limits.usd_month, cost[1]),
    )
    for period, unit, limit, spent in checks:
        if limit is not None and spent >= limit:
            shown = (
                f"{limit:,}" if unit == "token" else f"${Decimal(limit).normalize():f}"
            )
            return period, unit, shown
    return None


def exceeded(owner: str, period: str, unit: str, limit: str) -> BudgetExceeded:
    """The refusal for a reached budget; the same text for every attempt, so a
    hammered key adds to one rejected row a minute."""
    return BudgetExceeded(
        f"The {_period_word(period)} {unit} budget of this {owner} ({limit}) "
        f"is used up; it resets at {_resets(period)}."
    )


class SessionBudget:
    """One session's view of its key's and team's budgets: what the others
    spent (refreshed from the database) and what this session spent (exact)."""

    __slots__ = (
        "_elsewhere",
        "_model",
        "_own",
        "_period",
        "_prices",
        "_prices_needed",
        "identity",
        "kind",
        "started",
        "written",
    )

    def __init__(
        self, *, identity: KeyIdentity, kind: str, started: datetime.datetime
    ) -> None:
        self.identity = identity
        self.kind = kind
        self.started = started
        # Only USD budgets need the session's cost (a token budget needs none).
        self._prices_needed = any(
            limits.usd_day is not None or limits.usd_month is not None
            for limits in (identity.budgets, identity.team_budgets)
        )
        # The prices of the models the session's usage is billed as (its own,
        # its transcription's, its delegated work's), looked up as they appear.
        self._prices: dict[str, ModelPrice | None] = {}
        self._model = ""  # the session's model, as of the last refresh
        self._elsewhere: dict[str, UsageToDate] = {}
        self._period = selectors.utc_periods(started)  # of `_elsewhere`
        # This session's (usage, billing, prices) and its tokens and cost.
        self._own: tuple[Usage, Billing, object, int, Decimal | None] = (
            NO_USAGE,
            NO_BILLING,
            None,
            0,
            None,
        )
        self.written: Usage = NO_USAGE  # the usage the row holds (last checkpoint)

    # --- database (called off the event loop) ---------------------------------

    def refresh(
        self,
        *,
        model: str,
        billing: Billing = NO_BILLING,
        excluding: uuid.UUID | None = None,
        now: datetime.datetime | None = None,
    ) -> None:
        """Read what the key's and the team's other sessions spent in the current
        periods (one query per owner with budgets), and, when a USD budget needs
        them, the prices of the models the usage is billed as (`model`, and
        those `billing` names) not looked up yet."""
        now = now or timezone.now()
        owners: tuple[tuple[Owner, int | None, BudgetLimits], ...] = (
            ("key", self.identity.key_id, self.identity.budgets),
            ("team", self.identity.team_id, self.identity.team_budgets),
        )
        for by, owner_id, limits in owners:
            if owner_id is None or not limits.is_set:
                continue
            spent = selectors.usage_to_date(
                by=by,
                ids=[owner_id],
                now=now,
                excluding=excluding,
            )
            self._elsewhere[by] = spent.get(owner_id, NO_USAGE_TO_DATE)
        self._period = selectors.utc_periods(now)
        self._model = model
        if not self._prices_needed:
            return
        models = {name for name, _ in billing.parts(NO_USAGE, model)}
        missing = models - self._prices.keys()
        if missing:
            on = self.started.date()
            found = pricing.prices_for(kind=self.kind, models=missing, on=on)
            self._prices = {**self._prices, **found}  # a new dict: a new price set

    # --- no I/O ---------------------------------------------------------------

    def cost(self, usage: Usage, billing: Billing = NO_BILLING) -> Decimal | None:
        """What `usage` costs, each part at the price of the model it is billed
        as, as the session's row is priced at its end (`pricing.session_cost`).
        None: no USD budget needs it, or none of those models has a price."""
        return self._own_spend(usage, billing)[1]

    def _own_spend(self, usage: Usage, billing: Billing) -> tuple[int, Decimal | None]:
        """This session's tokens and cost, computed once per usage and price."""
        prices = self._prices
        seen_usage, seen_billing, seen_prices, tokens, cost = self._own
        if (
            usage is not seen_usage
            or prices is not seen_prices
            or billing != seen_billing
        ):
            parts = billing.parts(usage, self._model)
            cost = pricing.parts_cost(parts, prices) if prices else None
            tokens = usage.total_tokens + usage.transcription_tokens
            self._own = (usage, billing, prices, tokens, cost)
        return tokens, cost

    def check(
        self,
        usage: Usage,
        billing: Billing = NO_BILLING,
        *,
        now: datetime.datetime | None = None,
    ) -> BudgetExceeded | None:
        """The refusal when the others' spend and this session's `usage` (its
        parts priced as `billing` says) reach a budget of the key or its team,
        else None."""
        day, month = selectors.utc_periods(now or timezone.now())
        own_tokens, cost = self._own_spend(usage, billing)
        own_cost = cost if cost is not None else Decimal(0)
        # Own usage counts in the periods the session started in (usage_to_date).
        own_day = self.started >= day
        own_month = self.started >= month
        owners = (
            ("key", "virtual key", self.identity.budgets),
            ("team", "virtual key's team", self.identity.team_budgets),
        )
        for by, owner, limits in owners:
            if not limits.is_set:
                continue
            others = self._elsewhere.get(by, NO_USAGE_TO_DATE)
            # Read in an earlier period: its spend is not this period's.
            others_day = others.today if self._period[0] == day else _NOTHING
            others_month = others.month if self._period[1] == month else _NOTHING
            found = reached(
                limits,
                tokens=(
                    others_day.tokens + (own_tokens if own_day else 0),
                    others_month.tokens + (own_tokens if own_month else 0),
                ),
                cost=(
                    others_day.cost_usd + (own_cost if own_day else 0),
                    others_month.cost_usd + (own_cost if own_month else 0),
                ),
            )
            if found is not None:
                return exceeded(owner, *found)
        return None


def session_budget(
    *,
    identity: KeyIdentity,
    kind: str,
    model: str,
    client_address: str,
    instance: str,
    now: datetime.datetime | None = None,
) -> SessionBudget:
    """A new session's budget, read from the database; BudgetExceeded, after
    logging a `rejected` row, when a budget of the key or its team is reached.
    Only for a key under a budget (`applies`)."""
    now = now or timezone.now()
    budget = SessionBudget(identity=identity, kind=kind, started=now)
    budget.refresh(model=model, now=now)
    refusal = budget.check(NO_USAGE, now=now)
    if refusal is not None:
        services.session_reject(
            identity,
            model=model,
            client_address=client_address,
            instance=instance,
            error=refusal,
        )
        raise refusal
    return budget
