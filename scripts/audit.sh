#!/usr/bin/env bash
# Audit the pinned runtime requirements (requirements.txt) for known
# vulnerabilities with pip-audit (the Python Packaging Advisory Database, through
# PyPI). A known vulnerability fails; an advisory source that cannot be reached,
# or that knows none of the pinned versions, is reported and does not fail.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
report=$(mktemp)
errors=$(mktemp)
trap 'rm -f "$report" "$errors"' EXIT

"$PYTHON" -m pip_audit -r requirements.txt --no-deps --disable-pip \
  --progress-spinner off --timeout 20 -f json -o "$report" 2>"$errors"

"$PYTHON" scripts/audit_report.py "$report" "$errors"
