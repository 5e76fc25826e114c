"""A session's watcher: its limits, its row, its key and its budget, checked
every so often beside the bridge's pump.

It times the key's session limits (`realtime.deadlines`), re-checks the row (an
operator's terminate) and the key, checkpoints the counters and, for a session
under a budget, refreshes what the key's other sessions spent
(`realtime.budgets`). It lives on a timer: a task exists only while a check
that reads or writes the database runs, since a task waiting out the hours
between checks (its coroutine, its sleep) costs every idle session ~1 KiB.
"""

from __future__ import annotations

import asyncio
import math
import random

from channels.db import database_sync_to_async
from django.conf import settings
from django.db import Error as DatabaseError

from realtime import endings, selectors
from realtime.admission import Session
from realtime.budgets import SessionBudget
from realtime.deadlines import SessionClock
from realtime.endings import Ending
from realtime.exceptions import BudgetExceeded
from realtime.models import SessionStatus
from realtime.state import ProcessState


def over_budget(session: Session, refusal: BudgetExceeded) -> Ending:
    """The session reached its key's budget."""
    session.log.info("closing: %s", refusal.code)
    return Ending.by_gateway(refusal, status=SessionStatus.FINISHED)


def terminated(session: Session) -> Ending:
    """An operator terminated the session."""
    session.log.info("closing: terminated by an operator")
    return endings.terminated()


def key_refused(session: Session, message: str, code: str) -> Ending:
    """The session's key was revoked, expired or disabled."""
    session.log.info("closing: %s", code)
    return endings.key_refused(message, code)


def _frames(session: Session) -> int:
    meter = session.meter
    return meter.messages_from_client + meter.messages_from_upstream


class SessionWatcher:
    """Checks one session on a timer; `ended` holds the `Ending` it finds."""

    __slots__ = (
        "_budget",
        "_check",
        "_clock",
        "_loop",
        "_next_checkpoint",
        "_next_recheck",
        "_next_refresh",
        "_session",
        "_state",
        "_timer",
        "ended",
    )

    def __init__(self, session: Session, *, state: ProcessState) -> None:
        loop = asyncio.get_running_loop()
        now = loop.time()
        self._loop = loop
        self._session = session
        self._state = state
        self._clock = SessionClock(
            started=now,
            max_seconds=session.max_seconds,
            idle_seconds=session.idle_seconds,
            frames=_frames(session),
        )
        recheck = settings.GATEWAY_KEY_RECHECK_SECONDS
        # Jitter the first check so sessions opened together do not query together.
        self._next_recheck = now + recheck * random.uniform(0.5, 1.0)
        self._next_checkpoint = now + settings.GATEWAY_CHECKPOINT_SECONDS
        self._budget: SessionBudget | None = session.budget
        self._next_refresh = math.inf
        if self._budget is not None:
            self._next_refresh = now + self._refresh_period() * random.uniform(0.5, 1.0)
        self._check: asyncio.Task[Ending | None] | None = None
        self.ended: asyncio.Future[Ending] = loop.create_future()
        self._timer: asyncio.TimerHandle | None = None
        self._schedule()

    async def stop(self) -> None:
        """Stop watching; wait for a check under way to stop."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        check = self._check
        if check is not None:
            check.cancel()
            await asyncio.gather(check, return_exceptions=True)
        if not self.ended.done():
            self.ended.cancel()
        elif not self.ended.cancelled():
            self.ended.exception()  # seen by the bridge, or not needed now

    def _refresh_period(self) -> float:
        return min(
            settings.GATEWAY_BUDGET_REFRESH_SECONDS,
            self._session.provider.max_budget_period,
        )

    def _schedule(self) -> None:
        wake = min(
            self._next_recheck,
            self._next_checkpoint,
            self._next_refresh,
            self._clock.next_check(),
        )
        self._timer = self._loop.call_at(wake, self._wake)

    def _wake(self) -> None:
        self._timer = None
        now = self._loop.time()
        timed_out = self._clock.check(now, _frames(self._session))
        if timed_out is not None:
            assert timed_out.error is not None
            self._session.log.info("closing: %s", timed_out.error.code)
            self.ended.set_result(timed_out)
        elif now >= min(self._next_recheck, self._next_refresh, self._next_checkpoint):
            self._check = self._loop.create_task(self._housekeep(now))
            self._check.add_done_callback(self._checked)
        else:  # a limit's check, early or with frames since
            self._schedule()

    def _checked(self, check: asyncio.Task[Ending | None]) -> None:
        self._check = None
        if check.cancelled() or self.ended.done():
            return
        exc = check.exception()
        if exc is not None:
            self.ended.set_exception(exc)  # the bridge logs a fault
            return
        ending = check.result()
        if ending is not None:
            self.ended.set_result(ending)
        else:
            self._schedule()

    async def _housekeep(self, now: float) -> Ending | None:
        """The checks due that read or write the database."""
        session = self._session
        budget = self._budget
        try:
            if now >= self._next_recheck:
                self._next_recheck = now + settings.GATEWAY_KEY_RECHECK_SECONDS
                check = await database_sync_to_async(selectors.session_check)(
                    session_id=session.id, key_id=session.key_id
                )
                if check.terminated:
                    return terminated(session)
                refusal = check.key_refusal
                if refusal is not None:
                    if session.key_id is not None:
                        self._state.key_cache.forget(session.key_id)
                    return key_refused(session, str(refusal), refusal.code)
            if budget is not None and now >= self._next_refresh:
                self._next_refresh = now + self._refresh_period()
                over = await self._account(budget, now)
                if over is not None:
                    return over
            if now >= self._next_checkpoint:
                self._next_checkpoint = now + settings.GATEWAY_CHECKPOINT_SECONDS
                await checkpoint(session)
        except DatabaseError:
            # The session goes on; its counters stay in memory until it ends.
            session.log.warning("database unavailable for housekeeping", exc_info=True)
        return None

    async def _account(self, budget: SessionBudget, now: float) -> Ending | None:
        """For a session under a budget, every refresh period: write its usage
        if it changed (so the key's other sessions, on any process, see it),
        read what those spent, and end it if the budget is reached (by the
        usage so far, estimated where the provider reports it late)."""
        session = self._session
        # The price first (a model named in-band is known by now), then the
        # row, which then carries the cost.
        provider = session.provider
        await database_sync_to_async(budget.refresh)(
            model=provider.model, billing=provider.billing, excluding=session.id
        )
        if provider.usage is not budget.written:
            await checkpoint(session)
        refusal = budget.check(provider.running_usage(now), provider.billing)
        return None if refusal is None else over_budget(session, refusal)


async def checkpoint(session: Session) -> None:
    """Write the session's counters, with its cost for a session under a
    budget (which the key's other sessions count)."""
    budget, usage = session.budget, session.provider.usage
    billing = session.provider.billing
    cost = budget.cost(usage, billing) if budget is not None else None
    await session.record.checkpoint(session.meter, session.provider, cost_usd=cost)
    if budget is not None:
        budget.written = usage
