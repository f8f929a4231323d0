"""The inbox: verified inbound events, written before the webhook is answered.

A row is the event's de-duplication record and its work item at once (one unique key),
so "seen" and "will be handled" can never disagree. Consumers claim a customer's
oldest pending row with a lease, and mark it done after the bot's turn finished. A row
that fails `max_attempts` times is parked with its error: visible (`make inbox`),
retryable, and out of the way of that customer's later messages.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from durable import tables
from durable.tables import PENDING, inbox
from orders.store import utcnow

T = TypeVar("T")

DONE = "done"
PARKED = "parked"
# A turn that fails is retried quickly (the action server restarting, a database blip),
# then parked: the customer's later messages must not wait long behind it.
DEFAULT_MAX_ATTEMPTS = 4
RETRY_BASE_SECONDS = 0.25
RETRY_CAP_SECONDS = 5.0
DEFAULT_LEASE_SECONDS = 60.0
# Meta and Razorpay redeliver for days: done rows are kept that long as "seen" records.
KEEP_DONE = timedelta(days=8)


@dataclass(frozen=True)
class NewItem:
    kind: str  # which handler takes it: "whatsapp", "payment"
    customer_id: str
    dedupe_key: str
    payload: dict[str, Any]


@dataclass(frozen=True)
class InboxItem:
    id: int
    kind: str
    customer_id: str
    dedupe_key: str
    payload: dict[str, Any]
    attempts: int
    claims: int
    received_at: datetime
    lease: str

    @property
    def retried(self) -> bool:
        """Whether someone may have worked on it before (a crash, a failure)."""
        return self.attempts > 0 or self.claims > 1


@dataclass(frozen=True)
class ParkedItem:
    id: int
    kind: str
    customer_id: str
    dedupe_key: str
    attempts: int
    last_error: str | None
    received_at: datetime


@dataclass(frozen=True)
class _Write:
    """One caller's `Inbox.add`, waiting for its group's transaction."""

    items: Sequence[NewItem]
    held_by: str | None
    done: asyncio.Future[int]


def _settle(write: _Write, count: int = 0, error: BaseException | None = None) -> None:
    if write.done.done():  # the caller went away (a client that hung up)
        return
    if error is not None:
        write.done.set_exception(error)
    else:
        write.done.set_result(count)


def lease_seconds() -> float:
    raw = os.environ.get("INBOX_LEASE_SECONDS", "")
    return float(raw) if raw.strip() else DEFAULT_LEASE_SECONDS


class Inbox:
    """The inbox table on the order store's engine. Every public method is a coroutine,
    except `add_in`, which writes inside a caller's transaction."""

    def __init__(
        self,
        engine: Engine,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        lease: float | None = None,
    ) -> None:
        self.engine = engine
        self._tables = tables.Tables(engine)
        self.max_attempts = max_attempts
        self.lease = timedelta(seconds=lease if lease is not None else lease_seconds())
        self._queued: list[_Write] = []
        self._writer: asyncio.Task[None] | None = None

    # -- writing from the front door -------------------------------------------------

    def add_in(
        self, conn: Connection, items: Sequence[NewItem], held_by: str | None = None
    ) -> int:
        """Insert `items` in the caller's transaction; ones already recorded are skipped.
        Returns how many were new (exactly, for a single item). `held_by` (a lease, see
        `lease_for`) writes them already leased: the writer handles them itself, and
        they go to the consumers only if it does not finish them within the lease."""
        if not items:
            return 0
        if not self._tables.ready:
            # Creating tables inside the caller's transaction would go with its rollback.
            raise RuntimeError("the inbox is not prepared: await Inbox.prepare() first")
        now = utcnow()
        rows = [
            {
                "kind": item.kind,
                "customer_id": item.customer_id[:64],
                "dedupe_key": item.dedupe_key[:160],
                "payload": tables.dumps(item.payload),
                "status": PENDING,
                "attempts": 0,
                "claims": 1 if held_by else 0,
                "received_at": now,
                "lease_owner": held_by,
                "lease_until": now + self.lease if held_by else None,
            }
            for item in items
        ]
        return tables.insert_ignoring_duplicates(conn, inbox, rows, "dedupe_key")

    @staticmethod
    def lease_for(consumer: str) -> str:
        """A new lease of `consumer`'s: given back with its others when it restarts."""
        return f"{consumer}/{uuid.uuid4().hex}"

    async def prepare(self) -> None:
        """Create the tables if needed; raises (SQLAlchemyError) while the database is away."""
        if not self._tables.ready:
            await asyncio.to_thread(self._tables.ensure)

    async def add(self, items: Sequence[NewItem], held_by: str | None = None) -> int:
        """Write `items` durably; returns how many were new (exactly, for a single item).

        Group commit: writes asked for while one is under way wait for it and then go
        together, in one transaction (one commit, one worker thread) for all of them,
        each still answered with its own count. At a webhook burst that is most of the
        cost of an insert saved; alone, a write goes at once."""
        write = _Write(items, held_by, asyncio.get_running_loop().create_future())
        self._queued.append(write)
        if self._writer is None:
            self._writer = asyncio.create_task(self._write_queued())
        return await write.done

    async def _write_queued(self) -> None:
        batch: list[_Write] = []
        try:
            while self._queued:
                batch, self._queued = self._queued, []
                await self._write_batch(batch)
        except asyncio.CancelledError:
            for write in batch + self._queued:
                write.done.cancel()
            self._queued = []
            raise
        finally:
            self._writer = None

    async def _write_batch(self, batch: list[_Write]) -> None:
        try:
            counts = await asyncio.to_thread(self._tables.write, self._add_all, batch)
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0], error=exc)
                return
            # One write the database refuses must not fail the others: each alone.
            for write in batch:
                try:
                    count = await asyncio.to_thread(
                        self._tables.write, self.add_in, write.items, write.held_by
                    )
                except Exception as alone:
                    _settle(write, error=alone)
                else:
                    _settle(write, count)
            return
        for write, count in zip(batch, counts, strict=True):
            _settle(write, count)

    def _add_all(self, conn: Connection, batch: list[_Write]) -> list[int]:
        return [self.add_in(conn, write.items, write.held_by) for write in batch]

    def finish_held_in(self, conn: Connection, dedupe_key: str, lease: str) -> bool:
        """Mark an item written with `held_by=lease` done, in the caller's transaction;
        False when its lease ran out and a consumer took it over."""
        return tables.finish_by_key(conn, inbox, dedupe_key, lease, _done_values())

    async def finish_held(self, dedupe_key: str, lease: str) -> bool:
        return await asyncio.to_thread(
            self._tables.write, tables.finish_by_key, inbox, dedupe_key, lease, _done_values()
        )

    async def give_back(self, dedupe_key: str, lease: str) -> None:
        """Leave an item written with `held_by=lease` to the consumers, at once."""
        await asyncio.to_thread(
            self._tables.write,
            tables.finish_by_key,
            inbox,
            dedupe_key,
            lease,
            {"lease_owner": None, "lease_until": None},
        )

    # -- consuming ----------------------------------------------------------------------

    async def claim(
        self, consumer: str, limit: int, kinds: Sequence[str] | None = None
    ) -> list[InboxItem]:
        """Each customer's oldest pending item (of these kinds), leased to `consumer`."""
        return await asyncio.to_thread(self._claim, consumer, limit, kinds)

    def _claim(self, consumer: str, limit: int, kinds: Sequence[str] | None) -> list[InboxItem]:
        lease = self.lease_for(consumer)
        among = ("kind", kinds) if kinds is not None else None
        rows = self._tables.write(tables.claim_heads, inbox, lease, limit, self.lease, None, among)
        return [_item(row) for row in rows]

    async def renew(self, leases: list[str]) -> None:
        await asyncio.to_thread(self._tables.write, tables.renew, inbox, leases, self.lease)

    async def release(self, consumer: str) -> int:
        """Give back what `consumer` holds: at its start (a crash left leases behind) and
        at its shutdown (what it did not finish is taken at once by the next one)."""
        return await asyncio.to_thread(self._tables.write, tables.release, inbox, consumer)

    async def done(self, item: InboxItem) -> bool:
        """Mark the item handled; False when its lease was lost to another consumer."""
        return await asyncio.to_thread(self._finish, item, _done_values())

    async def done_with(
        self, item: InboxItem, work: Callable[[Connection], T]
    ) -> tuple[bool, T | None]:
        """Mark the item handled and do `work(conn)` in the same transaction, as long as
        the item is still this holder's: (True, what `work` returned), or (False, None)
        when its lease was lost to another consumer (which redoes the item). A turn's
        replies are recorded so: never one without the other."""
        return await asyncio.to_thread(self._tables.write, _done_with, item, work)

    async def failed(self, item: InboxItem, error: str) -> bool:
        """Count a failed attempt; returns True when the item is now parked."""
        attempts = item.attempts + 1
        if attempts >= self.max_attempts:
            values = {"status": PARKED, "finished_at": utcnow()}
        else:
            delay = tables.retry_delay(attempts, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS)
            values = {"lease_until": utcnow() + delay}
        values |= {"attempts": attempts, "last_error": error[:2000], "lease_owner": None}
        updated = await asyncio.to_thread(self._finish, item, values)
        return updated and attempts >= self.max_attempts

    def _finish(self, item: InboxItem, values: dict[str, Any]) -> bool:
        return self._tables.write(tables.finish_leased, inbox, item.id, item.lease, values)

    # -- operations ---------------------------------------------------------------------

    async def stats(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._tables.read, tables.stats, inbox, PARKED)

    async def parked(self, limit: int = 100) -> list[ParkedItem]:
        return await asyncio.to_thread(self._tables.read, _parked, limit)

    async def retry(self, ids: Sequence[int] | None = None) -> int:
        """Put parked items (all, or these ids) back in the queue with fresh attempts."""
        fresh = {"attempts": 0, "finished_at": None}
        return await asyncio.to_thread(
            self._tables.write, tables.requeue, inbox, PARKED, ids, fresh
        )

    async def purge(self, older_than: timedelta = KEEP_DONE) -> int:
        return await asyncio.to_thread(self._tables.write, _purge, older_than)


def _done_with(
    conn: Connection, item: InboxItem, work: Callable[[Connection], T]
) -> tuple[bool, T | None]:
    if not tables.finish_leased(conn, inbox, item.id, item.lease, _done_values()):
        return False, None
    return True, work(conn)


def _done_values() -> dict[str, Any]:
    return {"status": DONE, "finished_at": utcnow(), "lease_owner": None}


def _item(row: Any) -> InboxItem:
    return InboxItem(
        id=row["id"],
        kind=row["kind"],
        customer_id=row["customer_id"],
        dedupe_key=row["dedupe_key"],
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
        claims=row["claims"],
        received_at=row["received_at"],
        lease=row["lease_owner"],
    )


def _parked(conn: Connection, limit: int) -> list[ParkedItem]:
    query = sa.select(inbox).where(inbox.c.status == PARKED).order_by(inbox.c.id).limit(limit)
    return [
        ParkedItem(
            row["id"],
            row["kind"],
            row["customer_id"],
            row["dedupe_key"],
            row["attempts"],
            row["last_error"],
            row["received_at"],
        )
        for row in conn.execute(query).mappings()
    ]


def _purge(conn: Connection, older_than: timedelta) -> int:
    query = inbox.delete().where(inbox.c.status == DONE)
    return conn.execute(query.where(inbox.c.finished_at < utcnow() - older_than)).rowcount
