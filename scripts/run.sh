#!/usr/bin/env bash
# Start the action server in the background and Rasa in the foreground; Ctrl-C stops both.
#   scripts/run.sh server   the bot with its channels (WhatsApp, Razorpay webhooks)
#   scripts/run.sh shell    chat with the bot in this terminal
set -euo pipefail
cd "$(dirname "$0")/.."
mode="${1:-server}"

# Settings live in the environment; a local .env file (see .env.example) is read if present.
if [ -f .env ]; then set -a; . ./.env; set +a; fi
# endpoints.yml points Rasa at the action server on 5055.
ACTIONS_PORT=5055
RASA_PORT="${RASA_PORT:-5005}"
mkdir -p var

.venv/bin/rasa run actions --actions actions --port "$ACTIONS_PORT" &
actions_pid=$!
trap 'kill "$actions_pid" 2>/dev/null || true; wait "$actions_pid" 2>/dev/null || true' EXIT INT TERM

for _ in $(seq 1 120); do
  if .venv/bin/python -c "import urllib.request,sys; urllib.request.urlopen('http://localhost:${ACTIONS_PORT}/health', timeout=1)" 2>/dev/null; then
    break
  fi
  kill -0 "$actions_pid" 2>/dev/null || { echo "The action server did not start; see the log above." >&2; exit 1; }
  sleep 0.5
done

case "$mode" in
  shell)
    .venv/bin/rasa shell --model models/checkout.tar.gz --endpoints endpoints.yml ;;
  server)
    echo "Rasa on http://localhost:${RASA_PORT} (WhatsApp: /webhooks/whatsapp/webhook, Razorpay: /webhooks/razorpay/webhook)"
    .venv/bin/rasa run --model models/checkout.tar.gz --endpoints endpoints.yml \
      --credentials credentials.yml --port "$RASA_PORT" ;;
  *)
    echo "usage: $0 [server|shell]" >&2; exit 2 ;;
esac
