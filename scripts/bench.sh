#!/usr/bin/env bash
# Runs RoomBot's benchmark from a fresh clone: installs what it needs (as scripts/test.sh does), then
# `python -m bench`. Arguments go to the benchmark (--quick, --only, --profile FILE, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

exec .venv/bin/python -m bench "$@"
