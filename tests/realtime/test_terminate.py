"""An operator terminates a live session: the service, the command, and the
session closing through the channel layer or, without it, its periodic check."""

from __future__ import annotations

import asyncio
import io
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.core.management import CommandError, call_command

from keys.models import Provider, VirtualKey
from realtime import operations, selectors
from realtime.models import RealtimeSession, SessionStatus
from realtime.revocations import TERMINATION_GROUP, termination_group
from tests.realtime.test_outages import dead_redis_layer  # noqa: F401 (fixture)
from tests.support.communicators import expect_error_and_close, open_session
from tests.support.keys import UPSTREAM_SECRET, issue_key

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(30)]

terminate = sync_to_async(operations.session_terminate)


async def live_row(process, *, group_joined: bool) -> RealtimeSession:
    """The one active row, once its session listens for its terminate."""
    async with asyncio.timeout(5):
        while True:
            row = await RealtimeSession.objects.filter(status="active").afirst()
            hubs = list(process._hubs.values())
            listening = row is not None and any(
                hub.watching(termination_group(row.id)) for hub in hubs
            )
            if row is not None and (listening or not group_joined):
                return row
            await asyncio.sleep(0.01)


async def expect_terminated(session, row_id: uuid.UUID) -> RealtimeSession:
    await expect_error_and_close(session, code=4403, error_code="session_terminated")
    row = await RealtimeSession.objects.aget(pk=row_id)
    assert (row.status, row.close_code, row.end_reason) == (
        "finished", 4403, "session_terminated",
    )  # fmt: skip
    assert row.terminate_requested_at is not None
    return row


async def test_terminate_closes_the_session_through_the_channel_layer(
    fake_upstream, issue, settings, process
):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 300  # only the layer can do it in time
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    row = await live_row(process, group_joined=True)
    await terminate(session_id=row.id)
    await expect_terminated(session, row.id)
    await fake_upstream.wait_closed_count(1)
    hub = next(iter(process._hubs.values()))
    assert not hub.watching(termination_group(row.id))  # left the group


async def test_terminate_closes_only_the_chosen_session(
    fake_upstream, issue, settings, process
):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 300
    issued = await issue(fake_upstream.url)
    first = await open_session(issued.token)
    await first.receive_json_from()
    chosen = await live_row(process, group_joined=True)
    other = await open_session(issued.token)
    await other.receive_json_from()
    await terminate(session_id=chosen.id)
    await expect_terminated(first, chosen.id)
    await other.send_json_to({"type": "fake.echo", "n": 7})
    assert (await other.receive_json_from())["n"] == 7  # the other goes on
    await other.disconnect()


async def test_without_the_layer_the_periodic_check_closes_it(
    dead_redis_layer,  # noqa: F811
    fake_upstream,
    issue,
    settings,
    process,
):
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.2
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    row = await live_row(process, group_joined=False)
    await terminate(session_id=row.id)  # its announcement fails: Redis is down
    await expect_terminated(session, row.id)


async def test_a_passthrough_session_can_be_terminated_too(
    fake_upstream, issue, settings
):
    settings.GATEWAY_ALLOW_PASSTHROUGH = True
    settings.GATEWAY_KEY_RECHECK_SECONDS = 0.2
    await issue(fake_upstream.url)
    await Provider.objects.filter(slug="fake").aupdate(allow_passthrough=True)
    session = await open_session(
        headers=[
            (b"x-portkey-provider", b"fake"),
            (b"x-portkey-api-key", UPSTREAM_SECRET.encode()),
        ]
    )
    await session.receive_json_from()
    row = await RealtimeSession.objects.aget(status="active")
    assert row.virtual_key_id is None
    # Behind the layer's back: only the session's own check can see it.
    await RealtimeSession.objects.filter(pk=row.id).aupdate(
        terminate_requested_at=row.started_at
    )
    await expect_terminated(session, row.id)


def test_terminate_refuses_unknown_and_finished_sessions():
    with pytest.raises(operations.SessionNotLive):
        operations.session_terminate(session_id=uuid.uuid4())
    over = RealtimeSession.objects.create(
        provider_slug="fake", status=SessionStatus.FINISHED
    )
    with pytest.raises(operations.SessionNotLive):
        operations.session_terminate(session_id=over.id)
    over.refresh_from_db()
    assert over.terminate_requested_at is None


def test_the_command_terminates_a_live_session(monkeypatch):
    announced = []
    monkeypatch.setattr(operations, "announce_termination", announced.append)
    live = RealtimeSession.objects.create(provider_slug="fake")
    out = io.StringIO()
    call_command("terminate_session", str(live.id), stdout=out)
    assert f"Terminating session {live.id}" in out.getvalue()
    live.refresh_from_db()
    assert live.terminate_requested_at is not None
    assert announced == [live.id]


@pytest.mark.parametrize("argument", ["not-a-uuid", str(uuid.uuid4())])
def test_the_command_refuses_what_is_not_a_live_session(argument):
    with pytest.raises(CommandError):
        call_command("terminate_session", argument)


def test_the_announcement_reaches_every_process_naming_the_session():
    layer = get_channel_layer()
    session_id = uuid.uuid4()

    async def listen() -> dict:
        channel = await layer.new_channel()
        await layer.group_add(TERMINATION_GROUP, channel)
        await sync_to_async(operations.announce_termination)(session_id)
        return await layer.receive(channel)

    message = asyncio.run(listen())
    assert message == {
        "type": "realtime_session.terminate",
        "session_id": session_id.hex,
    }


def test_the_periodic_check_is_one_query(django_assert_num_queries):
    issued = issue_key("ws://127.0.0.1:9/")
    row = RealtimeSession.objects.create(
        provider_slug="fake", virtual_key_id=issued.key_id
    )
    with django_assert_num_queries(1):
        check = selectors.session_check(session_id=row.id, key_id=issued.key_id)
    assert check == selectors.SessionCheck(terminated=False, key_refusal=None)

    VirtualKey.objects.filter(pk=issued.key_id).update(revoked_at=row.started_at)
    RealtimeSession.objects.filter(pk=row.id).update(
        terminate_requested_at=row.started_at
    )
    check = selectors.session_check(session_id=row.id, key_id=issued.key_id)
    assert check.terminated
    assert check.key_refusal is not None and check.key_refusal.code == "key_revoked"

    VirtualKey.objects.filter(pk=issued.key_id).delete()
    check = selectors.session_check(session_id=row.id, key_id=issued.key_id)
    assert str(check.key_refusal) == "the virtual key was deleted"
