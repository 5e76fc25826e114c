"""A session that ends mid-response still records that response's usage.

The provider bills a response it has started whether or not anybody reads it.
Whatever ends the session, the gateway asks the provider to stop the response
(`response.cancel`), reads its final `response.done` (status `cancelled`, the
usage so far) and only then finalises the row and closes the upstream.
"""

from __future__ import annotations

import time

import pytest

from realtime.models import RealtimeSession
from tests.support.communicators import open_session, read_until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.timeout(20)]

LONG = {"type": "fake.long_response", "deltas": 2000, "interval": 0.01}


async def start_long_response(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()  # session.created
    await session.send_json_to(LONG)
    await read_until(session, "response.output_text.delta")
    return session


async def the_row() -> RealtimeSession:
    await_rows = RealtimeSession.objects.filter(ended_at__isnull=False)
    return await await_rows.aget()


@pytest.mark.parametrize("code", [1006, 1000], ids=["vanished", "closed"])
async def test_a_client_leaving_mid_response_still_pays_for_it(
    fake_upstream, issue, code
):
    session = await start_long_response(fake_upstream, issue)
    await session.disconnect(code=code, timeout=5)
    await fake_upstream.wait_closed_count(1)

    assert fake_upstream.client_events[-1] == "response.cancel"
    [billed] = fake_upstream.usage_sent  # the cancelled response's usage
    assert 1 <= billed["output_tokens"] < LONG["deltas"]
    row = await the_row()
    assert (row.status, row.close_code) == ("finished", code)
    assert (row.responses, row.input_tokens, row.output_tokens) == (
        1,
        billed["input_tokens"],
        billed["output_tokens"],
    )
    assert row.total_tokens == billed["total_tokens"]
    # The frames read after the client left are counted as from the upstream.
    assert row.messages_from_upstream >= 4 + billed["output_tokens"]


async def test_a_client_leaving_between_responses_is_not_held_up(fake_upstream, issue):
    issued = await issue(fake_upstream.url)
    session = await open_session(issued.token)
    await session.receive_json_from()
    await session.send_json_to({"type": "fake.long_response", "deltas": 2})
    await read_until(session, "response.done")
    await session.disconnect(code=1006, timeout=5)
    await fake_upstream.wait_closed_count(1)
    assert "response.cancel" not in fake_upstream.client_events
    assert (await the_row()).responses == 1


async def test_a_provider_that_never_reports_holds_the_end_only_so_long(
    fake_upstream, issue, settings
):
    settings.GATEWAY_FINAL_USAGE_SECONDS = 0.3
    session = await start_long_response(fake_upstream, issue)
    # The fake stops reading: the cancel waits unread past the bound.
    await session.send_json_to({"type": "fake.sleep", "seconds": 10})
    started = time.monotonic()
    await session.disconnect(code=1006, timeout=5)
    await fake_upstream.wait_closed_count(1)
    assert time.monotonic() - started < 2.5
    row = await the_row()
    assert (row.status, row.responses) == ("finished", 0)
    assert row.output_tokens == 0
