"""The front door: the public webhook routes, in a process that never loads a model.

Rasa 3.6 runs NLU and policies on its event loop, so a webhook answered by the Rasa
server waits behind inference when traffic peaks. This process serves the same
channels (credentials.yml: the WhatsApp channel and the Razorpay route) with the same
code, and does only what must happen before the answer: signature check, parsing,
de-duplication and the durable inbox write (for a payment, the order's update too).
The Rasa servers consume the inbox; this process wakes them (INBOX_WAKE_URLS) and
sends what waits in the outbox.

    python -m server.front_door --port 5005 --credentials credentials.yml
"""

from __future__ import annotations

import argparse
import gc
import logging
import os
import sys

from rasa.core.channels.channel import InputChannel, register
from rasa.shared.utils.common import class_from_module_path
from rasa.shared.utils.io import read_config_file
from sanic import Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse

from durable.service import FRONT_DOOR

logger = logging.getLogger(__name__)

DEFAULT_PORT = 5005


def load_channels(credentials_path: str) -> list[InputChannel]:
    """The input channels credentials.yml names, built as `rasa run` builds them."""
    channels = []
    for module_path, credentials in (read_config_file(credentials_path) or {}).items():
        channel_class = class_from_module_path(module_path)
        channels.append(channel_class.from_credentials(credentials))
    return channels


def build_app(channels: list[InputChannel]) -> Sanic:
    app = Sanic("front_door", configure_logging=False)
    # The channels see this role: they write the inbox but never consume it, so the
    # handler register() wires to `app.ctx.agent` is never called here.
    app.ctx.role = FRONT_DOOR
    register(channels, app, route="/webhooks/")

    @app.get("/")
    async def root(request: Request) -> HTTPResponse:
        return response.json({"status": "ok", "role": FRONT_DOOR})

    return app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default=os.environ.get("PUBLIC_HOST") or "0.0.0.0")
    parser.add_argument(
        "--port", type=int, default=int(os.environ.get("PUBLIC_PORT") or DEFAULT_PORT)
    )
    parser.add_argument("--credentials", default="credentials.yml")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL") or logging.INFO,
        format="%(asctime)s %(levelname)-8s %(name)s  - %(message)s",
    )
    app = build_app(load_channels(args.credentials))
    # Importing Rasa brings TensorFlow's half a million objects: left to the collector,
    # each full collection stalls every delivery in flight for a quarter of a second.
    gc.collect()
    gc.freeze()
    logger.info("Front door on port %d: webhooks in, inbox written, no model", args.port)
    app.run(host=args.host, port=args.port, workers=1, access_log=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
