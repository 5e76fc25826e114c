"""Health, metrics and static files over HTTP."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
from django.templatetags.static import static
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families as parse_families

from realtime.models import ModelPrice
from realtime.usage import Meter, Usage
from tests.support import metrics


def scrape(client: Client) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    return response.content.decode()


@pytest.mark.django_db
def test_healthz_reports_ok(client: Client, process):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"] == "ok"
    assert body["channel_layer"] == "ok"
    assert body["live_sessions"] == process.metrics.live_sessions()


@pytest.mark.parametrize("path", ["/healthz", "/metrics"])
def test_health_and_metrics_are_get_only(client: Client, path: str):
    response = client.post(path)
    assert response.status_code == 405
    assert "GET" in response["Allow"]


def test_metrics_are_prometheus_text(client: Client):
    text = scrape(client)
    families = {family.name: family.type for family in parse_families(text)}
    assert families["gateway_sessions_active"] == "gauge"
    assert families["gateway_instance_info"] == "gauge"
    for name in (
        "gateway_sessions_started",
        "gateway_sessions",
        "gateway_handshakes_refused",
        "gateway_frames",
        "gateway_bytes",
        "gen_ai_client_token_usage",
    ):
        assert families[name] == "counter", name
    for name in (
        "gateway_upstream_connect_seconds",
        "gen_ai_client_operation_duration_seconds",
    ):
        assert families[name] == "histogram", name
    assert text.endswith("\n")


def test_metrics_speak_openmetrics_to_scrapers_that_ask(client: Client):
    response = client.get(
        "/metrics", HTTP_ACCEPT="application/openmetrics-text; version=1.0.0"
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    assert response.content.decode().endswith("# EOF\n")


def test_metrics_name_the_process(client: Client, process, settings):
    settings.GATEWAY_INSTANCE = "gw-east-1"
    process.name_instance("ignored:8000")
    text = scrape(client)
    assert metrics.value(text, "gateway_instance_info", gateway_instance="gw-east-1")


def test_metrics_count_refused_handshakes(client: Client, process):
    process.metrics.handshake_refused(code="test_refusal")
    process.metrics.handshake_refused(code="test_refusal")
    text = scrape(client)
    assert metrics.value(text, "gateway_handshakes_refused_total") == 2
    assert (
        metrics.value(text, "gateway_handshakes_refused_total", code="test_refusal")
        == 2
    )


class Reports:
    """A provider session's usage, as the metrics read it."""

    def __init__(self) -> None:
        self.usage = Usage()


@pytest.mark.django_db
def test_a_live_sessions_traffic_shows_before_it_ends(client: Client, process):
    ModelPrice.objects.create(  # 10 cents a token, a tenth of a cent cached
        provider_kind="openai",
        model="gpt-test*",
        effective_from=datetime.date(2024, 1, 1),
        input_text_per_mtok=Decimal(100_000),
        cached_input_text_per_mtok=Decimal(1_000),
    )
    meter, reports, session_id = Meter(), Reports(), uuid.uuid4()
    process.metrics.session_started(
        session_id=session_id,
        provider="metrics-test",
        provider_kind="openai",
        model="gpt-test",
        meter=meter,
        reports=reports,
    )
    meter.messages_from_client, meter.bytes_from_client = 2, 40
    meter.messages_from_upstream, meter.bytes_from_upstream = 3, 300
    reports.usage = Usage(input_tokens=7, output_tokens=5, cached_tokens=2)
    live = scrape(client)
    provider = {"gen_ai_provider_name": "metrics-test"}
    tokens = {**provider, "gen_ai_request_model": "gpt-test"}
    assert metrics.value(live, "gateway_sessions_active") == 1
    assert metrics.value(live, "gateway_sessions_started_total", **provider) == 1
    assert metrics.value(live, "gateway_sessions_total") == 0
    frames = "gateway_frames_total"
    assert metrics.value(live, frames, direction="from_client", **provider) == 2
    assert metrics.value(live, frames, direction="from_upstream", **provider) == 3
    assert metrics.value(live, "gateway_bytes_total", direction="from_upstream") == 300
    usage = "gen_ai_client_token_usage_total"
    assert metrics.value(live, usage, gen_ai_token_type="input", **tokens) == 7
    assert metrics.value(live, usage, gen_ai_token_type="output", **tokens) == 5
    assert metrics.value(live, usage, gen_ai_token_type="cached", **tokens) == 2
    assert metrics.value(live, "gateway_cost_usd_total", **tokens) == 0.502

    meter.messages_from_client += 1  # one more frame, then the end
    process.metrics.session_ended(
        session_id=session_id,
        provider="metrics-test",
        provider_kind="openai",
        model="gpt-test-2025",  # reported later: the series stay where they were
        status="finished",
        end_reason="client_closed",
        meter=meter,
        usage=Usage(input_tokens=9, output_tokens=5, cached_tokens=2),
    )
    ended = scrape(client)
    assert metrics.value(ended, "gateway_sessions_active") == 0
    assert (
        metrics.value(
            ended,
            "gateway_sessions_total",
            status="finished",
            end_reason="client_closed",
            **provider,
        )
        == 1
    )
    assert metrics.value(ended, frames, direction="from_client") == 3
    assert metrics.value(ended, usage, gen_ai_token_type="input", **tokens) == 9
    assert metrics.value(ended, "gateway_cost_usd_total", **tokens) == 0.702
    assert metrics.value(scrape(client), "gateway_cost_usd_total") == 0.702  # once
    duration = "gen_ai_client_operation_duration_seconds_count"
    assert metrics.value(ended, duration, error_type="", **tokens) == 1


def test_a_session_never_bridged_is_counted_by_how_it_ended(client: Client, process):
    process.metrics.session_ended(
        session_id=uuid.uuid4(),
        provider="metrics-test",
        provider_kind="openai",
        model="",
        status="failed",
        end_reason="upstream_unavailable",
        meter=Meter(),
        usage=Usage(),
    )
    text = scrape(client)
    assert metrics.value(text, "gateway_sessions_total", status="failed") == 1
    assert metrics.value(text, "gen_ai_client_operation_duration_seconds_count") == 0
    assert metrics.value(text, "gateway_sessions_active") == 0


def test_metrics_escape_label_values(client: Client, process):
    process.metrics.handshake_refused(code='odd"code\\with\nnewline')
    text = scrape(client)
    assert (
        metrics.value(
            text, "gateway_handshakes_refused_total", code='odd"code\\with\nnewline'
        )
        == 1
    )


@pytest.mark.django_db
def test_the_admin_login_page_css_is_served(client: Client):
    css = static("admin/css/base.css")
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert f'href="{css}"' in login.content.decode()

    response = client.get(css)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/css")
    assert b"body" in b"".join(response.streaming_content)


def test_metrics_are_refused_to_other_addresses(client: Client):
    response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
    assert response.status_code == 403
    assert "gateway_" not in response.content.decode()


def test_metrics_allow_listed_networks(client: Client, settings):
    settings.GATEWAY_METRICS_ALLOWED_ADDRESSES = ["10.0.0.0/8"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="127.0.0.1").status_code == 403


def test_metrics_with_the_token_from_anywhere(client: Client, settings):
    settings.GATEWAY_METRICS_TOKEN = "scrape-token-7c1f"
    far = {"REMOTE_ADDR": "203.0.113.9"}
    response = client.get("/metrics", **far)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope", **far)
    assert wrong.status_code == 401
    right = client.get("/metrics", HTTP_AUTHORIZATION="Bearer scrape-token-7c1f", **far)
    assert right.status_code == 200
    assert "gateway_sessions_active" in right.content.decode()


def test_healthz_stays_open_to_load_balancers(client: Client, db):
    assert client.get("/healthz", REMOTE_ADDR="203.0.113.9").status_code == 200
