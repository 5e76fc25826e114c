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
"""

from __future__ import annotations

import asyncio
import math
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import Error as DatabaseError
from django.db import close_old_connections

T = TypeVar("T")

# How often a call tidies the connections when nothing went wrong (seconds).
TIDY_SECONDS = 1.0

_tidied_at = -math.inf  # monotonic; touched only on the database thread

# A call for a hop: the function, its arguments, and the future of a caller
# waiting for a later hop (None: the caller awaits the hop itself).
_Call = tuple[Callable[..., Any], tuple, dict[str, Any], asyncio.Future | None]


@dataclass(slots=True, eq=False)
class _Queue:
    """The calls of one event loop waiting for the database thread."""

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


def _run_calls(calls: list[_Call]) -> list[tuple[bool, Any]]:
    """On the database thread: each call's (succeeded, result or exception)."""
    outcomes: list[tuple[bool, Any]] = []
    for function, args, kwargs, _ in calls:
        if time.monotonic() - _tidied_at >= TIDY_SECONDS:
            _tidy()
        try:
            outcomes.append((True, function(*args, **kwargs)))
        except DatabaseError as exc:
            _tidy()  # a broken connection is closed, not reused
            outcomes.append((False, exc))
        except Exception as exc:
            outcomes.append((False, exc))
    return outcomes


_in_thread = sync_to_async(_run_calls, thread_sensitive=True)


async def _run_hops(queue: _Queue) -> None:
    """Hop with every waiting call until none waits. Never cancelled by a
    caller (a cancelled caller only stops waiting: its call still runs, as a
    sync_to_async call would), so no call is left without a hop."""
    try:
        while queue.waiting:
            calls, queue.waiting = queue.waiting, []
            try:
                outcomes = await _in_thread(calls)
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


def _hand_over(queue: _Queue, loop: asyncio.AbstractEventLoop) -> None:
    """A hop ended: the calls that came meanwhile get the next one."""
    if queue.waiting:
        queue.runner = loop.create_task(_run_hops(queue))
    else:
        queue.busy = False


async def call(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a sync ORM function on the database thread and return its result."""
    loop = asyncio.get_running_loop()
    queue = _queues.get(loop)
    if queue is None:
        queue = _queues[loop] = _Queue()
    if queue.busy:
        future: asyncio.Future[T] = loop.create_future()
        queue.waiting.append((function, args, kwargs, future))
        return await future
    queue.busy = True
    try:
        [(succeeded, value)] = await _in_thread([(function, args, kwargs, None)])
    finally:
        _hand_over(queue, loop)
    if succeeded:
        return value
    raise value
