"""Settings read a development file only when GATEWAY_ENV_FILE names it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[2]
PROBE = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"


def _settings_debug(**overrides: str) -> subprocess.CompletedProcess[str]:
    env = {
        name: value
        for name, value in os.environ.items()
        if name not in ("DJANGO_DEBUG", "GATEWAY_ENV_FILE")
    }
    env.update(overrides)
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_a_development_file_is_read_only_when_named(tmp_path):
    dotenv = tmp_path / "dev.env"
    dotenv.write_text("DJANGO_DEBUG=true\n")
    named = _settings_debug(GATEWAY_ENV_FILE=str(dotenv))
    assert named.stdout.strip() == "True", named.stderr
    unnamed = _settings_debug()
    assert unnamed.stdout.strip() == "False", unnamed.stderr


def test_the_real_environment_wins_over_the_file(tmp_path):
    dotenv = tmp_path / "dev.env"
    dotenv.write_text("DJANGO_DEBUG=true\n")
    result = _settings_debug(GATEWAY_ENV_FILE=str(dotenv), DJANGO_DEBUG="false")
    assert result.stdout.strip() == "False", result.stderr


def test_naming_a_missing_file_is_an_error(tmp_path):
    result = _settings_debug(GATEWAY_ENV_FILE=str(tmp_path / "absent.env"))
    assert result.returncode != 0
    assert "GATEWAY_ENV_FILE names no file" in result.stderr


@pytest.mark.parametrize(
    ("given", "used"), [("", "2.0"), ("0.5", "0.5"), ("60", "5.0")]
)
def test_the_wait_for_final_usage_stays_inside_daphnes_close_timeout(given, used):
    probe = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.GATEWAY_FINAL_USAGE_SECONDS)"
    )
    env = {**os.environ, "GATEWAY_FINAL_USAGE_SECONDS": given}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.strip() == used, result.stderr
