#!/usr/bin/env bash
# Runs RoomBot's benchmark from a fresh clone: installs what it needs (as scripts/test.sh does), then
# `python -m bench`. Arguments go to the benchmark (--quick, --only, --profile FILE, --keep).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements-test.txt

# PostgreSQL and nginx for the phases with several instances on one database (as scripts/test.sh does)
missing=()
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null; then
    echo "Installing Debian's ${missing[*]} for the benchmark..."
    scripts/debian_packages.sh "${missing[@]}"
  else
    echo "The benchmark needs Debian's ${missing[*]}: run this script as root, or" \
         "'sudo apt-get install ${missing[*]/#postgresql/postgresql-15}'." >&2
  fi
fi

exec .venv/bin/python -m bench "$@"
