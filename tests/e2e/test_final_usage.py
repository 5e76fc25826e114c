"""Through real Daphne and uvicorn processes: a client that leaves while the
provider streams a long response, by vanishing (a dropped TCP connection) or by
closing, leaves a row that carries that response's usage (the cancelled
`response.done` the gateway waited for)."""

from __future__ import annotations

import json

import pytest

from tests.support.clients import open_client, receive_event, wait_for_row
from tests.support.processes import GatewayLauncher

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(60),
]

DELTAS = 2000


@pytest.fixture(scope="module")
def servers(gateway_env, tmp_path_factory):
    log_dir = tmp_path_factory.mktemp("final-usage")
    with GatewayLauncher(gateway_env, log_dir=log_dir) as launcher:
        yield {name: launcher.start(server=name) for name in ("daphne", "uvicorn")}


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
@pytest.mark.parametrize("leaving", ["vanishes", "closes"])
async def test_a_client_leaving_mid_response_leaves_its_usage_on_the_row(
    servers, fake_upstream, issue, server, leaving
):
    issued = await issue(fake_upstream.url)
    ws = await open_client(servers[server].ws_url, token=issued.token)
    assert (await receive_event(ws))["type"] == "session.created"
    long = {"type": "fake.long_response", "deltas": DELTAS, "interval": 0.01}
    await ws.send(json.dumps(long))
    while (await receive_event(ws))["type"] != "response.output_text.delta":
        pass
    if leaving == "vanishes":
        ws.transport.abort()  # no close frame: the server sees 1006
    else:
        await ws.close()

    row = await wait_for_row(virtual_key_name=issued.name)
    await fake_upstream.wait_closed_count(1, timeout=10)
    assert "response.cancel" in fake_upstream.client_events
    [billed] = fake_upstream.usage_sent  # the cancelled response.done's usage
    assert 1 <= billed["output_tokens"] < DELTAS
    assert (row.status, row.close_code) == (
        "finished",
        1006 if leaving == "vanishes" else 1000,
    )
    assert (row.responses, row.output_tokens, row.total_tokens) == (
        1,
        billed["output_tokens"],
        billed["total_tokens"],
    )
