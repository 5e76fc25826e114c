"""The event loop's ORM calls: connections tidied at most once a second, and
at once after a database error (so a retry starts on a fresh connection)."""

from __future__ import annotations

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
