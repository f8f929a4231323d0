"""A lock every process of a deployment sees: one reconciler pass at a time, anywhere.

Each Rasa server (and each Sanic worker) runs the reconciler. A pass takes this lock
first; where another process holds it, a periodic pass is skipped and a requested one
waits. The lock lives where the data is:

- PostgreSQL order store (DATABASE_URL): a session-level advisory lock
  (`pg_try_advisory_lock`) on a connection held for the pass. When a process dies its
  connection closes and PostgreSQL frees the lock at once.
- otherwise, with REDIS_URL: a Redis key set with NX and an expiry, renewed while the
  pass runs and deleted by its owner only (a crashed holder's key expires).
- otherwise (SQLite and no Redis, i.e. one Rasa process): nothing to share, the
  reconciler's own asyncio lock is enough.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

logger = logging.getLogger(__name__)

# Changing the name would let servers of two releases run passes at once during a deploy.
RECONCILER_LOCK = "commerce.reconcile"
POLL_SECONDS = 0.5
REDIS_LEASE_SECONDS = 60.0


class ClusterLock(Protocol):
    backend: str

    def hold(self, wait: float = 0.0) -> contextlib.AbstractAsyncContextManager[bool]:
        """Try to take the lock for up to `wait` seconds; yields whether it was taken
        (and then holds it until the block ends)."""

    async def close(self) -> None: ...


class LocalLock:
    """One process: always free (the caller's asyncio lock orders its own passes)."""

    backend = "local"

    @contextlib.asynccontextmanager
    async def hold(self, wait: float = 0.0) -> AsyncIterator[bool]:
        yield True

    async def close(self) -> None:
        return None


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `pg_try_advisory_lock`, derived from `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def _poll(try_once: Any, wait: float) -> Any:
    deadline = time.monotonic() + wait
    while True:
        got = await try_once()
        remaining = deadline - time.monotonic()
        if got or remaining <= 0:
            return got
        await asyncio.sleep(min(POLL_SECONDS, remaining))


class PostgresAdvisoryLock:
    backend = "postgresql"

    def __init__(self, engine: Engine, name: str = RECONCILER_LOCK) -> None:
        self.engine = engine
        self.key = advisory_key(name)

    @contextlib.asynccontextmanager
    async def hold(self, wait: float = 0.0) -> AsyncIterator[bool]:
        conn = await _poll(lambda: asyncio.to_thread(self._try), wait)
        if conn is None:
            yield False
            return
        try:
            yield True
        finally:
            await asyncio.to_thread(self._release, conn)

    def _try(self) -> Connection | None:
        conn = self.engine.connect()
        try:
            with conn.begin():  # the lock is the session's: it outlives this transaction
                taken = conn.execute(
                    sa.text("SELECT pg_try_advisory_lock(:key)"), {"key": self.key}
                ).scalar()
        except Exception:
            conn.invalidate()
            conn.close()
            raise
        if taken:
            return conn
        conn.close()
        return None

    def _release(self, conn: Connection) -> None:
        try:
            with conn.begin():
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
        except Exception:
            # Not unlocked: drop the connection rather than pool it, which ends the
            # session and with it the lock.
            logger.exception("Advisory lock %s not released; closing its connection", self.key)
            conn.invalidate()
        finally:
            conn.close()

    async def close(self) -> None:
        return None


# Delete / extend the key only while it still holds our token.
_RELEASE = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end "
    "return 0"
)
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end return 0"
)


class RedisLock:
    backend = "redis"

    def __init__(
        self, url: str, name: str = RECONCILER_LOCK, lease: float = REDIS_LEASE_SECONDS
    ) -> None:
        import redis.asyncio as redis  # only needed when REDIS_URL is set

        # Connects lazily, on the loop that first uses it (Sanic's).
        self._redis = redis.from_url(url, decode_responses=True)
        self.key = f"cluster-lock:{name}"
        self.lease_ms = int(lease * 1000)

    @contextlib.asynccontextmanager
    async def hold(self, wait: float = 0.0) -> AsyncIterator[bool]:
        token = uuid.uuid4().hex

        async def take() -> bool:
            return bool(await self._redis.set(self.key, token, nx=True, px=self.lease_ms))

        if not await _poll(take, wait):
            yield False
            return
        renewer = asyncio.create_task(self._renew(token))
        try:
            yield True
        finally:
            renewer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renewer
            await self._redis.eval(_RELEASE, 1, self.key, token)

    async def _renew(self, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            try:
                kept = await self._redis.eval(_RENEW, 1, self.key, token, self.lease_ms)
            except Exception as exc:
                logger.warning("Could not extend the lease of %s: %s", self.key, exc)
                continue
            if not kept:
                logger.error("Lost %s while holding it: another process may run now", self.key)
                return

    async def close(self) -> None:
        await self._redis.close()


def is_postgresql(engine: Engine) -> bool:
    return engine.dialect.name == "postgresql"


def for_engine(engine: Engine, name: str = RECONCILER_LOCK) -> ClusterLock:
    """The lock for processes sharing the database of `engine` (see the module doc)."""
    if is_postgresql(engine):
        return PostgresAdvisoryLock(engine, name)
    url = os.environ.get("REDIS_URL", "").strip()
    if url:
        return RedisLock(url, name)
    return LocalLock()
