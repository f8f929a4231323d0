"""The environment of one sandbox run: generated secrets, stand-in URLs, its own state.

The bot's processes get WHATSAPP_* and RAZORPAY_* pointing at the stand-ins, with
secrets made fresh for each run, so nothing can reach Meta or Razorpay and no secret
outlives the run. Orders and conversations live under var/sandbox/ (emptied by the run
script at each start), never in the real store; Shopify sync and shared Redis state
are switched off.

`python -m sandbox.runenv SOURCE TARGET` writes the sandbox's endpoints file: SOURCE
with the tracker store moved to var/sandbox/ and no shared lock store or broker.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import yaml

SANDBOX_DIR = "var/sandbox"
DEFAULT_PORT = "8080"
DEFAULT_RASA_PORT = "5006"
DEFAULT_PUBLIC_PORT = "5005"  # the front door: where Meta's and Razorpay's webhooks go
PHONE_NUMBER_ID = "100000000000002"  # the sandbox shop's WhatsApp number id
# Settings that would reach real services or shared state from a sandbox run.
NOT_IN_SANDBOX = (
    "SHOPIFY_STORE_DOMAIN",
    "SHOPIFY_ACCESS_TOKEN",
    "SHOPIFY_API_BASE_URL",
    "REDIS_URL",
    "TRACKER_STORE_URL",
    "RAZORPAY_WEBHOOK_SECRET_PREVIOUS",
    "WHATSAPP_ALLOW_UNSIGNED",
)


def sandbox_environment(
    env: Mapping[str, str], token: Callable[[int], str] = secrets.token_urlsafe
) -> dict[str, str]:
    port = env.get("SANDBOX_PORT") or DEFAULT_PORT
    local = f"http://127.0.0.1:{port}"
    return {
        "SANDBOX_PORT": port,
        "SANDBOX_PUBLIC_URL": env.get("SANDBOX_PUBLIC_URL") or f"http://localhost:{port}",
        "RASA_URL": f"http://127.0.0.1:{env.get('RASA_PORT') or DEFAULT_RASA_PORT}",
        "BOT_WEBHOOK_URL": f"http://127.0.0.1:{env.get('PUBLIC_PORT') or DEFAULT_PUBLIC_PORT}",
        "RASA_API_TOKEN": token(24),
        "WHATSAPP_ACCESS_TOKEN": "sandbox-" + token(24),
        "WHATSAPP_PHONE_NUMBER_ID": PHONE_NUMBER_ID,
        "WHATSAPP_APP_SECRET": token(24),
        "WHATSAPP_VERIFY_TOKEN": token(16),
        "WHATSAPP_API_BASE_URL": f"{local}/graph",
        "WHATSAPP_API_VERSION": env.get("WHATSAPP_API_VERSION") or "v21.0",
        "RAZORPAY_KEY_ID": "rzp_test_sandbox",
        "RAZORPAY_KEY_SECRET": token(24),
        "RAZORPAY_WEBHOOK_SECRET": token(24),
        "RAZORPAY_API_BASE_URL": f"{local}/razorpay",
        "DATABASE_URL": f"sqlite:///{SANDBOX_DIR}/orders.db",
        # The merchant's inbox page (handover), with this run's token. On the Rasa server:
        # it reads conversations from the sandbox's own tracker store (var/sandbox/).
        "MERCHANT_INBOX_TOKEN": token(24),
        "MERCHANT_INBOX_URL": "http://localhost:"
        f"{env.get('RASA_PORT') or DEFAULT_RASA_PORT}/webhooks/merchant/",
        "SANDBOX_ENDPOINTS": f"{SANDBOX_DIR}/endpoints.yml",
    }


def unset_in_sandbox(env: Mapping[str, str]) -> list[str]:
    return [name for name in NOT_IN_SANDBOX if name in env]


def sandbox_endpoints(source: str, state_dir: str = SANDBOX_DIR,
                      actions_url: str | None = None) -> str:
    """The endpoints file for a sandbox run, from the project's one."""
    endpoints: dict[str, Any] = yaml.safe_load(source) or {}
    if actions_url is not None:
        endpoints["action_endpoint"] = {"url": actions_url}
    endpoints["tracker_store"] = {"type": "SQL", "dialect": "sqlite",
                                  "db": f"{state_dir}/tracker.db"}
    for shared in ("lock_store", "event_broker"):
        endpoints.pop(shared, None)
    header = "# Generated for a sandbox run by sandbox/runenv.py; edit endpoints.yml instead.\n"
    return header + yaml.safe_dump(endpoints, sort_keys=False)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m sandbox.runenv SOURCE_ENDPOINTS TARGET", file=sys.stderr)
        return 2
    source, target = Path(argv[0]), Path(argv[1])
    target.write_text(sandbox_endpoints(source.read_text()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
