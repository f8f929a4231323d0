"""Sends the outbox: each customer's messages in order, each marked sent once the
channel's service accepted it, with the ids it returned.

A message that fails for a reason that may pass (Meta down, rate limits) is retried
with growing delays; one refused for good (a closed 24-hour window, a blocked number)
is given up on and counted, unless it carries an approved template for a closed window:
then the template goes in its place. Sending a payment confirmation is what records it
on the order: the fact "confirmation sent" has this one writer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from channels.delivery import DeliveryFailed, OutputResolver, ReportingOutputChannel
from durable.outbox import (
    SEND_LEASE,
    FallbackTemplate,
    Outbox,
    OutgoingMessage,
    without_fallback,
)
from orders.store import OrderStore

logger = logging.getLogger(__name__)

BATCH = 32
# A claim older than this is renewed before its next message (see SEND_LEASE).
RENEW_AFTER_SECONDS = SEND_LEASE.total_seconds() / 4
POLL_SECONDS = 1.0
PURGE_EVERY_SECONDS = 3600.0


class OutboxSender:
    def __init__(
        self,
        outbox: Outbox,
        outputs: OutputResolver,
        store: OrderStore,
        name: str,
        poll_seconds: float = POLL_SECONDS,
        channels: Callable[[], list[str]] | None = None,
    ) -> None:
        self.outbox = outbox
        self.outputs = outputs
        # The channels this process can push to (None: any): a process without a
        # customer's channel must leave that customer's messages to one that has it.
        self.channels = channels
        self.store = store
        self.name = name
        self.poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._flushes: set[asyncio.Task[None]] = set()
        # Customers this process is sending to right now, and those asked for meanwhile.
        self._busy: Counter[str] = Counter()
        self._again: set[str] = set()
        self._stopping = False

    async def flush(self, customer_id: str | None = None) -> None:
        """Send what is due now (one customer's, or everyone's), oldest first."""
        while True:
            channels = self.channels() if self.channels is not None else None
            rows = await self.outbox.claim(self.name, BATCH, customer_id, channels)
            if not rows:
                return
            by_customer: dict[str, list[OutgoingMessage]] = {}
            for row in rows:
                by_customer.setdefault(row.customer_id, []).append(row)
            await asyncio.gather(*(self._send_in_order(queue) for queue in by_customer.values()))

    async def _send_in_order(self, rows: list[OutgoingMessage]) -> None:
        renewed_at = time.monotonic()
        for index, row in enumerate(rows):
            if time.monotonic() - renewed_at > RENEW_AFTER_SECONDS:
                # Slow sends (Meta retrying): keep the rest of the claim, or leave all of
                # it to the sender that took part of it over; never send a message twice.
                if not await self.outbox.renew(rows[index:]):
                    logger.warning(
                        "Outbox: %s's messages were taken over while earlier ones were "
                        "being sent", row.customer_id,
                    )
                    await self.outbox.release_unsent(rows[index:])
                    return
                renewed_at = time.monotonic()
            if not await self._send(row):
                await self.outbox.release_unsent(rows[index + 1 :])
                return

    def queue_in(
        self,
        conn: Connection,
        customer_id: str,
        channel: str,
        source: str,
        messages: Sequence[dict[str, Any]],
    ) -> list[OutgoingMessage]:
        """Record `messages` in the caller's transaction and claim the customer's unsent
        messages for this sender there too (`Outbox.queue_in`): hand what it returns to
        `send_claimed` once the transaction is committed."""
        channels = self.channels() if self.channels is not None else None
        lease = Outbox.lease_for(self.name)
        return self.outbox.queue_in(
            conn, customer_id, channel, source, messages, lease, BATCH, channels
        )

    def send_claimed(self, customer_id: str, rows: list[OutgoingMessage]) -> None:
        """Start sending messages claimed in `queue_in` without waiting for it; with
        none claimed (another sender holds the customer's earlier ones), look again."""
        self._for_customer(customer_id, rows or None)

    def flush_soon(self, customer_id: str) -> None:
        """Start sending a customer's messages without waiting for it."""
        self._for_customer(customer_id, None)

    def _for_customer(self, customer_id: str, claimed: list[OutgoingMessage] | None) -> None:
        if claimed is None and self._busy[customer_id]:
            # This process is sending to them: it looks again when it is done.
            self._again.add(customer_id)
            return
        self._busy[customer_id] += 1
        task = asyncio.create_task(self._send_to(customer_id, claimed))
        self._flushes.add(task)
        task.add_done_callback(self._flushes.discard)

    async def _send_to(self, customer_id: str, claimed: list[OutgoingMessage] | None) -> None:
        try:
            if claimed:
                await self._send_in_order(claimed)
                if len(claimed) >= BATCH:
                    self._again.add(customer_id)  # more may wait behind a full claim
            else:
                await self.flush(customer_id)
            while customer_id in self._again:
                self._again.discard(customer_id)
                await self.flush(customer_id)
        except Exception:
            logger.exception("Outbox: sending to %s failed; the next sweep retries", customer_id)
        finally:
            self._busy[customer_id] -= 1
            if not self._busy[customer_id]:
                del self._busy[customer_id]

    async def _flush_all(self) -> None:
        try:
            await self.flush()
        except Exception:
            logger.exception("Outbox: sending failed; the next sweep retries")

    def can_send(self, channel: str | None) -> bool:
        """Whether messages on `channel` can be pushed from here (not: rasa shell, REST)."""
        allowed = self.channels is None or channel in self.channels()
        return allowed and isinstance(self.outputs(channel), ReportingOutputChannel)

    async def _send(self, row: OutgoingMessage) -> bool:
        """Send one message; whether it went out (and was recorded as sent)."""
        output = self.outputs(row.channel)
        if not isinstance(output, ReportingOutputChannel):
            # Not claimable here in a server (see `channels`); a sender without that
            # filter (tests) logs the message, as nobody can push it.
            logger.info("Message for %s (no push channel): %s", row.customer_id, row.message)
            return await self._sent(row, [])
        message, fallback = without_fallback(row.message)
        try:
            ids = await output.deliver(row.customer_id, message, skip=row.parts_sent)
        except DeliveryFailed as exc:
            # Only a message none of whose parts went out is replaced by its template:
            # the recipient gets one or the other, never both.
            untouched = row.parts_sent == 0 and not exc.message_ids
            if exc.window_closed and fallback is not None and untouched:
                return await self._send_template(row, output, fallback, exc)
            return await self._failed(row, exc)
        return await self._sent(row, ids)

    async def _send_template(
        self,
        row: OutgoingMessage,
        output: ReportingOutputChannel,
        fallback: FallbackTemplate,
        refused: DeliveryFailed,
    ) -> bool:
        """Send the row's template in its place, recorded on the same row."""
        if fallback.name is None:
            reason = fallback.advice(str(refused))
            return await self._failed(row, DeliveryFailed(reason, permanent=True))
        try:
            ids = await output.deliver(row.customer_id, fallback.response())
        except DeliveryFailed as exc:
            reason = (
                f"outside the 24-hour window, and the template {fallback.name!r} "
                f"({fallback.setting}) was not sent either: {exc}"
            )
            failure = DeliveryFailed(reason, permanent=exc.permanent, message_ids=exc.message_ids)
            return await self._failed(row, failure)
        logger.info(
            "Outbox message %s to %s: outside the 24-hour window, sent as template %r",
            row.id, row.customer_id, fallback.name,
        )
        return await self._sent(row, ids, fallback=True)

    async def _failed(self, row: OutgoingMessage, exc: DeliveryFailed) -> bool:
        gave_up = await self.outbox.failed(row, str(exc), exc.permanent, exc.message_ids)
        if gave_up:
            logger.error("Outbox message %s to %s given up: %s", row.id, row.customer_id, exc)
        else:
            logger.warning(
                "Outbox message %s to %s not sent yet (attempt %d): %s",
                row.id,
                row.customer_id,
                row.attempts + 1,
                exc,
            )
        return False

    async def _sent(self, row: OutgoingMessage, ids: list[str], fallback: bool = False) -> bool:
        if not await self.outbox.sent(row, ids, fallback):
            logger.warning("Outbox message %s was taken over while it was being sent", row.id)
            return False
        if row.confirms_order is not None:
            await self.store.mark_confirmation_sent(row.confirms_order)
        return True

    def wake(self) -> None:
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._sweep())

    async def stop(self, grace: float) -> None:
        """Finish the sends under way (within `grace`), then give back the rest."""
        self._stopping = True
        self._wake.set()
        pending = [task for task in (self._task, *self._flushes) if task is not None]
        if pending:
            _, unfinished = await asyncio.wait(pending, timeout=grace)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
        await self._release()

    async def _purge(self) -> None:
        try:
            await self.outbox.purge()
        except Exception:
            logger.exception("Outbox: forgetting old sent messages failed")

    async def _release(self) -> None:
        try:
            await self.outbox.release(self.name)
        except Exception:
            # The database is away: the leases run out by themselves.
            logger.exception("Outbox: could not give back this sender's leases")

    async def _sweep(self) -> None:
        """Retries and takeovers: what no turn is flushing right now."""
        await self._release()
        purged_at = time.monotonic()
        while not self._stopping:
            await self._flush_all()
            if time.monotonic() - purged_at > PURGE_EVERY_SECONDS:
                purged_at = time.monotonic()
                await self._purge()
            self._wake.clear()
            try:
                await asyncio.wait_for(self._wake.wait(), self.poll_seconds)
            except asyncio.TimeoutError:
                pass
