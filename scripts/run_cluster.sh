#!/usr/bin/env bash
# Runs RoomBot as production runs it, all on loopback: two instances on one PostgreSQL database behind
# nginx, with the local Microsoft 365 sandbox and the M365 Agents Playground to chat through nginx.
# PostgreSQL keeps its data in data/cluster/pg across runs. PLAYGROUND=0 starts without the Playground.
# Ctrl+C stops everything it started.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${PORT:-3978}"
PLAYGROUND="${PLAYGROUND:-1}"
PLAYGROUND_PORT="${PLAYGROUND_PORT:-56150}"
CLUSTER_DIR="${CLUSTER_DIR:-data/cluster}"
INSTANCES=2

scripts/ensure_venv.sh

if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || ! [ -x /usr/sbin/nginx ]; then
  echo "This needs Debian's PostgreSQL and nginx: 'sudo apt-get install postgresql-15 nginx'" \
       "(scripts/test.sh installs them, as root, without starting the machine's services)." >&2
  exit 1
fi

cluster() { .venv/bin/python -m scripts.cluster "$@"; }
run_cluster=(.venv/bin/python -m scripts.cluster)  # in the background: $! is then the process itself
logs="$CLUSTER_DIR/logs"
mkdir -p "$logs"

pids=()
cleanup() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  cluster postgres stop --folder "$CLUSTER_DIR/pg" || true  # after the bots: none is mid-turn
  echo "Stopped."
}
trap cleanup EXIT
trap 'exit 130' INT TERM

database_url=$(cluster postgres start --folder "$CLUSTER_DIR/pg")
echo "PostgreSQL: $database_url (data in $CLUSTER_DIR/pg)"

read -r -a ports <<< "$(cluster free-ports $((INSTANCES + 1)))"
sandbox_url="https://127.0.0.1:${ports[0]}"
ca="$CLUSTER_DIR/sandbox/sandbox-tls/sandbox-ca.pem"
.venv/bin/python -m sandbox --port "${ports[0]}" --data-dir "$CLUSTER_DIR/sandbox" > "$logs/sandbox.log" 2>&1 &
pids+=($!)
cluster wait "$sandbox_url/_sandbox/health" --ca "$ca" --pid "$!"
echo "Microsoft 365 sandbox: $sandbox_url"

cluster demo-org --url "$database_url"  # before the instances start: two would race to make it

upstreams=()
for i in $(seq 1 "$INSTANCES"); do
  port="${ports[$i]}"
  "${run_cluster[@]}" bot --port "$port" --graph-url "$sandbox_url" --ca "$ca" --data-dir "$CLUSTER_DIR/bot-$i" \
    --database-url "$database_url" > "$logs/bot-$i.log" 2>&1 &
  pids+=($!)
  upstreams+=(--upstream "http://127.0.0.1:$port")
done
for i in $(seq 1 "$INSTANCES"); do
  cluster wait "http://127.0.0.1:${ports[$i]}/healthz" --pid "${pids[$i]}"
  echo "RoomBot instance $i: http://127.0.0.1:${ports[$i]}"
done

"${run_cluster[@]}" nginx --folder "$CLUSTER_DIR/nginx" --port "$PORT" "${upstreams[@]}" &
pids+=($!)
cluster wait "http://127.0.0.1:${PORT}/healthz" --pid "$!"
echo "RoomBot is up behind nginx: http://127.0.0.1:${PORT}/api/messages  (logs in $logs)"

if [ "$PLAYGROUND" != "0" ]; then
  [ -x node_modules/.bin/agentsplayground ] || npm ci --no-audit --no-fund --loglevel=error
  TEAMSAPPTESTER_BROWSER=none node node_modules/@microsoft/m365agentsplayground/cli.js \
    -e "http://127.0.0.1:${PORT}/api/messages" -c msteams -p "$PLAYGROUND_PORT" --disable-telemetry \
    > "$logs/playground.log" 2>&1 &
  pids+=($!)
  cluster wait "http://127.0.0.1:${PLAYGROUND_PORT}/_debug/ping" --pid "$!"
  echo
  echo "Chat with RoomBot at http://127.0.0.1:${PLAYGROUND_PORT}  (Ctrl+C stops everything)"
fi
interrupted=0
trap 'interrupted=1' INT TERM
wait -n "${pids[@]}" || true
sleep 0.2  # Ctrl+C reaches the children too: let its trap run first
if [ "$interrupted" = 0 ]; then
  echo "A process ended (see $logs); stopping the rest." >&2
  exit 1
fi
exit 130
