"""Feeds the inbox to its handlers: in order per customer, many customers at once.

A handler that returns has finished the item (the bot's turn is saved and its replies
are in the outbox), and the consumer marks it done, unless the handler says it did so
itself (True: in the transaction that recorded its replies, `Inbox.done_with`). One
that raises, or outlasts the turn timeout, has failed it, and
the inbox retries it later or parks it (a hung turn would otherwise hold its customer,
its lease renewed, for ever). On start the consumer takes back what its previous run
left leased (a crash, a kill -9). On stop (the server no longer takes requests) it goes
on with acknowledged work, what it holds and what is pending, for a grace period:
on one server a customer is then answered before the restart, not after it. Then it
cancels what is in flight and gives it back.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable

from durable.inbox import Inbox, InboxItem

logger = logging.getLogger(__name__)

# Returns True when it marked the item done itself; None or False leaves that to the consumer.
Handler = Callable[[InboxItem], Awaitable[bool | None]]

DEFAULT_CONCURRENCY = 16
# The fallback when nobody wakes the consumer (another process wrote the item and its
# wake-up call was lost): the most an item waits.
POLL_SECONDS = 0.5
PURGE_EVERY_SECONDS = 3600.0
# A turn calls the action server, which calls Razorpay or Shopify, each with its own
# timeouts of seconds; one still running after this is stuck.
DEFAULT_TURN_TIMEOUT_SECONDS = 120.0


def turn_timeout_seconds() -> float:
    raw = os.environ.get("INBOX_TURN_TIMEOUT_SECONDS", "")
    return float(raw) if raw.strip() else DEFAULT_TURN_TIMEOUT_SECONDS


class TurnTimeout(Exception):
    """An item's handler ran longer than the turn timeout."""


class InboxConsumer:
    def __init__(
        self,
        inbox: Inbox,
        name: str,
        concurrency: int = DEFAULT_CONCURRENCY,
        poll_seconds: float = POLL_SECONDS,
        ready: Callable[[], bool] = lambda: True,
        turn_timeout: float | None = None,
    ) -> None:
        self.inbox = inbox
        self.turn_timeout = turn_timeout if turn_timeout is not None else turn_timeout_seconds()
        self.name = name
        self.ready = ready
        self.concurrency = concurrency
        self.poll_seconds = poll_seconds
        self._handlers: dict[str, Handler] = {}
        self._without_model: set[str] = set()
        self._wake = asyncio.Event()
        self._in_flight: dict[asyncio.Task[None], InboxItem] = {}
        self._stopping = False
        self._drain_until = 0.0
        self._task: asyncio.Task[None] | None = None

    def handle(self, kind: str, handler: Handler, needs_ready: bool = True) -> None:
        """Hand items of `kind` to `handler`; with `needs_ready` False, also before
        `ready()` (a payment event needs the order store, not the model)."""
        self._handlers[kind] = handler
        if not needs_ready:
            self._without_model.add(kind)

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def wake(self) -> None:
        self._wake.set()

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run())

    async def stop(self, grace: float) -> None:
        """Finish acknowledged work (held and pending) for up to `grace` seconds; give
        back what is still unfinished then."""
        self._drain_until = time.monotonic() + grace
        self._stopping = True
        self._wake.set()
        if self._task is not None and not self._task.done():
            try:
                await asyncio.wait_for(asyncio.shield(self._task), grace)
            except asyncio.TimeoutError:
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        for task in list(self._in_flight):
            task.cancel()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)
        released = await self._release()
        if released:
            logger.info("Inbox: %d unfinished item(s) given back for the next consumer", released)

    async def _run(self) -> None:
        released = await self._release()
        if released:
            logger.warning("Inbox: took back %d item(s) a previous run left unfinished", released)
        renewing = asyncio.create_task(self._renew_leases())
        try:
            while True:
                self._wake.clear()
                free = self.concurrency - len(self._in_flight)
                kinds = self.kinds if self.ready() else sorted(self._without_model)
                items = await self._claim(free, kinds) if free > 0 and kinds else []
                for item in items:
                    task = asyncio.create_task(self._handle(item))
                    self._in_flight[task] = item
                    task.add_done_callback(self._finished)
                if self._stopping and not items:
                    if not self._in_flight or time.monotonic() >= self._drain_until:
                        break
                if len(items) < free or free <= 0:
                    # Nothing more to take now: sleep until woken or the poll comes round.
                    try:
                        await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
                    except asyncio.TimeoutError:
                        pass
        finally:
            renewing.cancel()

    async def _release(self) -> int:
        try:
            return await self.inbox.release(self.name)
        except Exception:
            # The database is away: the leases run out by themselves.
            logger.exception("Inbox: could not give back this consumer's leases")
            return 0

    async def _claim(self, limit: int, kinds: list[str]) -> list[InboxItem]:
        try:
            # Only what this process can handle: a front door leaves messages to Rasa.
            return await self.inbox.claim(self.name, limit, kinds)
        except Exception:
            # The database is away for a moment: keep the loop, try again at the next poll.
            logger.exception("Inbox: claiming failed")
            return []

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.pop(task, None)
        self._wake.set()  # a slot is free, and this customer may have more

    async def _handle(self, item: InboxItem) -> None:
        handler = self._handlers.get(item.kind)
        try:
            if handler is None:
                raise LookupError(f"no handler for inbox items of kind {item.kind!r}")
            try:
                finished = await asyncio.wait_for(handler(item), self.turn_timeout)
            except asyncio.TimeoutError:
                raise TurnTimeout(
                    f"not finished after {self.turn_timeout:g} s (INBOX_TURN_TIMEOUT_SECONDS)"
                ) from None
        except asyncio.CancelledError:
            raise  # shutting down: the lease is given back, the item stays pending
        except Exception as exc:
            parked = await self.inbox.failed(item, f"{type(exc).__name__}: {exc}")
            log = logger.error if parked else logger.warning
            log(
                "Inbox item %s (%s from %s) failed%s: %s",
                item.id,
                item.kind,
                item.customer_id,
                ", parked" if parked else "; retried later",
                exc,
                exc_info=parked,
            )
            return
        if not finished and not await self.inbox.done(item):
            logger.warning("Inbox item %s was taken over before it was marked done", item.id)

    async def _renew_leases(self) -> None:
        """Keeps the leases of long turns alive, and the done items' history bounded."""
        purged_at = time.monotonic()
        while True:
            await asyncio.sleep(self.inbox.lease.total_seconds() / 3)
            try:
                await self.inbox.renew([item.lease for item in self._in_flight.values()])
                if time.monotonic() - purged_at > PURGE_EVERY_SECONDS:
                    purged_at = time.monotonic()
                    await self.inbox.purge()
            except Exception:
                logger.exception("Inbox: renewing leases failed")
