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
#   customer  a message the customer sent (data: the WhatsApp message, Rasa's answer)
#   bot       a message the bot sent through the Graph API (data: the message body)
#   read      the bot marked a customer message read (data: message_id, typing)
#   rejected  the Graph API refused a message (data: the body and Meta's error)
#   request   one HTTP exchange (data: an Exchange)


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

    def record_customer(self, phone: str, message: dict[str, Any], status: int,
                        answer: Any) -> Entry:
        """A message the customer sent, with the webhook's answer (200, 403, 503...)."""
        self._senders[str(message.get("id"))] = phone
        return self.add("customer", phone, {"message": message, "status": status,
                                            "answer": answer})


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
    if isinstance(exchange.request, dict):
        to = exchange.request.get("to")
        return to if isinstance(to, str) else None
    return None
