"""Talking to the bot (the real Rasa server) the way Meta and Razorpay do, plus its tracker.

Webhook deliveries are logged in the journal exactly as sent, so the request log shows
what Meta or Razorpay would have posted and what the bot answered.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any
from urllib.parse import quote

import aiohttp

from sandbox.exchange import Exchange
from sandbox.journal import Journal

logger = logging.getLogger(__name__)

WHATSAPP_WEBHOOK = "/webhooks/whatsapp/webhook"
RAZORPAY_WEBHOOK = "/webhooks/razorpay/webhook"
HEALTH = "/webhooks/whatsapp/"
TIMEOUT = aiohttp.ClientTimeout(total=10)


class BotClient:
    def __init__(
        self, rasa_url: str, token: str | None, journal: Journal, webhook_url: str | None = None
    ) -> None:
        self.rasa_url = rasa_url.rstrip("/")
        self.webhook_url = (webhook_url or rasa_url).rstrip("/")
        self.token = token
        self.journal = journal
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        # Created on first use, on the running loop.
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=TIMEOUT)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def deliver(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        """POST a signed webhook body; (status, answer). Status 0: the bot is not reachable."""
        try:
            async with self.session.post(self.webhook_url + path, data=body,
                                         headers=headers) as response:
                status, answer = response.status, await _answer(response)
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            status, answer = 0, {"error": f"the bot is not reachable ({type(exc).__name__})"}
        self.journal.record_exchange(
            Exchange("rasa", "POST", path, status, json.loads(body), answer)
        )
        return status, answer

    async def ready(self) -> bool:
        """The Rasa server answers its WhatsApp health check (it serves only once its model
        is loaded) and, where it reports one, its inbox consumer is running."""
        try:
            async with self.session.get(self.rasa_url + HEALTH,
                                        timeout=aiohttp.ClientTimeout(total=2)) as response:
                if response.status != 200:
                    return False
                report = await _answer(response)
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False
        return not isinstance(report, dict) or report.get("consuming", True) is not False

    async def tracker(self, sender_id: str) -> dict[str, Any] | None:
        """The conversation's tracker from Rasa's HTTP API; None without a token or on error."""
        if not self.token:
            return None
        url = f"{self.rasa_url}/conversations/{quote(sender_id, safe='')}/tracker"
        params = {"token": self.token, "include_events": "AFTER_RESTART"}
        try:
            async with self.session.get(url, params=params) as response:
                if response.status != 200:
                    logger.warning("Rasa tracker for %s: HTTP %s", sender_id, response.status)
                    return None
                return await response.json()
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as exc:
            logger.warning("Rasa tracker for %s not read: %s", sender_id, type(exc).__name__)
            return None


async def _answer(response: aiohttp.ClientResponse) -> Any:
    text = await response.text()
    try:
        return json.loads(text)
    except ValueError:
        return text
