#!/usr/bin/env bash
# The admin and the dashboard on 1,000,000 session rows (see bench/README.md):
#   bash bench/admin.sh                 # seed, time, write bench/ADMIN_RESULTS.md,
#                                       # drop the database: ~3 min on 2 cores
#   bash bench/admin.sh --rows 100000   # a smaller log
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust auth; --server to change)
# and the project's requirements in .venv (or PYTHON=/path/to/python).
set -euo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-.venv/bin/python}" -W ignore::RuntimeWarning -m bench.admin_rows "$@"
