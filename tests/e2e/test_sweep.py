"""Every live process marks rows of dead ones interrupted, whatever their name."""

from __future__ import annotations

import datetime
import uuid

import pytest
from django.utils import timezone

from realtime.models import RealtimeSession
from tests.support.clients import open_client, receive_event, wait_for_row

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_a_live_process_sweeps_the_rows_a_dead_one_left(
    server, gateway_process, fake_upstream, issue
):
    gateway = gateway_process(
        server=server, env_overrides={"GATEWAY_CHECKPOINT_SECONDS": "0.3"}
    )
    issued = await issue(fake_upstream.url)
    # A session live on this process: its heartbeat keeps its row active.
    ws = await open_client(gateway.ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    # A row of a process that died, under a name no live process has.
    heartbeat = timezone.now() - datetime.timedelta(seconds=30)
    dead = await RealtimeSession.objects.acreate(
        id=uuid.uuid4(),
        virtual_key_id=issued.key_id,
        virtual_key_name=issued.name,
        provider_slug=issued.provider_slug,
        gateway_instance="container-gone:8000",
        started_at=heartbeat - datetime.timedelta(seconds=60),
        checkpointed_at=heartbeat,
        messages_from_client=7,
        input_tokens=11,
    )
    row = await wait_for_row(pk=dead.pk)  # swept within a few periods
    assert (row.status, row.end_reason) == ("interrupted", "gateway_process_lost")
    assert row.ended_at == heartbeat  # the last time it was known alive
    assert (row.messages_from_client, row.input_tokens) == (7, 11)  # kept
    live = await RealtimeSession.objects.exclude(pk=dead.pk).aget()
    assert live.status == "active"
    await ws.close()
    ended = await wait_for_row(pk=live.pk)
    assert ended.status == "finished"
