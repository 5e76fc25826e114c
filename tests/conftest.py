"""Test setup: environment defaults first (before settings load), then fixtures."""

from __future__ import annotations

import os

# Test-only values; the real environment wins (CI sets DATABASE_URL, REDIS_URL).
# The settings module is named here, not in pyproject.toml, so that pytest-django
# loads settings after these defaults are in place.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "gateway_project.settings")
os.environ.setdefault("DJANGO_SECRET_KEY", "test-only-secret-key")
os.environ.setdefault(
    "GATEWAY_ENCRYPTION_KEYS", "2eSRvdG7uAyRzQ0W7dTwgFtHl-UfhFiNai8QdPafJP8="
)
os.environ["DJANGO_DEBUG"] = "false"
os.environ.setdefault("GATEWAY_KEY_RECHECK_SECONDS", "0.5")
os.environ.setdefault("GATEWAY_LOG_LEVEL", "DEBUG")
# Tests change prices between sessions; the cache has its own tests.
os.environ.setdefault("GATEWAY_PRICE_CACHE_SECONDS", "0")
# The listener stops with the last session, as the hub's tests expect; its
# linger has its own tests.
os.environ.setdefault("GATEWAY_ANNOUNCEMENT_LINGER_SECONDS", "0")
# Many tests present bad keys from 127.0.0.1; the throttle has its own tests.
os.environ.setdefault("GATEWAY_AUTH_FAILURE_BURST", "1000000")

import django

django.setup()  # before the imports below, which load models

import pytest  # noqa: E402
from asgiref.sync import sync_to_async  # noqa: E402

from realtime.testing import FakeRealtimeServer  # noqa: E402
from tests.support.keys import UPSTREAM_SECRET, IssuedKey, issue_key  # noqa: E402
from tests.support.processes import GatewayLauncher, child_environment  # noqa: E402


@pytest.fixture
async def fake_upstream():
    """A fake OpenAI Realtime server on 127.0.0.1 that demands UPSTREAM_SECRET."""
    async with FakeRealtimeServer(api_key=UPSTREAM_SECRET) as server:
        yield server


@pytest.fixture
def issue():
    """Issue a virtual key (async) for a provider pointing at `upstream_url`."""

    async def _issue(upstream_url: str, **options) -> IssuedKey:
        return await sync_to_async(issue_key)(upstream_url, **options)

    return _issue


@pytest.fixture(scope="session")
def gateway_env(django_db_setup, django_db_blocker) -> dict[str, str]:
    """Environment for gateway processes: the test database, fast key checks."""
    with django_db_blocker.unblock():
        return child_environment()


@pytest.fixture
def gateway_process(gateway_env, tmp_path):
    """Start gateway processes: `gateway_process(server=..., env_overrides=...,
    extra_args=...)` returns a ready GatewayProcess; all stop at teardown."""
    with GatewayLauncher(gateway_env, log_dir=tmp_path) as launcher:
        yield launcher.start


@pytest.fixture(scope="session")
def daphne(gateway_env, tmp_path_factory):
    """One real Daphne process (`manage.py rungateway`) for the whole run."""
    log_dir = tmp_path_factory.mktemp("daphne")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        yield launcher.start(server="daphne")


@pytest.fixture(scope="session", autouse=True)
def _close_worker_thread_connections(django_db_setup):
    """Async tests reach the ORM through asgiref's worker thread; close its
    connections before the test database is dropped (PostgreSQL refuses to
    drop a database that still has sessions)."""
    yield
    from asgiref.sync import SyncToAsync
    from django.db import connections

    SyncToAsync.single_thread_executor.submit(connections.close_all).result(10)


@pytest.fixture(autouse=True)
def process():
    """Each test runs on a fresh process state (key cache, throttle, metrics)."""
    from realtime.state import ProcessState, replace_process_state

    state = ProcessState()
    previous = replace_process_state(state)
    yield state
    replace_process_state(previous)
