"""What ops see of a real gateway process: /metrics, read with Prometheus' own
parser, counts what its sessions did (while they run, too), and with
GATEWAY_LOG_FORMAT=json every line it writes is one JSON object."""

from __future__ import annotations

import asyncio
import json
import urllib.request

import pytest
from asgiref.sync import sync_to_async
from django.db.models import Sum
from websockets.exceptions import InvalidStatus

from keys import services as key_services
from keys.models import VirtualKey
from realtime.models import RealtimeSession
from tests.support import metrics
from tests.support.clients import (
    converse,
    expect_refusal,
    open_client,
    receive_event,
    wait_for_row,
)
from tests.support.keys import UPSTREAM_SECRET
from tests.support.processes import GatewayProcess, http_get

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True),
    pytest.mark.timeout(90),
]

TOKEN = "metrics-scrape-token-4b7e"
SCRAPE_ONLY_WITH_THE_TOKEN = {
    "GATEWAY_METRICS_TOKEN": TOKEN,
    "GATEWAY_METRICS_ALLOWED_ADDRESSES": "192.0.2.1",  # not the test's address
}


def scrape(gateway: GatewayProcess) -> str:
    """/metrics as a scraper with the token gets it."""
    request = urllib.request.Request(
        f"{gateway.http_url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return response.read().decode()


async def present_a_bad_key(gateway: GatewayProcess) -> None:
    """Refused: an error event and 4401 (Daphne), or HTTP 401 (uvicorn)."""
    try:
        ws = await open_client(gateway.ws_url, token="vk_" + "Z" * 43)
    except InvalidStatus as exc:
        assert exc.response.status_code == 401
        return
    await expect_refusal(ws, code=4401, error_code="invalid_api_key")


async def row_totals(*fields: str) -> dict[str, int]:
    sums = await RealtimeSession.objects.aaggregate(
        **{field: Sum(field) for field in fields}
    )
    return {field: value or 0 for field, value in sums.items()}


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_metrics_count_what_the_sessions_did(
    server, gateway_process, fake_upstream, issue
):
    gateway = gateway_process(server=server, env_overrides=SCRAPE_ONLY_WITH_THE_TOKEN)
    status, _ = await asyncio.to_thread(http_get, f"{gateway.http_url}/metrics")
    assert status == 401
    issued = await issue(fake_upstream.url)
    provider = {"gen_ai_provider_name": issued.provider_slug}

    # A session that talks, scraped while it runs.
    ws = await open_client(gateway.ws_url, token=issued.token)
    received = [await receive_event(ws)]  # session.created
    received += await converse(ws)
    usage = fake_upstream.usage_sent[0]
    live = await asyncio.to_thread(scrape, gateway)
    assert metrics.value(live, "gateway_sessions_active") == 1
    assert metrics.value(live, "gateway_sessions_total") == 0
    frames = "gateway_frames_total"
    assert metrics.value(live, frames, direction="from_client", **provider) == 2
    assert metrics.value(live, frames, direction="from_upstream") == len(received)
    tokens = "gen_ai_client_token_usage_total"
    model = {"gen_ai_request_model": "gpt-realtime", **provider}
    assert (
        metrics.value(live, tokens, gen_ai_token_type="input", **model)
        == usage["input_tokens"]
    )
    assert (
        metrics.value(live, tokens, gen_ai_token_type="output", **model)
        == usage["output_tokens"]
    )
    await ws.close()
    await wait_for_row(virtual_key_name=issued.name)

    # A refused handshake, and a session whose key is revoked while it runs.
    await present_a_bad_key(gateway)
    doomed = await issue(fake_upstream.url, name="doomed")
    ws = await open_client(gateway.ws_url, token=doomed.token)
    await receive_event(ws)
    key = await VirtualKey.objects.aget(pk=doomed.key_id)
    await sync_to_async(key_services.virtual_key_revoke)(key=key)
    await expect_refusal(ws, code=4403, error_code="key_revoked")
    await wait_for_row(virtual_key_name=doomed.name)

    text = await asyncio.to_thread(scrape, gateway)
    ended = "gateway_sessions_total"
    assert metrics.value(text, ended) == 2
    assert metrics.value(text, ended, status="finished", end_reason="client_closed")
    assert metrics.value(text, ended, status="finished", end_reason="key_revoked")
    assert metrics.value(text, "gateway_sessions_started_total", **provider) == 2
    assert metrics.value(text, "gateway_sessions_active") == 0
    refused = "gateway_handshakes_refused_total"
    assert metrics.value(text, refused) == 1
    assert metrics.value(text, refused, code="invalid_api_key") == 1
    connects = "gateway_upstream_connect_seconds_count"
    assert metrics.value(text, connects, outcome="connected", **provider) == 2
    durations = "gen_ai_client_operation_duration_seconds_count"
    assert metrics.value(text, durations, **provider) == 2
    # The counters agree with the usage log, column by column.
    rows = await row_totals(
        "messages_from_client",
        "messages_from_upstream",
        "bytes_from_client",
        "bytes_from_upstream",
        "input_tokens",
        "output_tokens",
    )
    for direction in ("client", "upstream"):
        labels = {"direction": f"from_{direction}"}
        assert (
            metrics.value(text, frames, **labels) == rows[f"messages_from_{direction}"]
        )
        sent = metrics.value(text, "gateway_bytes_total", **labels)
        assert sent == rows[f"bytes_from_{direction}"]
    for kind in ("input", "output"):
        assert (
            metrics.value(text, tokens, gen_ai_token_type=kind)
            == rows[f"{kind}_tokens"]
        )


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
async def test_json_logs_are_one_object_a_line(
    server, gateway_process, fake_upstream, issue
):
    env = {
        "GATEWAY_LOG_FORMAT": "json",
        # Everything every logger has, and the servers' access lines.
        "DJANGO_SETTINGS_MODULE": "tests.support.verbose_settings",
    }
    gateway = gateway_process(server=server, env_overrides=env, extra_args=("-v", "2"))
    issued = await issue(fake_upstream.url)
    ws = await open_client(gateway.ws_url, token=issued.token)
    await receive_event(ws)
    await converse(ws)
    await ws.close()
    row = await wait_for_row(virtual_key_name=issued.name)
    await present_a_bad_key(gateway)
    await asyncio.to_thread(http_get, f"{gateway.http_url}/healthz")
    await asyncio.to_thread(gateway.stop)

    lines = gateway.log().splitlines()
    records = [json.loads(line) for line in lines]  # each line, or this fails
    assert len(records) > 10
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert not record.keys() - {
            "time", "level", "logger", "message", "session", "exc_info", "stack_info",
        }  # fmt: skip
    sessions = [r for r in records if r["logger"] == "realtime.session"]
    assert any(r["message"].startswith("bridging to") for r in sessions)
    ours = [r for r in sessions if r.get("session") == str(row.id)]
    assert any(r["message"].startswith("ended finished") for r in ours)
    assert not any(r["message"].startswith("[session") for r in records)
    assert any("refused a handshake" in r["message"] for r in sessions)
    access = '"GET /healthz' if server == "daphne" else "GET /healthz"
    assert any(access in r["message"] for r in records), "no access line"
    for secret in (issued.token, UPSTREAM_SECRET, "hello through the gateway"):
        assert secret not in "\n".join(lines)
