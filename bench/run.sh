#!/usr/bin/env bash
# The whole benchmark in one command (see bench/README.md):
#   bash bench/run.sh            # everything: ~12 min on 2 cores (+2-3 min once,
#                                # to install LiteLLM into bench/.venv-litellm)
#   bash bench/run.sh --quick    # a short smoke run
# Other flags go to `python -m bench` (--no-litellm, --no-profile, --targets a,b).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ ! -x .venv/bin/python ]; then
  "${PYTHON:-python3}" -m venv .venv
fi
# The gateway and uvicorn (pinned in requirements-dev.txt), then the optional extras.
.venv/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
while read -r requirement; do
  case "$requirement" in ''|'#'*) continue ;; esac
  .venv/bin/pip install --quiet --disable-pip-version-check "$requirement" \
    || echo "note: could not install $requirement; the bench goes on without it"
done < bench/requirements.txt

exec .venv/bin/python -m bench "$@"
