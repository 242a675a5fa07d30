#!/usr/bin/env bash
# The test command: installs what the tests need (scripts/install.sh), checks style, runs pytest.
#   bash scripts/test.sh                 everything (real PostgreSQL, pgbouncer, Ray, models)
#   bash scripts/test.sh -m "not slow"   the fast set: no model loading, no Ray cluster
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
PY=python3
if [ -z "${VIRTUAL_ENV:-}" ] && [ -x .venv/bin/python ]; then PY=.venv/bin/python; fi
"$PY" -m ruff check .
"$PY" -m ruff format --check .
exec "$PY" -m pytest -p no:cacheprovider "$@"
