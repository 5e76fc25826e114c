"""ORM calls from the event loop for the writes every session makes.

Channels' `database_sync_to_async` runs `close_old_connections` before and
after every call. That resets Django's connection health check, so on
PostgreSQL with health checks on (`conn_health_checks`, gateway_project
settings) every call also pays a `SELECT 1` round trip: two more queries per
session, at its row's start and end, plus the hooks' own cost. A call made here
runs on the same thread (asgiref's thread-sensitive executor, as Channels'
does) but tidies the connections at most once a second, and at once after a
database error: a connection past its CONN_MAX_AGE or broken is still closed
and reopened, and the retry that follows an error (`realtime.recorder`)
starts on a fresh one.
https://docs.djangoproject.com/en/5.2/ref/databases/#persistent-connections
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any, TypeVar

from asgiref.sync import sync_to_async
from django.db import Error as DatabaseError
from django.db import close_old_connections

T = TypeVar("T")

# How often a call tidies the connections when nothing went wrong (seconds).
TIDY_SECONDS = 1.0

_tidied_at = -math.inf  # monotonic; touched only on the database thread


def _tidy() -> None:
    global _tidied_at
    close_old_connections()
    _tidied_at = time.monotonic()


def _call(function: Callable[..., T], args: tuple, kwargs: dict[str, Any]) -> T:
    if time.monotonic() - _tidied_at >= TIDY_SECONDS:
        _tidy()
    try:
        return function(*args, **kwargs)
    except DatabaseError:
        _tidy()  # a broken connection is closed, not reused
        raise


_in_thread = sync_to_async(_call, thread_sensitive=True)


async def call(function: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """Run a sync ORM function on the database thread and return its result."""
    return await _in_thread(function, args, kwargs)
