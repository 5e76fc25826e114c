"""CI's dependency audit: a known vulnerability fails it; an unreachable
advisory source is reported and does not."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "audit_report.py"


def read(tmp_path: Path, report: dict | None, errors: str = "") -> tuple[int, str]:
    report_path = tmp_path / "report.json"
    report_path.write_text("" if report is None else json.dumps(report))
    errors_path = tmp_path / "errors.txt"
    errors_path.write_text(errors)
    result = subprocess.run(
        [sys.executable, SCRIPT, report_path, errors_path],
        capture_output=True,
        text=True,
        timeout=20,
    )
    return result.returncode, result.stdout


def test_a_known_vulnerability_fails(tmp_path):
    vuln = {"id": "PYSEC-0000-1", "fix_versions": ["5.2.20"], "aliases": []}
    report = {
        "dependencies": [
            {"name": "django", "version": "5.2.19", "vulns": [vuln]},
            {"name": "channels", "version": "4.3.2", "vulns": []},
        ]
    }
    code, out = read(tmp_path, report)
    assert code == 1
    assert "django 5.2.19: PYSEC-0000-1 (fixed in: 5.2.20)" in out


def test_clean_pins_pass(tmp_path):
    report = {"dependencies": [{"name": "django", "version": "5.2.19", "vulns": []}]}
    assert read(tmp_path, report) == (
        0,
        "audit: no known vulnerabilities in 1 audited pins\n",
    )


def test_pins_the_source_does_not_know_are_reported_not_failed(tmp_path):
    report = {"dependencies": [{"name": "django", "skip_reason": "not found"}]}
    code, out = read(tmp_path, report)
    assert code == 0
    assert "NOT AUDITED (1 of 1)" in out and "django" in out


def test_an_unreachable_source_is_reported_not_failed(tmp_path):
    code, out = read(tmp_path, None, errors="Traceback\nConnectionError: no route\n")
    assert code == 0
    assert "NOT AUDITED, the advisory source could not be reached" in out
    assert "ConnectionError: no route" in out
