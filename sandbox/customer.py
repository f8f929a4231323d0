"""The customer's side of WhatsApp: what the chat page's customer types or taps, sent to
the bot as Meta would send it (a signed `messages` event to the real webhook route).

Only the kinds a customer can produce on the page are accepted, in the shapes of
shared/reference/whatsapp-cloud-api.md; the ids, timestamp and envelope are added here.

While the bot is starting (Rasa loads its model for half a minute) or away, messages
wait here, in the order they were typed, and go out once the bot answers its health
check: the page shows them as waiting, never as lost. The same signed body is sent
again after a failed attempt, so the bot's inbox keeps one of each (its wamid).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections import deque
from typing import Any

from sandbox import meta_events
from sandbox.bot import WHATSAPP_WEBHOOK, BotClient
from sandbox.journal import Entry

logger = logging.getLogger(__name__)
WABA_ID = "100000000000001"  # the sandbox's WhatsApp Business Account
PHONE = re.compile(r"^[1-9]\d{6,14}$")  # a WhatsApp id: the number with country code
NAME_LIMIT = 60
TEXT_LIMIT = 4096  # the Cloud API's limit on a text body (the page says so before sending)
MAX_WAITING = 200  # messages held while the bot is not ready
RETRY_SECONDS = 1.0


class CustomerInputError(ValueError):
    """What the page sent is not something a WhatsApp customer can send."""


def customer_message(phone: str, content: Any) -> dict[str, Any]:
    """One WhatsApp message from `phone`: `content` is {"type": ..., <type>: {...}}."""
    if not isinstance(phone, str) or not PHONE.match(phone):
        raise CustomerInputError("the phone number must be 7 to 15 digits with country code")
    if not isinstance(content, dict):
        raise CustomerInputError("message must be an object")
    kind = content.get("type")
    body = content.get(kind) if isinstance(kind, str) else None
    checks = {"text": _text, "interactive": _interactive, "order": _order,
              "location": _location, "image": _image}
    if kind not in checks or not isinstance(body, dict):
        raise CustomerInputError(f"unsupported message type {kind!r}")
    return meta_events.message(kind, checks[kind](body), sender=phone,
                               timestamp=meta_events.now())


def _text(text: dict[str, Any]) -> dict[str, Any]:
    value = text.get("body")
    if not isinstance(value, str) or not value.strip() or len(value) > TEXT_LIMIT:
        raise CustomerInputError(f"text.body must be 1 to {TEXT_LIMIT} characters")
    return {"body": value}


def _interactive(interactive: dict[str, Any]) -> dict[str, Any]:
    kind = interactive.get("type")
    if kind not in ("button_reply", "list_reply"):
        raise CustomerInputError("interactive.type must be button_reply or list_reply")
    reply = interactive.get(kind)
    if not (isinstance(reply, dict) and isinstance(reply.get("id"), str)
            and isinstance(reply.get("title"), str)):
        raise CustomerInputError(f"interactive.{kind} needs an id and a title")
    kept = {"id": reply["id"], "title": reply["title"]}
    if kind == "list_reply" and isinstance(reply.get("description"), str):
        kept["description"] = reply["description"]
    return {"type": kind, kind: kept}


def _order(order: dict[str, Any]) -> dict[str, Any]:
    items = order.get("product_items")
    if not isinstance(items, list) or not items:
        raise CustomerInputError("order.product_items must list at least one product")
    kept = []
    for item in items:
        if not (isinstance(item, dict) and isinstance(item.get("product_retailer_id"), str)
                and isinstance(item.get("quantity"), int) and item["quantity"] > 0):
            raise CustomerInputError("each product item needs a product_retailer_id and quantity")
        kept.append({
            "product_retailer_id": item["product_retailer_id"],
            "quantity": item["quantity"],
            "item_price": item.get("item_price", 0),
            "currency": "INR",
        })
    return {"catalog_id": str(order.get("catalog_id") or "sandbox-catalog"),
            "text": str(order.get("text") or ""), "product_items": kept}


def _location(location: dict[str, Any]) -> dict[str, Any]:
    try:
        kept: dict[str, Any] = {"latitude": float(location["latitude"]),
                                "longitude": float(location["longitude"])}
    except (KeyError, TypeError, ValueError) as exc:
        raise CustomerInputError("location needs a latitude and a longitude") from exc
    for key in ("name", "address"):
        if isinstance(location.get(key), str):
            kept[key] = location[key]
    return kept


def _image(image: dict[str, Any]) -> dict[str, Any]:
    # A photo from the customer: the bot answers it as an unsupported message.
    kept = {"id": str(image.get("id") or "1234567890"), "mime_type": "image/jpeg",
            "sha256": "sandbox"}
    if isinstance(image.get("caption"), str):
        kept["caption"] = image["caption"]
    return kept


class Customers:
    """Sends customer messages to the bot, signed with the app secret, and records them;
    holds them while the bot is not ready and sends them, in order, once it is."""

    def __init__(self, bot: BotClient, app_secret: str, phone_number_id: str,
                 retry_seconds: float = RETRY_SECONDS) -> None:
        self.bot = bot
        self.app_secret = app_secret
        self.phone_number_id = phone_number_id
        self.retry_seconds = retry_seconds
        self._waiting: deque[tuple[Entry, bytes, dict[str, str]]] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._bot_up = False  # the bot answered its health check and took the last message

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    async def say(self, phone: str, name: str, content: Any) -> Entry:
        message = customer_message(phone, content)
        name = (name or "").strip()[:NAME_LIMIT] or "Sandbox customer"
        event = meta_events.envelope(
            meta_events.value([message], names={phone: name},
                              phone_number_id=self.phone_number_id),
            waba_id=WABA_ID,
        )
        body = json.dumps(event).encode()
        headers = {"Content-Type": "application/json",
                   "X-Hub-Signature-256": meta_events.sign(body, self.app_secret)}
        journal = self.bot.journal
        if not self._waiting and (self._bot_up or await self.bot.ready()):
            status, answer = await self.bot.deliver(WHATSAPP_WEBHOOK, body, headers)
            self._bot_up = status != 0
            if status != 0:
                return journal.record_customer(phone, message, status, answer, name)
        if len(self._waiting) >= MAX_WAITING:
            raise CustomerInputError(
                f"the bot is not ready and {MAX_WAITING} messages already wait for it")
        entry = journal.record_customer(
            phone, message, None, {"waiting": "the bot is starting: sent once it is ready"},
            name, queued=True,
        )
        self._waiting.append((entry, body, headers))
        if self._sender is None or self._sender.done():
            self._sender = asyncio.create_task(self._send_waiting())
        return entry

    async def _send_waiting(self) -> None:
        while self._waiting:
            if not await self.bot.ready():
                await asyncio.sleep(self.retry_seconds)
                continue
            entry, body, headers = self._waiting[0]
            status, answer = await self.bot.deliver(WHATSAPP_WEBHOOK, body, headers)
            if status == 0:  # gone again: the same body, later
                await asyncio.sleep(self.retry_seconds)
                continue
            self._waiting.popleft()
            self._bot_up = True
            self.bot.journal.record_delivery(entry, status, answer)
        logger.info("The bot is ready: the messages that waited for it are sent")

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
