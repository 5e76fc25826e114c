"""The event loop's ORM calls: connections tidied at most once a second, and
at once after a database error (so a retry starts on a fresh connection)."""

from __future__ import annotations

import asyncio
import contextvars
import threading

import asgiref
import pytest
from asgiref.local import Local
from asgiref.sync import (
    SyncToAsync,
    ThreadSensitiveContext,
    async_to_sync,
    sync_to_async,
)
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


async def test_a_failing_tidy_fails_the_call(monkeypatch):
    def failing():
        raise OperationalError("could not close the connection")

    monkeypatch.setattr(database, "close_old_connections", failing)
    monkeypatch.setattr(database, "_tidied_at", -database.math.inf)
    with pytest.raises(OperationalError, match="close"):
        await database.call(int)


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
    real = database._hop

    async def counted(executor, calls):
        batches.append(len(calls))
        return await real(executor, calls)

    monkeypatch.setattr(database, "_hop", counted)
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


def test_the_installed_asgiref_is_one_the_direct_hop_was_checked_against():
    # On failure: check that `database._shared_executor` still makes the choice
    # of this asgiref's SyncToAsync.__call__, then add the version.
    assert database.SHARED_THREAD_DIRECT, asgiref.__version__


async def test_a_call_runs_on_the_thread_sync_to_async_would_choose():
    loop = asyncio.get_running_loop()
    assert database._shared_executor(loop) is SyncToAsync.single_thread_executor
    shared = await sync_to_async(threading.get_ident)()
    assert await database.call(threading.get_ident) == shared
    async with ThreadSensitiveContext():  # as Django runs each request
        assert database._shared_executor(loop) is None
        own = await sync_to_async(threading.get_ident)()
        assert await database.call(threading.get_ident) == own != shared


def test_a_call_under_async_to_sync_runs_on_the_outer_thread():
    assert async_to_sync(database.call)(threading.get_ident) == threading.get_ident()


local = Local()
number: contextvars.ContextVar[int] = contextvars.ContextVar("number")


async def test_a_call_sees_its_callers_context_and_hands_changes_back():
    def swap():
        seen = (local.name, number.get())
        local.name, _ = "call's", number.set(2)
        return seen

    local.name, _ = "caller's", number.set(1)
    assert await database.call(swap) == ("caller's", 1)
    assert (local.name, number.get()) == ("call's", 2)
    # As sync_to_async does.
    local.name, _ = "caller's", number.set(1)
    assert await sync_to_async(swap)() == ("caller's", 1)
    assert (local.name, number.get()) == ("call's", 2)


async def test_calls_sharing_a_hop_each_run_in_their_callers_context(hops):
    entered, release = threading.Event(), threading.Event()

    def blocking():
        entered.set()
        assert release.wait(10)

    async def caller(n):
        local.name, _ = f"caller {n}", number.set(n)
        return await database.call(lambda: (local.name, number.get()))

    first = asyncio.create_task(database.call(blocking))
    assert await asyncio.to_thread(entered.wait, 10)
    callers = [asyncio.create_task(caller(n)) for n in (1, 2)]
    await asyncio.sleep(0)  # both are waiting for the next hop
    release.set()
    await first
    assert [await task for task in callers] == [("caller 1", 1), ("caller 2", 2)]
    assert hops == [1, 2]


async def test_a_call_may_await_async_code_that_calls_the_database_again():
    def nested():  # async_to_sync back to the loop, whose call comes back here
        return threading.get_ident(), async_to_sync(database.call)(threading.get_ident)

    caller, inner = await database.call(nested)
    assert caller == inner == await sync_to_async(threading.get_ident)()
