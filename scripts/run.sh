#!/usr/bin/env bash
# Runs RoomBot locally: the bot (with the local Microsoft 365 sandbox when no tenant is configured)
# and the M365 Agents Playground to chat with it. PLAYGROUND=0 starts the bot alone.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3978}"
PLAYGROUND="${PLAYGROUND:-1}"
PLAYGROUND_PORT="${PLAYGROUND_PORT:-56150}"
export PORT

scripts/ensure_venv.sh

up() {  # is this URL answering? (no curl needed)
  .venv/bin/python -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$1" 2>/dev/null
}

pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT INT TERM

.venv/bin/python app.py --local &
pids+=($!)
for _ in $(seq 1 120); do
  up "http://127.0.0.1:${PORT}/healthz" && break
  kill -0 "${pids[0]}" 2>/dev/null || { echo "The bot did not start." >&2; exit 1; }
  sleep 0.5
done
echo "RoomBot is up: http://127.0.0.1:${PORT}/healthz"

if [ "$PLAYGROUND" != "0" ]; then
  [ -x node_modules/.bin/agentsplayground ] || npm ci --no-audit --no-fund --loglevel=error
  TEAMSAPPTESTER_BROWSER=none node node_modules/@microsoft/m365agentsplayground/cli.js \
    -e "http://127.0.0.1:${PORT}/api/messages" -c msteams -p "$PLAYGROUND_PORT" --disable-telemetry &
  pids+=($!)
  for _ in $(seq 1 120); do
    up "http://127.0.0.1:${PLAYGROUND_PORT}/_debug/ping" && break
    sleep 0.5
  done
  echo
  echo "Chat with RoomBot at http://127.0.0.1:${PLAYGROUND_PORT}  (Ctrl+C stops everything)"
fi
wait "${pids[0]}"
