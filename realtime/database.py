"""ORM calls from the event loop for the writes every session makes.

Two costs of Channels' `database_sync_to_async` are avoided here:

- It runs `close_old_connections` before and after every call, which resets
  Django's connection health check, so on PostgreSQL with health checks on
  (`conn_health_checks`, gateway_project settings) every call also pays a
  `SELECT 1` round trip. Here the connections are tidied at most once a
  second, and at once after a database error: a connection past its
  CONN_MAX_AGE or broken is still closed and reopened, and the retry that
  follows an error (`realtime.recorder`) starts on a fresh one.
  https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections
- Each call is a hop to the database thread and back (asgiref's
  thread-sensitive executor, the one thread Channels' calls use too), whose
  handing over costs more CPU than a session row's INSERT. A call made while
  no hop is under way hops at once (so it reaches the thread before any call
  made after it, as with `sync_to_async`); calls made while one is under way
  wait for the next, which takes them all: under load, many sessions' writes
  share a hop. Each function still runs on its own (autocommit, its own
  transaction if it opens one), in the order called, and its result or
  exception is its caller's.

The hop itself skips asgiref's per-call layers where that provably changes
nothing (`_shared_executor`): when a thread-sensitive `sync_to_async` call
made by the caller would run on asgiref's one shared thread, the calls go to
that same executor directly and come back by one callback, each run as
asgiref runs it (a copy of its caller's context, asgiref's `Local` storage
moved to the thread and back, asgiref's thread-locals for `async_to_sync`
set; no event loop runs on that thread, as Django requires). Any other caller
(a request under Django's per-request thread, code under `async_to_sync`)
hops through `sync_to_async` itself, one call a hop, to the thread it picks.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import math
import os
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asgiref
from asgiref import sync as asgiref_sync
from django.db import Error as DatabaseError
from django.db import close_old_connections

T = TypeVar("T")

# How often a call tidies the connections when nothing went wrong (seconds).
TIDY_SECONDS = 1.0

_tidied_at = -math.inf  # monotonic; touched only on the database thread

# A call for a hop: the function, its arguments, a copy of its caller's
# context (it runs in it), and the future of a caller waiting for a later hop
# (None: the caller awaits the hop itself).
_Call = tuple[
    Callable[..., Any],
    tuple,
    dict[str, Any],
    contextvars.Context,
    asyncio.Future | None,
]
# A call's outcome: (succeeded, its result or exception).
_Outcome = tuple[bool, Any]


@dataclass(slots=True, eq=False)
class _Queue:
    """The calls of one event loop waiting for asgiref's shared thread."""

    waiting: list[_Call] = field(default_factory=list)
    busy: bool = False  # a hop is under way
    # The task running hops while calls wait; it ends by itself.
    runner: asyncio.Task | None = None


_queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue] = (
    weakref.WeakKeyDictionary()
)


def _tidy() -> None:
    global _tidied_at
    close_old_connections()
    _tidied_at = time.monotonic()


def _run_one(
    context: contextvars.Context,
    function: Callable[..., Any],
    args: tuple,
    kwargs: dict,
) -> Any:
    # Inside `context`: its Local storage moved to this thread, as asgiref's
    # SyncToAsync moves it (`asgiref.sync._restore_context`).
    _restore_context(context)
    return function(*args, **kwargs)


def _run_calls(calls: list[_Call]) -> list[_Outcome]:
    """On the database thread: each call's (succeeded, result or exception)."""
    outcomes: list[_Outcome] = []
    for function, args, kwargs, context, _ in calls:
        if time.monotonic() - _tidied_at >= TIDY_SECONDS:
            _tidy()
        try:
            outcomes.append(
                (True, context.run(_run_one, context, function, args, kwargs))
            )
        except DatabaseError as exc:
            _tidy()  # a broken connection is closed, not reused
            outcomes.append((False, exc))
        except BaseException as exc:  # the caller's own, as sync_to_async gives it
            outcomes.append((False, exc))
    return outcomes


# asgiref's internals the shared-thread test reads: the versions whose
# `SyncToAsync.__call__` was checked to choose its executor as
# `_shared_executor` does (tests/realtime/test_database.py fails on any other,
# so an upgrade is checked again); other versions always hop through it.
_CHECKED_ASGIREF = ("3.13.",)
_SyncToAsync = asgiref_sync.SyncToAsync
_AsyncToSync = asgiref_sync.AsyncToSync
_restore_context = asgiref_sync._restore_context
SHARED_THREAD_DIRECT = asgiref.__version__.startswith(_CHECKED_ASGIREF)


def _shared_executor(loop: asyncio.AbstractEventLoop) -> Executor | None:
    """asgiref's one shared thread when a thread-sensitive `sync_to_async`
    call made here would run on it; None when it would pick another (an outer
    sync thread, a request's own thread) or refuse (it would deadlock).

    The tests of `SyncToAsync.__call__`, in its order; only its last case
    (none of them holds) is taken here."""
    if (
        not SHARED_THREAD_DIRECT
        or getattr(_AsyncToSync.executors, "current", None)
        or _SyncToAsync.thread_sensitive_context.get(None)
        or loop in _AsyncToSync.loop_thread_executors
        or _SyncToAsync.deadlock_context.get(False)
    ):
        return None
    return _SyncToAsync.single_thread_executor


def _in_shared_thread(
    loop: asyncio.AbstractEventLoop, calls: list[_Call], done: asyncio.Future
) -> None:
    """On asgiref's shared thread: what `SyncToAsync.thread_handler` sets for
    `async_to_sync` (back to this loop), the calls, then their outcomes."""
    local = _SyncToAsync.threadlocal
    local.main_event_loop = loop
    local.main_event_loop_pid = os.getpid()
    local.task_context = None  # a caller's cancelling never cancels its call
    try:
        hop: _Outcome = (True, _run_calls(calls))
    except BaseException as exc:  # tidying failed: the hop fails, as in asgiref
        hop = (False, exc)
    with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting
        loop.call_soon_threadsafe(_settle, done, hop)


def _settle(done: asyncio.Future, hop: _Outcome) -> None:
    if done.done():
        return
    succeeded, value = hop
    if succeeded:
        done.set_result(value)
    else:
        done.set_exception(value)


_through_asgiref = asgiref_sync.sync_to_async(_run_calls, thread_sensitive=True)


async def _hop(executor: Executor | None, calls: list[_Call]) -> list[_Outcome]:
    """Run `calls` on `executor`'s thread (None: through `sync_to_async`,
    which picks the thread) and return their outcomes.

    Cancelled, as `sync_to_async` is: calls not yet begun never run, begun
    ones run to their end."""
    if executor is None:
        return await _through_asgiref(calls)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[list[_Outcome]] = loop.create_future()
    submitted = executor.submit(_in_shared_thread, loop, calls, done)
    try:
        return await done
    except asyncio.CancelledError:
        submitted.cancel()
        raise


async def _run_hops(queue: _Queue, executor: Executor) -> None:
    """Hop with every waiting call until none waits. Never cancelled by a
    caller (a cancelled caller only stops waiting: its call still runs, as a
    sync_to_async call would), so no call is left without a hop."""
    try:
        while queue.waiting:
            calls, queue.waiting = queue.waiting, []
            try:
                outcomes = await _hop(executor, calls)
            except BaseException as exc:  # the hop failed, or the loop is stopping
                calls, queue.waiting = calls + queue.waiting, []
                for *_, future in calls:
                    if future is None or future.done():
                        continue
                    if isinstance(exc, asyncio.CancelledError):
                        future.cancel()
                    else:
                        future.set_exception(exc)
                raise
            for (*_, future), (succeeded, value) in zip(calls, outcomes, strict=True):
                if future is None or future.done():
                    continue  # its caller stopped waiting
                if succeeded:
                    future.set_result(value)
                else:
                    future.set_exception(value)
    finally:
        queue.runner = None
        queue.busy = False


def _hand_over(
    queue: _Queue, loop: asyncio.AbstractEventLoop, executor: Executor
) -> None:
    """A hop ended: the calls that came meanwhile get the next one."""
    if queue.waiting:
        queue.runner = loop.create_task(_run_hops(queue, executor))
    else:
        queue.busy = False


async def call(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a sync ORM function on the database thread and return its result."""
    loop = asyncio.get_running_loop()
    executor = _shared_executor(loop)
    if executor is not None:
        # As `sync_to_async` marks a call to the shared thread (code the call
        # runs that awaits the thread again fails instead of deadlocking).
        _SyncToAsync.deadlock_context.set(True)
    context = contextvars.copy_context()
    try:
        if executor is None:  # a thread of its own: no sharing
            [(succeeded, value)] = await _hop(
                None, [(function, args, kwargs, context, None)]
            )
        else:
            queue = _queues.get(loop)
            if queue is None:
                queue = _queues[loop] = _Queue()
            if queue.busy:
                future: asyncio.Future[T] = loop.create_future()
                queue.waiting.append((function, args, kwargs, context, future))
                return await future
            queue.busy = True
            try:
                [(succeeded, value)] = await _hop(
                    executor, [(function, args, kwargs, context, None)]
                )
            finally:
                _hand_over(queue, loop, executor)
    finally:
        # What the call changed in its context is its caller's, as asgiref
        # hands it back (Local storage moved back to this thread).
        _restore_context(context)
        if executor is not None:
            _SyncToAsync.deadlock_context.set(False)
    if succeeded:
        return value
    raise value
