#!/usr/bin/env bash
# Start the action server and the front door in the background and Rasa in the
# foreground; Ctrl-C stops all.
#   scripts/run.sh server   the bot with its channels (WhatsApp, Razorpay webhooks): the front
#                           door answers webhooks on PUBLIC_PORT (5005) and writes the inbox,
#                           Rasa (RASA_PORT, 5006) consumes it; with no WhatsApp/Razorpay
#                           credentials set, the sandbox (sandbox/mode.py)
#   scripts/run.sh shell    chat with the bot in this terminal
# A READY line says when the bot answers (model loaded, inbox consumer running).
# Third-party deprecation warnings and start-up chatter are left out of the console;
# VERBOSE=1 shows everything.
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-server}"
started="$(date +%s)"

# Settings live in the environment; a local .env file (see .env.example) is read if present.
if [ -f .env ]; then set -a; . ./.env; set +a; fi
# endpoints.yml points Rasa at the action server on 5055.
ACTIONS_PORT=5055
PUBLIC_PORT="${PUBLIC_PORT:-5005}"
RASA_PORT="${RASA_PORT:-5006}"
ENDPOINTS=endpoints.yml
RASA_OPTIONS=()
mkdir -p var

# Quiet by default: Python's deprecation warnings from the libraries (about 40 lines at
# start-up: pkg_resources, distutils, jax, ...; scripts/quiet/sitecustomize.py drops them
# in each process) and start-up chatter (each registered action, Sanic's banner).
# Errors, other warnings, warnings from our own code, the URLs and READY stay.
case "${VERBOSE:-0}" in
  0|false|no|"") verbose=0 ;;
  *) verbose=1 ;;
esac
NOISE='rasa_sdk\.executor +- Registered function for|sanic\.root +- (Sanic v[0-9]|Goin.? Fast|mode: |server: |python: |platform: |packages: |Starting worker|Stopping worker|Server Stopped)'
if [ "$verbose" = 0 ]; then
  export PYTHONPATH="$PWD/scripts/quiet${PYTHONPATH:+:$PYTHONPATH}"
  export PYTHONUNBUFFERED=1  # lines pass the filter as they are written
fi
quiet() {  # the filter each server's output goes through (everything with VERBOSE=1)
  trap '' INT  # Ctrl-C stops the servers; the filter lives until their last line is out
  if [ "$verbose" = 1 ]; then cat; else grep --line-buffered -v -E "$NOISE" || true; fi
}

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
# Ctrl-C or a TERM ends the script at once (a trap that returned would go on starting the
# next server); leaving runs cleanup.
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

wait_for() {  # URL PID NAME: until URL answers, or PID has died
  for _ in $(seq 1 120); do
    if .venv/bin/python -c "import urllib.request; urllib.request.urlopen('$1', timeout=1)" 2>/dev/null; then
      return 0
    fi
    kill -0 "$2" 2>/dev/null || { echo "The $3 did not start; see the log above." >&2; exit 1; }
    sleep 0.5
  done
  echo "The $3 did not answer at $1 within a minute." >&2; exit 1
}

if [ "$mode" = server ]; then
  # Real or sandbox, from the credentials present; refuses (exit 2) when only some are set.
  decision="$(RASA_PORT="$RASA_PORT" PUBLIC_PORT="$PUBLIC_PORT" .venv/bin/python -m sandbox.mode)" || exit $?
  eval "$decision"
  if [ "$RUN_MODE" = sandbox ]; then
    # A fresh, separate shop each run: never the real order store or conversations.
    rm -rf var/sandbox && mkdir -p var/sandbox
    .venv/bin/python -m sandbox.runenv endpoints.yml "$SANDBOX_ENDPOINTS"
    ENDPOINTS="$SANDBOX_ENDPOINTS"
    # The designer panel reads trackers through Rasa's HTTP API: on only here, with this
    # run's token.
    RASA_OPTIONS=(--enable-api --auth-token "$RASA_API_TOKEN")
    .venv/bin/python -m sandbox > >(quiet) 2> >(quiet >&2) &
    pids+=($!)
    wait_for "http://127.0.0.1:${SANDBOX_PORT}/sandbox/api/status" "$!" "sandbox server"
  fi
fi

.venv/bin/rasa run actions --actions actions --port "$ACTIONS_PORT" > >(quiet) 2> >(quiet >&2) &
pids+=($!)
wait_for "http://localhost:${ACTIONS_PORT}/health" "$!" "action server"

case "$mode" in
  shell)
    .venv/bin/rasa shell --model models/checkout.tar.gz --endpoints endpoints.yml ;;
  server)
    # The front door owns the public port and never waits for the model; it wakes Rasa
    # when it wrote new work. Each keeps its name across restarts, so a restarted
    # process takes back at once what it left unfinished.
    INBOX_WAKE_URLS="http://127.0.0.1:${RASA_PORT}" \
    INBOX_CONSUMER_NAME="$(hostname):front-door:${PUBLIC_PORT}" \
      .venv/bin/python -m server.front_door --port "$PUBLIC_PORT" --credentials credentials.yml \
      > >(quiet) 2> >(quiet >&2) &
    pids+=($!)
    wait_for "http://127.0.0.1:${PUBLIC_PORT}/webhooks/whatsapp/" "$!" "front door"
    echo "Webhooks on http://localhost:${PUBLIC_PORT} (WhatsApp: /webhooks/whatsapp/webhook, Razorpay: /webhooks/razorpay/webhook); Rasa on port ${RASA_PORT}"
    echo "Starting Rasa: loading the model takes about half a minute; READY below says when the bot answers."
    ready_options=(--health "http://127.0.0.1:${RASA_PORT}/webhooks/whatsapp/" --since "$started"
                   --webhooks "http://localhost:${PUBLIC_PORT}")
    if [ "$RUN_MODE" = sandbox ]; then ready_options+=(--chat "$SANDBOX_PUBLIC_URL"); fi
    .venv/bin/python scripts/wait_ready.py "${ready_options[@]}" &
    pids+=($!)
    export INBOX_CONSUMER_NAME="${INBOX_CONSUMER_NAME:-$(hostname):rasa:${RASA_PORT}}"
    # Inference takes both cores when the bot is busy; at a lower priority it leaves the
    # front door a core to answer Meta at once (RASA_NICENESS, 0 for none; bench/README.md).
    nice -n "${RASA_NICENESS:-10}" .venv/bin/rasa run --model models/checkout.tar.gz \
      --endpoints "$ENDPOINTS" --credentials credentials.yml --port "$RASA_PORT" \
      "${RASA_OPTIONS[@]}" > >(quiet) 2> >(quiet >&2) ;;
  *)
    echo "usage: $0 [server|shell]" >&2; exit 2 ;;
esac
