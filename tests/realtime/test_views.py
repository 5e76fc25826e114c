"""Health, metrics and static files over HTTP."""

from __future__ import annotations

import re

import pytest
from django.templatetags.static import static
from django.test import Client

from realtime.usage import Meter, Usage


def sample(text: str, series: str) -> int:
    """The value of one series (name and labels, exactly) in Prometheus text."""
    match = re.search(rf"^{re.escape(series)} (\d+)$", text, re.MULTILINE)
    return int(match.group(1)) if match else 0


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
    assert "# TYPE gateway_live_sessions gauge" in text
    assert re.search(r"^gateway_live_sessions \d+$", text, re.MULTILINE)
    for name in ("sessions_started", "handshakes_refused", "tokens"):
        assert f"# TYPE gateway_{name}_total counter" in text
    assert text.endswith("\n")


def test_metrics_count_refused_handshakes(client: Client, process):
    series = 'gateway_handshakes_refused_total{code="test_refusal"}'
    before = sample(scrape(client), series)
    process.metrics.handshake_refused(code="test_refusal")
    process.metrics.handshake_refused(code="test_refusal")
    assert sample(scrape(client), series) == before + 2


def test_metrics_count_a_session_from_start_to_end(client: Client, process):
    series = {
        "live": "gateway_live_sessions",
        "started": 'gateway_sessions_started_total{provider="metrics-test"}',
        "ended": 'gateway_sessions_ended_total{end_reason="client_closed",'
        'provider="metrics-test",status="finished"}',
        "messages": 'gateway_messages_total{direction="client"}',
        "bytes": 'gateway_bytes_total{direction="client"}',
        "tokens": 'gateway_tokens_total{kind="input",provider="metrics-test"}',
    }
    text = scrape(client)
    before = {name: sample(text, line) for name, line in series.items()}

    process.metrics.session_started(provider="metrics-test")
    assert sample(scrape(client), series["live"]) == before["live"] + 1

    meter = Meter()
    meter.messages_from_client, meter.bytes_from_client = 2, 40
    process.metrics.session_ended(
        provider="metrics-test",
        status="finished",
        meter=meter,
        usage=Usage(input_tokens=7),
        bridged=True,
        end_reason="client_closed",
    )
    text = scrape(client)
    after = {name: sample(text, line) for name, line in series.items()}
    assert {name: after[name] - before[name] for name in series} == {
        "live": 0,
        "started": 1,
        "ended": 1,
        "messages": 2,
        "bytes": 40,
        "tokens": 7,
    }


def test_metrics_escape_label_values(client: Client, process):
    process.metrics.handshake_refused(code='odd"code\\with\nnewline')
    text = scrape(client)
    assert (
        'gateway_handshakes_refused_total{code="odd\\"code\\\\with\\nnewline"} ' in text
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
    assert "gateway_live_sessions" in right.content.decode()


def test_healthz_stays_open_to_load_balancers(client: Client, db):
    assert client.get("/healthz", REMOTE_ADDR="203.0.113.9").status_code == 200
