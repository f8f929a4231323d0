"""Small state the WhatsApp channel keeps between a reply and the customer's answer.

- short reply-id tokens -> full Rasa payloads (ids longer than WhatsApp allows),
- the numbered options last offered to a customer (answerable with "3").

In the order store's database by default (a table beside the inbox), so the process
that sends a reply and the one that reads the customer's answer need not be the same
(the front door and Rasa both send the outbox) and a restart forgets nothing. With
REDIS_URL set, in Redis. In memory only for tests. (Which messages were seen is the
durable inbox's job.)
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import timedelta
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from orders.store import get_store, utcnow, write_transaction

logger = logging.getLogger(__name__)

PAYLOAD_TTL = 30 * 24 * 3600  # a button can be tapped long after it was sent
OPTIONS_TTL = 24 * 3600  # the customer-service window


class KeyValueStore(Protocol):
    backend: str


    async def set(self, key: str, value: str, ttl: int) -> None: ...

    async def get(self, key: str) -> str | None: ...

    async def discard(self, key: str, value: str) -> None:
        """Delete the key if it still holds `value`."""
        ...

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

    async def discard(self, key: str, value: str) -> None:
        if self._live(key) == value:
            del self._items[key]

    async def close(self) -> None:
        self._items.clear()


# Compare and delete in one step: a value set meanwhile by another process stays.
_DISCARD_SCRIPT = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


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

    async def discard(self, key: str, value: str) -> None:
        await self._redis.eval(_DISCARD_SCRIPT, 1, self._prefix + key, value)

    async def close(self) -> None:
        await self._redis.close()


metadata = sa.MetaData()
reply_state = sa.Table(
    "whatsapp_reply_state",
    metadata,
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False, index=True),
)
_creating = threading.Lock()
T = TypeVar("T")
# Expired rows are deleted by every this many writes of a process: no sweeper needed.
PURGE_EVERY_WRITES = 500


class DatabaseStore:
    """Keys with expiry in a table of the order store's database (SQLite or PostgreSQL)."""

    backend = "database"

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False
        self._writes = 0
        upsert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
        statement = upsert(reply_state)
        self._set = statement.on_conflict_do_update(
            index_elements=[reply_state.c.key],
            set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at},
        )
        self._get = sa.select(reply_state.c.value).where(
            reply_state.c.key == sa.bindparam("k"), reply_state.c.expires_at > sa.bindparam("now")
        )
        self._delete = sa.delete(reply_state).where(
            reply_state.c.key == sa.bindparam("k"), reply_state.c.value == sa.bindparam("v")
        )
        self._purge = sa.delete(reply_state).where(reply_state.c.expires_at <= sa.bindparam("now"))

    def _ensure(self) -> None:
        if not self._ready:
            with _creating:
                metadata.create_all(self.engine)
            self._ready = True

    async def set(self, key: str, value: str, ttl: int) -> None:
        self._writes += 1
        purge = self._writes % PURGE_EVERY_WRITES == 0
        row = {"key": key, "value": value, "expires_at": utcnow() + timedelta(seconds=ttl)}
        await asyncio.to_thread(self._write, self._store_row, row, purge)

    def _store_row(self, conn: Connection, row: dict[str, object], purge: bool) -> None:
        conn.execute(self._set, row)
        if purge:
            conn.execute(self._purge, {"now": utcnow()})

    async def get(self, key: str) -> str | None:
        return await asyncio.to_thread(self._read, key)

    def _read(self, key: str) -> str | None:
        self._ensure()
        with self.engine.connect() as conn:
            return conn.execute(self._get, {"k": key, "now": utcnow()}).scalar()

    async def discard(self, key: str, value: str) -> None:
        await asyncio.to_thread(self._write, self._delete_row, key, value)

    def _delete_row(self, conn: Connection, key: str, value: str) -> None:
        conn.execute(self._delete, {"k": key, "v": value})

    def _write(self, fn: Callable[..., T], *args: Any) -> T:
        self._ensure()
        return write_transaction(self.engine, fn, *args)

    async def close(self) -> None:
        pass  # the engine is the order store's


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
        return cls(RedisStore(url)) if url else cls(DatabaseStore(get_store().engine))

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

    async def options(self, wa_id: str) -> list[str]:
        """The options last offered to this customer."""
        try:
            raw = await self._replies.get(f"options:{wa_id}")
        except Exception as exc:
            logger.error("WhatsApp store failed to read numbered options (%s)", exc)
            return []
        return json.loads(raw) if raw else []

    async def forget_options(self, wa_id: str, options: list[str]) -> None:
        """Forget `options` once answered; options offered since then stay."""
        try:
            await self._replies.discard(f"options:{wa_id}", json.dumps(options))
        except Exception as exc:
            logger.error("WhatsApp store failed to forget numbered options (%s)", exc)

    async def close(self) -> None:
        await self._replies.close()
