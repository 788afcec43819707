#!/usr/bin/env bash
# Runs RoomBot's tests on a fresh machine: installs what they need (pip, npm, and Debian's Chromium,
# PostgreSQL and nginx when run as root), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

npm ci --no-audit --no-fund --loglevel=error

# Debian's packages the tests run for real: Chromium (the browser test), PostgreSQL and nginx (several
# instances on one database behind a load balancer; tests/pg_fixtures.py). Installing them starts no
# service: the tests run their own throwaway cluster and nginx on loopback.
scripts/debian_packages.sh --missing "the tests" chromium postgresql nginx

.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
