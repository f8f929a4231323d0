"""`make reconcile`: one reconciler pass, now.

It asks a running Rasa server for the pass (POST /webhooks/razorpay/reconcile with
`Authorization: Bearer $RECONCILE_TOKEN`), because only a server can reach customers'
conversations to send missing confirmations. Without RECONCILE_TOKEN, or when no
server answers, it runs the pass in this process: link catch-up and Shopify, leaving
the confirmations to the server's next periodic pass.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
from typing import Any

import aiohttp

from gateways.razorpay import PaymentGatewayError, RazorpayGateway
from gateways.shopify import ShopifyClient
from orders.reconcile import PassSkipped, Reconciler
from orders.store import get_store
from server.cluster_lock import for_engine

logger = logging.getLogger(__name__)

RECONCILE_PATH = "/webhooks/razorpay/reconcile"
# A pass may wait up to a minute for another server's pass to end, then run.
REQUEST_TIMEOUT_SECONDS = 120


def reconcile_token() -> str | None:
    """The shared secret of the reconcile route; None leaves the route closed."""
    return os.environ.get("RECONCILE_TOKEN") or None


def request_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def request_server_pass(server_url: str, token: str) -> dict[str, Any] | None:
    try:
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(
                server_url.rstrip("/") + RECONCILE_PATH, headers=request_headers(token)
            ) as resp:
                if resp.status != 200:
                    logger.warning(
                        "Rasa server refused the reconcile request: HTTP %s", resp.status
                    )
                    return None
                return await resp.json()
    except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
        logger.info("No Rasa server at %s (%s)", server_url, type(exc).__name__)
        return None


async def _main_once(server_url: str, local_only: bool) -> dict[str, Any]:
    token = reconcile_token()
    if token and not local_only:
        report = await request_server_pass(server_url, token)
        if report is not None:
            return {"where": "server", **report}
    elif not local_only:
        logger.info("RECONCILE_TOKEN is not set: running the pass here, without confirmations")
    gateway = None
    try:
        gateway = RazorpayGateway.from_env()
    except PaymentGatewayError as exc:
        logger.warning("%s: links are not fetched", exc)
    store = get_store()
    lock = for_engine(store.engine)
    reconciler = Reconciler(store, gateway, None, ShopifyClient.from_env(), lock=lock)
    try:
        report = (await reconciler.run_once()).as_dict()
    except PassSkipped as exc:
        return {"where": "local", "skipped": str(exc)}
    finally:
        await lock.close()
    if report["awaiting_confirmation"]:
        logger.warning(
            "%d paid order(s) await their confirmation: the Rasa server sends "
            "them on its next pass",
            report["awaiting_confirmation"],
        )
    return {"where": "local", **report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--once",
        action="store_true",
        required=True,
        help="run one pass and exit (the server runs them periodically)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="do not ask the Rasa server; run the pass in this process",
    )
    parser.add_argument(
        "--server",
        default=os.environ.get("RASA_SERVER_URL") or "http://localhost:5006",
        help="the Rasa server to ask",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    report = asyncio.run(_main_once(args.server, args.local))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
