"""CORS on the WebRTC call endpoints (realtime.cors): preflights answered for
the allowed origins only, answers carrying the origin and exposing Location;
and the setting's parsing. The page-in-a-browser side: tests/e2e/test_webrtc.py."""

from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import AsyncClient

from gateway_project import env
from realtime.cors import ALLOWED_HEADERS

pytestmark = [pytest.mark.django_db, pytest.mark.timeout(10)]

APP = "https://app.example"
PATHS = [
    "/v1/realtime/calls",
    "/openai/v1/realtime/calls",
    "/v1/live/sessions",
    "/openai/v1/live/sessions",
]
CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
)


@pytest.fixture
def allowed(settings):
    settings.GATEWAY_CORS_ALLOWED_ORIGINS = frozenset({APP})


async def preflight(path: str, origin: str):
    return await AsyncClient().options(
        path,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "authorization,content-type",
        },
    )


@pytest.mark.parametrize("path", PATHS)
async def test_an_allowed_origins_preflight_is_answered(allowed, path):
    response = await preflight(path, APP)
    assert response.status_code == 204
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Allow-Methods"] == "POST"
    allowed_headers = response["Access-Control-Allow-Headers"].lower().split(", ")
    assert {"authorization", "content-type", "x-stainless-lang"} <= set(allowed_headers)
    assert response["Access-Control-Max-Age"] == "600"
    assert response["Vary"] == "Origin"
    assert len(ALLOWED_HEADERS) == len(allowed_headers)


async def test_an_allowed_origins_answer_names_it_and_exposes_location(allowed):
    # Not an offer: a 400, which the page may read too (OpenAI's error shape).
    response = await AsyncClient().post(
        PATHS[0], data="v=0", content_type="application/sdp", headers={"Origin": APP}
    )
    assert response.status_code == 400
    assert response["Access-Control-Allow-Origin"] == APP
    assert response["Access-Control-Expose-Headers"] == "Location"
    assert response["Vary"] == "Origin"


@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example:8443"])
async def test_another_origin_gets_no_cors_headers(allowed, origin):
    answered = await preflight(PATHS[0], origin)
    posted = await AsyncClient().post(
        PATHS[0], data="v=0", content_type="application/sdp", headers={"Origin": origin}
    )
    for response in (answered, posted):
        assert not [name for name in CORS_HEADERS if name in response]
        assert response["Vary"] == "Origin"  # a cache keeps the answers apart
    assert answered.status_code == 204
    assert answered["Allow"] == "POST, OPTIONS"


async def test_by_default_no_origin_is_allowed():
    answered = await preflight(PATHS[0], APP)
    posted = await AsyncClient().post(
        PATHS[0], data="v=0", content_type="application/sdp", headers={"Origin": APP}
    )
    for response in (answered, posted):
        assert not [name for name in CORS_HEADERS if name in response]
        assert "Vary" not in response


def test_the_setting_takes_exact_origins(monkeypatch):
    name = "GATEWAY_CORS_ALLOWED_ORIGINS"
    monkeypatch.setenv(name, " https://App.example , http://127.0.0.1:8080,")
    assert env.get_origins(name) == {"https://app.example", "http://127.0.0.1:8080"}
    monkeypatch.delenv(name)
    assert env.get_origins(name) == frozenset()
    for bad in ("*", "app.example", "https://app.example/", "ftp://x", "https://*.x"):
        monkeypatch.setenv(name, bad)
        with pytest.raises(ImproperlyConfigured):
            env.get_origins(name)
