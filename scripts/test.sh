#!/usr/bin/env bash
# Runs RoomBot's tests on a fresh machine: installs what they need (pip, npm, and Debian's Chromium
# when run as root), then runs pytest. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

npm ci --no-audit --no-fund --loglevel=error

if ! [ -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's chromium for the browser test..."
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
  else
    echo "The browser test needs Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'." >&2
  fi
fi

.venv/bin/ruff check .
exec .venv/bin/python -m pytest "$@"
