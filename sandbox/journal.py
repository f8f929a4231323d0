"""The sandbox's record: chat messages both ways and every request to a stand-in or the bot.

The chat page reads it twice over: the history of one customer when it opens, then
each new entry as it happens (server-sent events). Entries are numbered so a page that
reconnects can skip what it has already shown. Kept in memory, newest MAX_ENTRIES.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

from sandbox.exchange import Exchange

logger = logging.getLogger(__name__)

MAX_ENTRIES = 5000
QUEUE_LIMIT = 1000  # a page that stops reading is dropped, not waited for

# Entry kinds:
#   customer  a message the customer sent (data: the WhatsApp message, the customer's
#             name, and the webhook's status and answer; status None and queued True
#             while it waits for the bot to be ready)
#   delivery  a queued customer message was delivered (data: message_id, customer_seq,
#             status, answer); its customer entry is updated in place too
#   bot       a message the bot sent through the Graph API (data: the message body)
#   read      the bot marked a customer message read (data: message_id, typing)
#   rejected  the Graph API refused a message (data: the body and Meta's error)
#   request   one HTTP exchange (data: an Exchange)
#   named     the page started a chat as a customer or renamed one (data: name)


@dataclass(frozen=True)
class Entry:
    seq: int
    kind: str
    phone: str | None
    data: dict[str, Any]
    time: float = field(default_factory=time.time)

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


class Journal:
    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self._entries: deque[Entry] = deque(maxlen=max_entries)
        self._seq = itertools.count(1)
        self._listeners: set[asyncio.Queue[Entry]] = set()
        self._senders: dict[str, str] = {}  # customer message id -> phone (for read receipts)
        self._names: dict[str, str] = {}  # phone -> the name it last wrote with, oldest first

    def add(self, kind: str, phone: str | None, data: dict[str, Any]) -> Entry:
        entry = Entry(next(self._seq), kind, phone, data)
        self._entries.append(entry)
        for queue in list(self._listeners):
            try:
                queue.put_nowait(entry)
            except asyncio.QueueFull:
                self._listeners.discard(queue)
        return entry

    def entries(self, phone: str | None = None, kinds: tuple[str, ...] = ()) -> list[Entry]:
        return [
            e for e in self._entries
            if (phone is None or e.phone == phone) and (not kinds or e.kind in kinds)
        ]

    def listen(self) -> asyncio.Queue[Entry]:
        queue: asyncio.Queue[Entry] = asyncio.Queue(QUEUE_LIMIT)
        self._listeners.add(queue)
        return queue

    def forget(self, queue: asyncio.Queue[Entry]) -> None:
        self._listeners.discard(queue)

    # -- what happened -----------------------------------------------------------

    def record_customer(self, phone: str, message: dict[str, Any], status: int | None,
                        answer: Any, name: str = "", queued: bool = False) -> Entry:
        """A message the customer sent, with the webhook's answer (200, 403, 503...), or
        `queued` (status None) when it waits for the bot."""
        self._senders[str(message.get("id"))] = phone
        if name or phone not in self._names:
            self._names[phone] = name
        data: dict[str, Any] = {"message": message, "name": name, "status": status,
                                "answer": answer}
        if queued:
            data["queued"] = True
        return self.add("customer", phone, data)

    def record_delivery(self, entry: Entry, status: int, answer: Any) -> Entry:
        """A queued customer message went out: its entry now carries the answer (for the
        history), and a `delivery` entry tells the pages that are open."""
        entry.data.update(status=status, answer=answer)
        entry.data.pop("queued", None)
        return self.add("delivery", entry.phone, {
            "message_id": entry.data["message"].get("id"), "customer_seq": entry.seq,
            "status": status, "answer": answer,
        })

    def name_customer(self, phone: str, name: str) -> Entry:
        """The page chats as `phone` under `name` (a new customer, or a new name)."""
        self._names[phone] = name
        return self.add("named", phone, {"name": name})

    def customers(self) -> list[dict[str, str]]:
        """Every customer who wrote in this run, in the order they first did, with the
        name they last gave."""
        return [{"phone": phone, "name": name} for phone, name in self._names.items()]

    def record_exchange(self, exchange: Exchange) -> None:
        """Log the request; a Graph API send also becomes a chat entry of its customer."""
        logger.info("%s %s %s -> %s", exchange.service, exchange.method, exchange.path,
                    exchange.status or "unreachable")
        self.add("request", _phone_of(exchange), asdict(exchange))
        if exchange.service != "graph" or not isinstance(exchange.request, dict):
            return
        body = exchange.request
        if exchange.status != 200:
            self.add("rejected", body.get("to"), {"message": body, "error": exchange.response})
        elif body.get("status") == "read":
            message_id = str(body.get("message_id"))
            self.add("read", self._senders.get(message_id),
                     {"message_id": message_id, "typing": "typing_indicator" in body})
        else:
            messages = (exchange.response or {}).get("messages") or [{}]
            self.add("bot", body.get("to"), {"id": messages[0].get("id"), "message": body})


def _phone_of(exchange: Exchange) -> str | None:
    """The customer an exchange is about, for the request log's filter: the recipient of
    a Graph API send, the sender of a WhatsApp webhook, the contact on a payment link."""
    body = exchange.request if isinstance(exchange.request, dict) else {}
    if isinstance(body.get("to"), str):
        return body["to"]
    if exchange.service == "rasa" and "entry" in body:
        value = _dig(body, "entry", 0, "changes", 0, "value")
        return _digits(_dig(value, "messages", 0, "from") or _dig(value, "contacts", 0, "wa_id"))
    if exchange.service == "rasa":  # a Razorpay webhook
        payload = body.get("payload")
        return _digits(_dig(payload, "payment_link", "entity", "customer", "contact")
                       or _dig(payload, "payment", "entity", "contact"))
    answer = exchange.response if isinstance(exchange.response, dict) else {}
    return _digits(_dig(body, "customer", "contact") or _dig(answer, "customer", "contact"))


def _dig(value: Any, *path: str | int) -> Any:
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, dict) else None
    return value


def _digits(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    digits = "".join(c for c in value if c.isdigit())
    return digits or None
