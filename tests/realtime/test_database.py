"""The event loop's ORM calls: connections tidied at most once a second, and
at once after a database error (so a retry starts on a fresh connection)."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.db import OperationalError

from realtime import database

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tidies(monkeypatch):
    """Count the calls to close_old_connections; the next call tidies."""
    calls = []
    monkeypatch.setattr(database, "close_old_connections", lambda: calls.append(1))
    monkeypatch.setattr(database, "_tidied_at", -database.math.inf)
    return calls


async def test_a_call_returns_the_functions_result_and_tidies_once_a_second(tidies):
    assert await database.call(divmod, 7, 2) == (3, 1)
    assert await database.call(lambda *, a: a * 2, a=21) == 42
    assert len(tidies) == 1  # the second call came within the second


async def test_a_database_error_tidies_at_once(tidies):
    def failing():
        raise OperationalError("server closed the connection")

    await database.call(int)
    with pytest.raises(OperationalError):
        await database.call(failing)
    assert len(tidies) == 2  # the first call's, and the error's


async def test_a_call_a_second_later_tidies_again(tidies, monkeypatch):
    await database.call(int)
    later = database.time.monotonic() + database.TIDY_SECONDS + 0.1
    monkeypatch.setattr(database.time, "monotonic", lambda: later)
    await database.call(int)
    assert len(tidies) == 2


@pytest.fixture
def hops(monkeypatch):
    """The batches of calls each hop to the database thread carried."""
    batches: list[int] = []
    real = database._in_thread

    async def counted(calls):
        batches.append(len(calls))
        return await real(calls)

    monkeypatch.setattr(database, "_in_thread", counted)
    return batches


async def test_calls_made_during_a_hop_share_the_next_one_in_order(tidies, hops):
    entered, release = threading.Event(), threading.Event()
    order: list[int] = []

    def first():
        entered.set()
        assert release.wait(10)
        order.append(0)
        return 0

    def numbered(n):
        order.append(n)
        return n

    def failing():
        raise ValueError("this caller's own")

    started = asyncio.create_task(database.call(first))
    assert await asyncio.to_thread(entered.wait, 10)
    later = [asyncio.create_task(database.call(numbered, n)) for n in (1, 2)]
    failed = asyncio.create_task(database.call(failing))
    last = asyncio.create_task(database.call(numbered, 3))
    await asyncio.sleep(0)  # all four are waiting for the next hop
    release.set()
    assert await started == 0
    assert [await task for task in later] == [1, 2]
    with pytest.raises(ValueError, match="own"):
        await failed
    assert await last == 3
    assert order == [0, 1, 2, 3]
    assert hops == [1, 4]


async def test_a_caller_that_stops_waiting_leaves_the_others_theirs(tidies, hops):
    entered, release = threading.Event(), threading.Event()

    def blocking():
        entered.set()
        assert release.wait(10)
        return "done"

    gone = asyncio.create_task(database.call(blocking))
    assert await asyncio.to_thread(entered.wait, 10)
    waiting = asyncio.create_task(database.call(divmod, 9, 4))
    gone.cancel()
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await gone
    assert await waiting == (2, 1)
