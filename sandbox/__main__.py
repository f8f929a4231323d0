"""`python -m sandbox`: serve the chat page and the stand-ins (settings: sandbox/settings.py).

When the bot answers its health check, the banner is printed again, since Rasa's
start-up log will have scrolled the first one away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator

from aiohttp import web

from sandbox.app import BOT, SETTINGS, build_app
from sandbox.mode import banner
from sandbox.settings import SandboxConfigError, SandboxSettings

logger = logging.getLogger("sandbox")
READY_POLL_SECONDS = 2.0
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s  %(message)s"


async def _announce_when_ready(app: web.Application) -> None:
    ready = False
    while not ready:
        await asyncio.sleep(READY_POLL_SECONDS)
        ready = await app[BOT].ready()
    print(f"\n{banner(app[SETTINGS].public_url)}\n", flush=True)


async def _announcer(app: web.Application) -> AsyncIterator[None]:
    task = asyncio.create_task(_announce_when_ready(app))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def main() -> int:
    logging.basicConfig(level=logging.INFO, format=LOG_FORMAT)
    try:
        settings = SandboxSettings.from_env()
    except SandboxConfigError as exc:
        print(f"sandbox: {exc}", file=sys.stderr)
        return 2
    app = build_app(settings)
    app.cleanup_ctx.append(_announcer)
    logger.info("Sandbox on http://%s:%s (stand-ins at /graph and /razorpay; bot at %s)",
                settings.host, settings.port, settings.rasa_url)
    web.run_app(app, host=settings.host, port=settings.port, access_log=None, print=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
