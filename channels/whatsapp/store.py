"""Small state the WhatsApp channel keeps between a reply and the customer's answer.

- short reply-id tokens -> full Rasa payloads (ids longer than WhatsApp allows),
- the numbered options last offered to a customer (answerable with "3").

In memory by default (bounded, per process). With REDIS_URL set, in Redis, so several
Rasa processes share it. (Which messages were seen is the durable inbox's job.)
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections import OrderedDict
from typing import Protocol

logger = logging.getLogger(__name__)

PAYLOAD_TTL = 30 * 24 * 3600  # a button can be tapped long after it was sent
OPTIONS_TTL = 24 * 3600  # the customer-service window


class KeyValueStore(Protocol):
    backend: str


    async def set(self, key: str, value: str, ttl: int) -> None: ...

    async def get(self, key: str) -> str | None: ...

    async def pop(self, key: str) -> str | None: ...

    async def close(self) -> None: ...


class MemoryStore:
    """LRU-bounded dict with per-key expiry; single event loop, so no locking."""

    backend = "memory"

    def __init__(self, max_entries: int = 100_000) -> None:
        self._max_entries = max_entries
        self._items: OrderedDict[str, tuple[float, str]] = OrderedDict()

    def _live(self, key: str) -> str | None:
        item = self._items.get(key)
        if item is None:
            return None
        if item[0] <= time.monotonic():
            del self._items[key]
            return None
        return item[1]

    async def set(self, key: str, value: str, ttl: int) -> None:
        self._items[key] = (time.monotonic() + ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max_entries:
            self._items.popitem(last=False)

    async def get(self, key: str) -> str | None:
        return self._live(key)

    async def pop(self, key: str) -> str | None:
        value = self._live(key)
        self._items.pop(key, None)
        return value

    async def close(self) -> None:
        self._items.clear()


class RedisStore:
    backend = "redis"

    def __init__(self, url: str, prefix: str = "whatsapp:") -> None:
        import redis.asyncio as redis  # only needed when REDIS_URL is set

        # from_url connects lazily, on the loop that first uses it (Sanic's).
        self._redis = redis.from_url(url, decode_responses=True)
        self._prefix = prefix

    async def set(self, key: str, value: str, ttl: int) -> None:
        await self._redis.set(self._prefix + key, value, ex=ttl)

    async def get(self, key: str) -> str | None:
        return await self._redis.get(self._prefix + key)

    async def pop(self, key: str) -> str | None:
        return await self._redis.getdel(self._prefix + key)

    async def close(self) -> None:
        await self._redis.close()


class ChannelState:
    """What the channel remembers, on top of a key-value store.

    Store failures are logged and degrade gracefully: an unreachable Redis must not
    stop customers from being answered (at worst a tapped button is not understood).
    """

    def __init__(self, replies: KeyValueStore) -> None:
        self._replies = replies
        self.backend = replies.backend

    @classmethod
    def in_memory(cls) -> ChannelState:
        return cls(MemoryStore(20_000))

    @classmethod
    def from_env(cls) -> ChannelState:
        url = os.environ.get("REDIS_URL")
        return cls(RedisStore(url)) if url else cls.in_memory()

    async def remember_payload(self, token: str, payload: str) -> None:
        try:
            await self._replies.set(f"payload:{token}", payload, PAYLOAD_TTL)
        except Exception as exc:
            logger.error("WhatsApp store failed to keep a reply token (%s)", exc)

    async def payload_for(self, token: str) -> str | None:
        try:
            return await self._replies.get(f"payload:{token}")
        except Exception as exc:
            logger.error("WhatsApp store failed to resolve a reply token (%s)", exc)
            return None

    async def remember_options(self, wa_id: str, payloads: list[str]) -> None:
        try:
            await self._replies.set(f"options:{wa_id}", json.dumps(payloads), OPTIONS_TTL)
        except Exception as exc:
            logger.error("WhatsApp store failed to keep numbered options (%s)", exc)

    async def take_options(self, wa_id: str) -> list[str]:
        """The options last offered to this customer, forgotten as they are read."""
        try:
            raw = await self._replies.pop(f"options:{wa_id}")
        except Exception as exc:
            logger.error("WhatsApp store failed to read numbered options (%s)", exc)
            return []
        return json.loads(raw) if raw else []

    async def close(self) -> None:
        await self._replies.close()
