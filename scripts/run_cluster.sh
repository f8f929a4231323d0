#!/usr/bin/env bash
# One action server, one front door on PUBLIC_PORT (5005) and RASA_SERVERS Rasa servers
# on consecutive ports (RASA_PORT, RASA_PORT+1, ... from 5006), each with SANIC_WORKERS
# Sanic workers; Ctrl-C stops them all, and so does any of them exiting. Point Meta and
# Razorpay (or a load balancer over several machines' front doors) at the front door;
# the Rasa servers share the inbox in PostgreSQL (see "Scaling out" in the README).
#
#   RASA_SERVERS=2 SANIC_WORKERS=1 REDIS_URL=redis://127.0.0.1:6379/0 \
#   DATABASE_URL=postgresql://shop@127.0.0.1:5432/shop scripts/run_cluster.sh
#
# More than one Rasa process needs REDIS_URL (conversation locks, reply tokens) and
# PostgreSQL (DATABASE_URL for orders, the inbox and the outbox; TRACKER_STORE_URL for
# conversations, DATABASE_URL when unset): `python -m server.stores` checks first.
# A READY line says when every Rasa server answers; VERBOSE=1 shows the libraries'
# deprecation warnings, left out of the console otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
started="$(date +%s)"

# Settings live in the environment; a local .env file (see .env.example) is read if present.
if [ -f .env ]; then set -a; . ./.env; set +a; fi
export SQLALCHEMY_SILENCE_UBER_WARNING="${SQLALCHEMY_SILENCE_UBER_WARNING:-1}"
case "${VERBOSE:-0}" in
  0|false|no|"") export PYTHONPATH="$PWD/scripts/quiet${PYTHONPATH:+:$PYTHONPATH}" ;;  # see run.sh
esac
servers="${RASA_SERVERS:-1}"
workers="${SANIC_WORKERS:-1}"
first_port="${RASA_PORT:-5006}"
public_port="${PUBLIC_PORT:-5005}"
ACTIONS_PORT=5055  # endpoints.yml points Rasa at the action server on 5055
MODEL="${MODEL:-models/checkout.tar.gz}"

for value in "$servers" "$workers" "$first_port" "$public_port"; do
  if ! [[ "$value" =~ ^[1-9][0-9]*$ ]]; then
    echo "RASA_SERVERS, SANIC_WORKERS, RASA_PORT and PUBLIC_PORT must be positive whole numbers." >&2
    exit 2
  fi
done
if ! .venv/bin/python -m server.stores --servers "$servers" --workers "$workers"; then
  echo "Not starting: see 'refused:' above (or run one server: RASA_SERVERS=1 SANIC_WORKERS=1)." >&2
  exit 2
fi
export SANIC_WORKERS="$workers"
mkdir -p var

pids=()
ready_pid=""
stop_all() {
  trap - EXIT INT TERM
  [ -z "$ready_pid" ] || kill "$ready_pid" 2>/dev/null || true
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap stop_all EXIT
trap 'exit 130' INT TERM

.venv/bin/rasa run actions --actions actions --port "$ACTIONS_PORT" &
pids+=($!)
for _ in $(seq 1 120); do
  if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('http://localhost:${ACTIONS_PORT}/health', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "${pids[0]}" 2>/dev/null || { echo "The action server did not start; see the log above." >&2; exit 1; }
  sleep 0.5
done

wake_urls=()
health=()
for ((i = 0; i < servers; i++)); do
  port=$((first_port + i))
  # A stable name per server: a restarted server takes back its unfinished work at once.
  # Lower priority than the front door, as in scripts/run.sh (RASA_NICENESS).
  INBOX_CONSUMER_NAME="${INBOX_CONSUMER_NAME:-$(hostname):rasa}:${port}" \
    nice -n "${RASA_NICENESS:-10}" .venv/bin/rasa run --model "$MODEL" --endpoints endpoints.yml \
    --credentials credentials.yml --port "$port" &
  pids+=($!)
  wake_urls+=("http://127.0.0.1:${port}")
  health+=(--health "http://127.0.0.1:${port}/webhooks/whatsapp/")
  echo "Rasa server $((i + 1))/$servers on http://localhost:${port} (${workers} worker(s))"
done

# The front door answers the webhooks without a model and wakes this machine's servers.
INBOX_WAKE_URLS="${INBOX_WAKE_URLS:-$(IFS=,; echo "${wake_urls[*]}")}" \
INBOX_CONSUMER_NAME="$(hostname):front-door:${public_port}" \
  .venv/bin/python -m server.front_door --port "$public_port" --credentials credentials.yml &
pids+=($!)
echo "Front door (webhooks) on http://localhost:${public_port}"
.venv/bin/python scripts/wait_ready.py "${health[@]}" --since "$started" \
  --webhooks "http://localhost:${public_port}" &
ready_pid=$!

# Whichever process ends first (a crash, or Ctrl-C) ends the whole group.
set +e
wait -n "${pids[@]}"
status=$?
echo "A server exited (status $status); stopping the others." >&2
exit "$status"
