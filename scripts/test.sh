#!/usr/bin/env bash
# Run the whole test suite. Extra arguments go to pytest.
# Set DATABASE_URL (PostgreSQL) and REDIS_URL to test the production topology.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
exec .venv/bin/python -m pytest "$@"
