"""The shop on the sandbox's pages (chat header, checkout page): SANDBOX_SHOP_NAME, else
the name and emoji the bot greets with (shop.yml, re-read when it changes), marked as
the sandbox."""

from __future__ import annotations

import asyncio
import logging

from commerce.brand import DEFAULT_EMOJI
from commerce.shop import Shop, ShopError, load_shop
from sandbox.settings import SandboxSettings

logger = logging.getLogger(__name__)

UNNAMED = "Sandbox shop"
_reported: set[str] = set()


def _shop(settings: SandboxSettings) -> Shop:
    try:
        return load_shop(settings.shop_file)
    except ShopError as err:
        if str(err) not in _reported:  # the pages ask every few seconds: say it once
            _reported.add(str(err))
            logger.warning("the sandbox header can't use the shop file: %s", err)
        return Shop()


def header(settings: SandboxSettings) -> dict[str, str]:
    shop = _shop(settings)
    name = settings.shop_name or (f"{shop.name} (sandbox)" if shop.name else UNNAMED)
    return {"shop_name": name, "shop_emoji": shop.emoji or DEFAULT_EMOJI}


async def page_header(settings: SandboxSettings) -> dict[str, str]:
    """header() off the event loop: it may stat and read the shop file."""
    return await asyncio.to_thread(header, settings)
