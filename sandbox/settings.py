"""The sandbox process's settings, from the environment that `make run` prepares.

The stand-ins check the same credentials the bot uses (WHATSAPP_*, RAZORPAY_*), so the
bot's real code paths (bearer token, basic auth, both webhook signatures) run in full.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_PORT = 8080
DEFAULT_API_VERSION = "v21.0"  # the channel's default (channels/whatsapp/client.py)
REQUIRED = (
    "WHATSAPP_ACCESS_TOKEN",
    "WHATSAPP_PHONE_NUMBER_ID",
    "WHATSAPP_APP_SECRET",
    "RAZORPAY_KEY_ID",
    "RAZORPAY_KEY_SECRET",
    "RAZORPAY_WEBHOOK_SECRET",
)


class SandboxConfigError(ValueError):
    """The sandbox can't start; the message says which variables to set."""


@dataclass(frozen=True)
class SandboxSettings:
    host: str
    port: int
    public_url: str  # where the browser reaches the sandbox (payment links point here)
    rasa_url: str  # the Rasa server: readiness and the designer panel's trackers
    # The header's name: SANDBOX_SHOP_NAME, or None for shop.yml's (see sandbox/brand.py).
    shop_name: str | None
    access_token: str = field(repr=False)
    phone_number_id: str
    api_version: str
    app_secret: str = field(repr=False)
    key_id: str
    key_secret: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    # Rasa's HTTP API token (the designer panel reads trackers with it); None: no panel.
    rasa_token: str | None = field(default=None, repr=False)
    catalog_path: str | None = None
    shop_file: str | None = None  # SHOP_FILE; None: the shipped shop.yml
    # Where the simulated Meta and Razorpay post their webhooks (the front door);
    # None: the Rasa server itself, which serves the same routes.
    webhook_url: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SandboxSettings:
        env = os.environ if env is None else env
        missing = [name for name in REQUIRED if not env.get(name)]
        if missing:
            raise SandboxConfigError(
                f"the sandbox needs {', '.join(missing)}; start it with `make run`, which "
                "generates them for the stand-ins"
            )
        try:
            port = int(env.get("SANDBOX_PORT") or DEFAULT_PORT)
        except ValueError as exc:
            raise SandboxConfigError(f"SANDBOX_PORT={env['SANDBOX_PORT']!r} is not a port") from exc
        return cls(
            host=env.get("SANDBOX_HOST") or "127.0.0.1",
            port=port,
            public_url=(env.get("SANDBOX_PUBLIC_URL") or f"http://localhost:{port}").rstrip("/"),
            rasa_url=(env.get("RASA_URL") or "http://localhost:5005").rstrip("/"),
            shop_name=env.get("SANDBOX_SHOP_NAME") or None,
            access_token=env["WHATSAPP_ACCESS_TOKEN"],
            phone_number_id=env["WHATSAPP_PHONE_NUMBER_ID"],
            api_version=env.get("WHATSAPP_API_VERSION") or DEFAULT_API_VERSION,
            app_secret=env["WHATSAPP_APP_SECRET"],
            key_id=env["RAZORPAY_KEY_ID"],
            key_secret=env["RAZORPAY_KEY_SECRET"],
            webhook_secret=env["RAZORPAY_WEBHOOK_SECRET"],
            rasa_token=env.get("RASA_API_TOKEN") or None,
            catalog_path=env.get("CATALOG_PATH") or None,
            shop_file=env.get("SHOP_FILE") or None,
            webhook_url=(env.get("BOT_WEBHOOK_URL") or "").rstrip("/") or None,
        )
