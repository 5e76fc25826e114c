#!/usr/bin/env bash
# Set up everything and run the gateway on the embedded default: SQLite, the
# in-memory channel layer and the bundled fake provider (no real API key needed).
#   PORT (default 8000)      the gateway's port
#   FAKE_PORT (default 9100) the fake upstream's port
set -euo pipefail
cd "$(dirname "$0")/.."
PORT="${PORT:-8000}"
# Settings read .env only when asked; every command below asks.
export GATEWAY_ENV_FILE=.env
FAKE_PORT="${FAKE_PORT:-9100}"

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt

if [ ! -f .env ]; then
  # Development settings, kept out of git. The encryption key protects the
  # provider credentials stored in db.sqlite3: keep .env with that file.
  {
    echo "DJANGO_DEBUG=true"
    echo "DJANGO_SECRET_KEY=$(.venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    echo "GATEWAY_ENCRYPTION_KEYS=$(.venv/bin/python manage.py generate_encryption_key)"
  } > .env
  chmod 600 .env
  echo "Wrote development settings to .env"
fi

.venv/bin/python manage.py migrate --noinput -v0

.venv/bin/python manage.py fake_upstream --port "$FAKE_PORT" &
fake_pid=$!
trap 'kill "$fake_pid" 2>/dev/null || true' EXIT INT TERM

.venv/bin/python manage.py setup_demo --fake-port "$FAKE_PORT"
echo
echo "Try it:  .venv/bin/python examples/hello.py <the demo virtual key above> --port $PORT"
echo "Usage:   GATEWAY_ENV_FILE=.env .venv/bin/python manage.py usage"
echo
.venv/bin/python manage.py rungateway --port "$PORT"
