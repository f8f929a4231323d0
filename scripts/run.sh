#!/usr/bin/env bash
# Start the action server and the front door in the background and Rasa in the
# foreground; Ctrl-C stops all.
#   scripts/run.sh server   the bot with its channels (WhatsApp, Razorpay webhooks): the front
#                           door answers webhooks on PUBLIC_PORT (5005) and writes the inbox,
#                           Rasa (RASA_PORT, 5006) consumes it; with no WhatsApp/Razorpay
#                           credentials set, the sandbox (sandbox/mode.py)
#   scripts/run.sh shell    chat with the bot in this terminal
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-server}"

# Settings live in the environment; a local .env file (see .env.example) is read if present.
if [ -f .env ]; then set -a; . ./.env; set +a; fi
# endpoints.yml points Rasa at the action server on 5055.
ACTIONS_PORT=5055
PUBLIC_PORT="${PUBLIC_PORT:-5005}"
RASA_PORT="${RASA_PORT:-5006}"
ENDPOINTS=endpoints.yml
RASA_OPTIONS=()
mkdir -p var

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

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
    .venv/bin/python -m sandbox &
    pids+=($!)
    wait_for "http://127.0.0.1:${SANDBOX_PORT}/sandbox/api/status" "$!" "sandbox server"
  fi
fi

.venv/bin/rasa run actions --actions actions --port "$ACTIONS_PORT" &
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
      .venv/bin/python -m server.front_door --port "$PUBLIC_PORT" --credentials credentials.yml &
    pids+=($!)
    wait_for "http://127.0.0.1:${PUBLIC_PORT}/webhooks/whatsapp/" "$!" "front door"
    echo "Webhooks on http://localhost:${PUBLIC_PORT} (WhatsApp: /webhooks/whatsapp/webhook, Razorpay: /webhooks/razorpay/webhook); Rasa on port ${RASA_PORT}"
    export INBOX_CONSUMER_NAME="${INBOX_CONSUMER_NAME:-$(hostname):rasa:${RASA_PORT}}"
    .venv/bin/rasa run --model models/checkout.tar.gz --endpoints "$ENDPOINTS" \
      --credentials credentials.yml --port "$RASA_PORT" "${RASA_OPTIONS[@]}" ;;
  *)
    echo "usage: $0 [server|shell]" >&2; exit 2 ;;
esac
