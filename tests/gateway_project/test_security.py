"""Outside DEBUG: HTTPS-only cookies, HSTS, and the proxy's word on HTTPS only
when proxies are trusted."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import call_command
from django.test import Client

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import django, json; django.setup(); from django.conf import settings as s; "
    "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
    "s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER]))"
)


def probe(**overrides: str) -> list:
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("DJANGO_SECURE", "GATEWAY_TRUSTED"))
    }
    env.update(overrides)
    result = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_production_defaults():
    assert probe(DJANGO_DEBUG="false") == [True, True, 31_536_000, None]


def test_development_defaults():
    assert probe(DJANGO_DEBUG="true") == [False, False, 0, None]


def test_trusted_proxies_say_which_requests_are_https():
    secure = probe(DJANGO_DEBUG="false", GATEWAY_TRUSTED_PROXIES="10.0.0.0/8")
    assert secure[3] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_an_https_admin_page_sends_hsts_and_secure_cookies(db):
    response = Client().get("/admin/login/", secure=True)
    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=31536000"
    assert response.cookies["csrftoken"]["secure"] is True


def test_behind_a_trusted_proxy_its_https_counts(db, settings):
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    response = Client().get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert response["Strict-Transport-Security"] == "max-age=31536000"


def test_without_trusted_proxies_a_forwarded_proto_is_ignored(db):
    response = Client().get("/admin/login/", HTTP_X_FORWARDED_PROTO="https")
    assert "Strict-Transport-Security" not in response


def test_the_deploy_check_finds_no_cookie_or_hsts_gap(db):
    out = io.StringIO()
    call_command("check", deploy=True, stdout=out, stderr=out)
    report = out.getvalue()
    for check in ("security.W004", "security.W012", "security.W016"):
        assert check not in report, report
