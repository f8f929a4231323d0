"""Nothing lost: catch up with Razorpay when webhooks were missed, and confirm what was paid.

One pass:
1. fetches the link of every order still waiting for payment a few minutes after it
   was last touched, and applies what the link shows as a synthetic event through the
   same code as the webhook (`apply_event`), so the result is the same either way;
2. tells the customer about paid orders whose confirmation was never recorded (the
   send failed, or the process died between the commit and the message);
3. creates paid orders in Shopify that are not there yet, when Shopify is configured.

It runs every RECONCILE_INTERVAL_SECONDS inside the Rasa server (started by the
Razorpay channel), where it can reach conversations. With several Rasa servers (or
Sanic workers) each runs it, and a pass first takes a lock they all share
(`server.cluster_lock`): passes never overlap anywhere. `make reconcile`
(`server.reconcile_cli`) asks a server for a pass, or runs one without confirmations.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any

from gateways.razorpay import PaymentGatewayError, RazorpayGateway
from gateways.razorpay_payloads import PaymentLink, RazorpayPayment
from gateways.shopify import ShopifyClient, ShopifyError
from orders.payment_events import Applied, Outcome, PaymentEvent, apply_event
from orders.shopify_sync import sync_paid_order
from orders.store import Order, OrderStore
from server.cluster_lock import ClusterLock, LocalLock

logger = logging.getLogger(__name__)

DEFAULT_INTERVAL_SECONDS = 60.0
# A webhook normally lands within seconds; only orders quiet for longer are fetched.
PENDING_GRACE = timedelta(minutes=3)
# The webhook's own confirmation goes first; the reconciler steps in after this.
CONFIRMATION_GRACE = timedelta(minutes=1)
# WhatsApp allows free-form messages only within 24 h of the customer's last one.
CONFIRMATION_WINDOW = timedelta(hours=24)
BATCH_SIZE = 100
# A requested pass waits this long for one running in another process to end.
REQUESTED_PASS_WAIT_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 3600.0

Notify = Callable[[Applied], Awaitable[bool]]


def interval_seconds() -> float:
    raw = os.environ.get("RECONCILE_INTERVAL_SECONDS", "")
    try:
        return max(float(raw), 1.0) if raw.strip() else DEFAULT_INTERVAL_SECONDS
    except ValueError:
        logger.warning(
            "RECONCILE_INTERVAL_SECONDS=%r is not a number; using %s", raw, DEFAULT_INTERVAL_SECONDS
        )
        return DEFAULT_INTERVAL_SECONDS


def link_events(order: Order, link: PaymentLink) -> list[PaymentEvent]:
    """What a fetched link says, as the webhook events Razorpay would have sent."""
    # The link as the webhook would carry it, with the order we noted on it.
    link = replace(link, noted_order_number=order.number)

    def event(name: str, suffix: str, payment: RazorpayPayment | None = None) -> PaymentEvent:
        # Deterministic ids: a second pass over the same state is a duplicate.
        return PaymentEvent(f"reconcile:{link.id}:{suffix}", name, link, payment)

    if link.status in ("paid", "partially_paid"):
        name = "payment_link.paid" if link.status == "paid" else "payment_link.partially_paid"
        return [
            event(
                name,
                f"{link.status}:{p.payment_id}",
                RazorpayPayment(p.payment_id, p.amount, link.currency, p.method, p.status),
            )
            for p in link.payments
            if p.status == "captured"
        ] or [event(name, link.status)]
    if link.status in ("expired", "cancelled"):
        return [event(f"payment_link.{link.status}", link.status)]
    return []


@dataclass
class Backoff:
    """Per-order retry delays, doubling from the pass interval up to an hour."""

    base: float
    _next: dict[int, tuple[float, float]] = field(default_factory=dict)

    def due(self, number: int) -> bool:
        return self._next.get(number, (0.0, 0.0))[0] <= time.monotonic()

    def failed(self, number: int) -> None:
        delay = min(self._next.get(number, (0.0, self.base / 2))[1] * 2, MAX_BACKOFF_SECONDS)
        self._next[number] = (time.monotonic() + delay, delay)

    def succeeded(self, number: int) -> None:
        self._next.pop(number, None)


class PassSkipped(RuntimeError):
    """Another process held the reconciler's lock for as long as this pass could wait."""


@dataclass
class PassReport:
    fetched: int = 0
    applied: dict[str, int] = field(default_factory=dict)
    confirmations: int = 0
    awaiting_confirmation: int = 0
    shopify: int = 0

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


class Reconciler:
    def __init__(
        self,
        store: OrderStore,
        gateway: RazorpayGateway | None,
        notify: Notify | None = None,
        shopify: ShopifyClient | None = None,
        interval: float = DEFAULT_INTERVAL_SECONDS,
        lock: ClusterLock | None = None,
    ) -> None:
        self.store = store
        self.lock = lock or LocalLock()
        self.gateway = gateway
        self.notify = notify
        self.shopify = shopify
        self.interval = interval
        self._fetch_backoff = Backoff(interval)
        self._confirm_backoff = Backoff(interval)
        self._shopify_backoff = Backoff(interval)
        self._pass_lock = asyncio.Lock()

    async def run_once(self, wait: float = REQUESTED_PASS_WAIT_SECONDS) -> PassReport:
        # The periodic pass and a requested one never overlap, here or in another process.
        async with self._pass_lock, self.lock.hold(wait) as held:
            if not held:
                raise PassSkipped(
                    f"another process holds the reconciler's {self.lock.backend} lock"
                )
            report = PassReport()
            if self.gateway is not None:
                await self._catch_up(report)
            await self._confirm(report)
            if self.shopify is not None:
                await self._sync_shopify(report)
            return report

    async def run_forever(self) -> None:
        while True:
            try:
                report = await self.run_once(wait=0)
                if report.fetched or report.confirmations or report.shopify:
                    logger.info("Reconciler pass: %s", report.as_dict())
            except asyncio.CancelledError:
                raise
            except PassSkipped as exc:
                logger.debug("Reconciler pass skipped: %s", exc)
            except Exception:
                # A database or network hiccup must not end the loop for good.
                logger.exception("Reconciler pass failed; next one in %.0fs", self.interval)
            await asyncio.sleep(self.interval)

    async def _catch_up(self, report: PassReport) -> None:
        assert self.gateway is not None
        for order in await self.store.stale_pending(PENDING_GRACE, BATCH_SIZE):
            # An abandoned link is asked about less and less often (up to hourly).
            if not self._fetch_backoff.due(order.number):
                continue
            self._fetch_backoff.failed(order.number)
            try:
                link = await self.gateway.fetch_link(order.payment_link_id or "")
            except PaymentGatewayError as exc:
                logger.warning("Reconciler: link of order #%s not fetched: %s", order.number, exc)
                continue
            report.fetched += 1
            for event in link_events(order, link):
                applied = await apply_event(self.store, event)
                report.applied[applied.outcome.value] = (
                    report.applied.get(applied.outcome.value, 0) + 1
                )
                await self._tell(applied)

    async def _confirm(self, report: PassReport) -> None:
        unconfirmed = await self.store.unconfirmed_paid(
            CONFIRMATION_GRACE, CONFIRMATION_WINDOW, BATCH_SIZE
        )
        report.awaiting_confirmation = len(unconfirmed)
        if self.notify is None:
            return
        for order in unconfirmed:
            if not self._confirm_backoff.due(order.number):
                continue
            delivered = await self._tell(Applied(Outcome.PAID, order.number, order.customer_id))
            confirmed = await self.store.get(order.number)
            if delivered and confirmed is not None and confirmed.confirmation_sent_at:
                self._confirm_backoff.succeeded(order.number)
                report.confirmations += 1
            else:
                self._confirm_backoff.failed(order.number)

    async def _tell(self, applied: Applied) -> bool:
        if self.notify is None:
            return False
        try:
            return await self.notify(applied)
        except Exception:
            logger.exception(
                "Reconciler: order #%s not told about %s",
                applied.order_number,
                applied.outcome.value,
            )
            return False

    async def _sync_shopify(self, report: PassReport) -> None:
        assert self.shopify is not None
        for order in await self.store.paid_without_shopify(BATCH_SIZE):
            if not self._shopify_backoff.due(order.number):
                continue
            try:
                await sync_paid_order(self.store, self.shopify, order.number)
            except ShopifyError as exc:
                logger.warning("Shopify sync of order #%s postponed: %s", order.number, exc)
                self._shopify_backoff.failed(order.number)
                continue
            self._shopify_backoff.succeeded(order.number)
            report.shopify += 1
