#!/usr/bin/env bash
# Runs RoomBot's benchmark from a fresh clone: installs what it needs (as scripts/test.sh does), then
# `python -m bench`. Arguments go to the benchmark (--quick, --only, --profile FILE, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

# PostgreSQL and nginx for the phases with several instances on one database (as scripts/test.sh does)
scripts/debian_packages.sh --missing "the benchmark" postgresql nginx

exec .venv/bin/python -m bench "$@"
