"""`python -m sandbox`: serve the chat page and the stand-ins (settings: sandbox/settings.py).

The page says "starting…" until the bot answers, and holds what is typed meanwhile;
`make run` prints READY, with the page's URL, once the bot answers
(scripts/wait_ready.py).
"""

from __future__ import annotations

import logging
import sys

from aiohttp import web

from sandbox.app import build_app
from sandbox.settings import SandboxConfigError, SandboxSettings

logger = logging.getLogger("sandbox")
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s  %(message)s"


def main() -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        settings = SandboxSettings.from_env()
    except SandboxConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    app = build_app(settings)
    logger.info("Sandbox on http://%s:%s (stand-ins at /graph and /razorpay; bot at %s)",
                settings.host, settings.port, settings.rasa_url)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
