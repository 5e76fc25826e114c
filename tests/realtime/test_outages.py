"""The database or the channel layer failing under live and new sessions."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.layers import channel_layers
from django.db import OperationalError

from realtime import selectors, services
from tests.support.communicators import (
    expect_error_and_close,
    only_session,
    open_session,
)
from tests.support.processes import free_port

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]


def failing(*args, **kwargs):
    raise OperationalError("database is down (test)")


async def test_new_sessions_are_refused_clearly_when_keys_cannot_be_checked(
    fake_upstream, issue, monkeypatch
):
    issued = await issue(fake_upstream.url)
    monkeypatch.setattr(services, "session_authorize", failing)
    session = await open_session(issued.token)
    await expect_error_and_close(session, code=4503, error_code="keys_unavailable")
    assert fake_upstream.handshakes == []


async def test_live_sessions_go_on_while_the_database_is_down(
    fake_upstream, issue, settings, monkeypatch
):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.1
    settings.GATEWAY_CHECKPOINT_SECONDS = 0.1
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    with monkeypatch.context() as patch:
        patch.setattr(services, "session_checkpoint", failing)
        patch.setattr(selectors, "session_check", failing)
        for _ in range(5):  # several failed checks and checkpoints meanwhile
            await session.send_json_to({"type": "fake.echo"})
            await session.receive_json_from()
            await asyncio.sleep(0.1)
    await session.disconnect()
    row = await only_session()  # written once the database is back
    assert (row.status, row.messages_from_client) == ("finished", 5)


async def test_the_final_row_is_retried_then_the_loss_is_reported(
    fake_upstream, issue, monkeypatch, caplog
):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    real_finish = services.session_finish
    calls = []

    def flaky_finish(**kwargs):
        calls.append(kwargs)
        if len(calls) < 3:
            raise OperationalError("database is down (test)")
        return real_finish(**kwargs)

    monkeypatch.setattr(services, "session_finish", flaky_finish)
    await session.disconnect(timeout=10)
    assert len(calls) == 3
    assert (await only_session()).status == "finished"

    monkeypatch.setattr(services, "session_finish", failing)
    second = await open_session(issued.token)
    await second.receive_json_from()
    with caplog.at_level(logging.ERROR, logger="realtime.consumers"):
        await second.disconnect(timeout=10)
    assert "could not finalise the session row after 4 attempts" in caplog.text
    assert issued.token not in caplog.text


@pytest.fixture
def dead_redis_layer(settings):
    """The channel layer pointed at a Redis nobody runs."""
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": f"redis://127.0.0.1:{free_port()}/0",
                        "socket_connect_timeout": 0.2,
                    }
                ]
            },
        }
    }
    channel_layers.backends.clear()
    yield
    channel_layers.backends.clear()


async def test_sessions_work_without_redis(
    dead_redis_layer, fake_upstream, issue, caplog
):
    issued = await issue(fake_upstream.url)
    with caplog.at_level(logging.WARNING):
        session = await open_session(issued.token)
        assert (await session.receive_json_from())["type"] == "session.created"
        await session.send_json_to({"type": "fake.echo", "n": 1})
        assert (await session.receive_json_from())["n"] == 1
        await session.disconnect()
    assert (await only_session()).status == "finished"
    assert "channel layer unavailable" in caplog.text


async def test_repeated_failed_handshakes_are_throttled(
    fake_upstream, issue, settings, monkeypatch
):
    settings.GATEWAY_AUTH_FAILURES_PER_SECOND = 0.001  # no refill during the test
    settings.GATEWAY_AUTH_FAILURE_BURST = 3
    issued = await issue(fake_upstream.url)
    for _ in range(3):
        session = await open_session("vk_" + "b" * 43)
        await expect_error_and_close(session, code=4401, error_code="invalid_api_key")
    # Out of tokens: refused at once, before the database (even a good key).
    monkeypatch.setattr(services, "session_authorize", failing)
    for token in ("vk_" + "b" * 43, issued.token):
        session = await open_session(token)
        await expect_error_and_close(
            session, code=4429, error_code="too_many_failed_attempts"
        )
    assert fake_upstream.handshakes == []
