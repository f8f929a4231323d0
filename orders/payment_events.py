"""Applying Razorpay payment events to orders: the one code path for webhooks and reconciling.

Each event is applied in one transaction of the order store, together with the record
of its id (a repeated delivery stops there). Razorpay delivers at least once and in any
order, so every step is a compare-and-set on the forward-only status machine: a paid
order never moves back. This module decides what an event means for the order and
whether the customer is to be told; the store does the reading and writing.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from sqlalchemy.engine import Connection

from gateways.razorpay_payloads import (
    PayloadError,
    PaymentLink,
    RazorpayOrder,
    RazorpayPayment,
    clean_text,
    storable,
)
from orders.store import (
    PAYABLE_STATUSES,
    Order,
    OrderStatus,
    OrderStore,
    OrderTransaction,
    Payment,
    PaymentStatus,
    utcnow,
)

logger = logging.getLogger(__name__)


# Seconds since 1970 up to the year 5000: later is not a time, and would overflow.
MAX_TIMESTAMP = 95_617_584_000
# The webhook_events columns: an event's id and name are kept at most this long.
MAX_EVENT_ID = 80
MAX_EVENT_NAME = 64


class EventParseError(ValueError):
    """The body is JSON but not a Razorpay event: the webhook answers 400, writes nothing.

    Only the shape is refused here (no event name, a payload or entity that is not an
    object). A body of that shape whose contents we cannot use (an amount out of
    range, an id of the wrong type, a name we do not know) parses, with those fields
    read as absent or unreadable (gateways.razorpay_payloads), and is applied: it is
    answered 2xx and recorded in webhook_events with its outcome (ignored,
    unknown_order, unchanged or flagged), so that Razorpay stops retrying it."""


class Outcome(str, enum.Enum):
    PAID = "paid"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    FLAGGED = "flagged"  # amount, currency or a partial payment a human must look at
    UNCHANGED = "unchanged"  # valid, but the order is already past it
    DUPLICATE = "duplicate"  # this event id was applied before
    UNKNOWN_ORDER = "unknown_order"
    IGNORED = "ignored"  # an event type this product does not act on


# What the customer is told, as the external intent injected into their conversation.
# A flagged payment goes through the failed path: its action sees the flag and says
# that we are checking, so no extra intent is needed for it.
NOTIFY_INTENTS: dict[Outcome, str] = {
    Outcome.PAID: "EXTERNAL_payment_received",
    Outcome.FAILED: "EXTERNAL_payment_failed",
    Outcome.FLAGGED: "EXTERNAL_payment_failed",
    Outcome.EXPIRED: "EXTERNAL_payment_link_expired",
    Outcome.CANCELLED: "EXTERNAL_payment_link_expired",
}


@dataclass(frozen=True)
class PaymentEvent:
    event_id: str
    name: str
    link: PaymentLink | None = None
    payment: RazorpayPayment | None = None
    razorpay_order: RazorpayOrder | None = None
    created_at: int | None = None

    @classmethod
    def from_body(cls, event_id: str, body: Any) -> PaymentEvent:
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise EventParseError("not a Razorpay event: no 'event' name")
        payload = body.get("payload", {})
        if not isinstance(payload, dict):
            raise EventParseError("'payload' is not an object")
        created_at = body.get("created_at")
        if (
            not isinstance(created_at, int)
            or isinstance(created_at, bool)
            or not 0 <= created_at < MAX_TIMESTAMP
        ):
            created_at = None
        try:
            return cls(
                event_id=_storable_id(event_id),
                # An unknown name is ignored (2xx); kept as the column takes it.
                name=clean_text(body["event"], MAX_EVENT_NAME),
                link=PaymentLink.from_event(_entity(payload, "payment_link")),
                payment=RazorpayPayment.from_event(_entity(payload, "payment")),
                razorpay_order=RazorpayOrder.from_event(_entity(payload, "order")),
                created_at=created_at,
            )
        except PayloadError as exc:
            raise EventParseError(str(exc)) from exc

    @property
    def reference(self) -> str | None:
        # order.paid carries the link's reference as the Razorpay order's receipt.
        link_reference = self.link.reference_id if self.link else None
        receipt = self.razorpay_order.receipt if self.razorpay_order else None
        return link_reference or receipt or None

    @property
    def noted_order_number(self) -> int | None:
        for entity in (self.link, self.payment, self.razorpay_order):
            if entity is not None and entity.noted_order_number is not None:
                return entity.noted_order_number
        return None


def _storable_id(event_id: str) -> str:
    """The event id as webhook_events keeps it. Sanic reads a header's non-UTF-8 bytes as
    lone surrogates, which no database takes: such an id is kept as a digest of it."""
    event_id = event_id[:MAX_EVENT_ID]
    if storable(event_id):
        return event_id
    return "sha256:" + hashlib.sha256(event_id.encode("utf-8", "surrogatepass")).hexdigest()


def _entity(payload: dict[str, Any], name: str) -> Any:
    wrapper = payload.get(name)
    return wrapper.get("entity") if isinstance(wrapper, dict) else None


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    order_number: int | None = None
    customer_id: str | None = None

    @property
    def notify_intent(self) -> str | None:
        return NOTIFY_INTENTS.get(self.outcome)

    @property
    def outcome_label(self) -> str:
        return self.outcome.value


async def apply_event(
    store: OrderStore,
    event: PaymentEvent,
    then: Callable[[Connection, Applied], None] | None = None,
) -> Applied:
    """Apply `event` once; safe to call concurrently with the same or related events.

    `then` runs in the same transaction (the webhook route queues the customer's notice
    there, so that an applied event is never left without one)."""
    applied = await store.apply_event_once(
        event.event_id, event.name, lambda book: _decide(book, event), then
    )
    if applied is None:
        return Applied(Outcome.DUPLICATE)
    logger.info(
        "Razorpay event %s (%s) for order %s: %s",
        event.event_id,
        event.name,
        applied.order_number,
        applied.outcome.value,
    )
    return applied


def _decide(book: OrderTransaction, event: PaymentEvent) -> Applied:
    handler = HANDLERS.get(event.name)
    if handler is None:
        return Applied(Outcome.IGNORED)
    order = _find_order(book, event)
    if order is None:
        logger.warning(
            "Razorpay event %s (%s) names no known order (reference %r)",
            event.event_id,
            event.name,
            event.reference,
        )
        return Applied(Outcome.UNKNOWN_ORDER)
    return Applied(handler(book, order, event), order.number, order.customer_id)


def _find_order(book: OrderTransaction, event: PaymentEvent) -> Order | None:
    if event.reference:
        order = book.order_by_reference(event.reference)
        if order is not None:
            return order
    # An earlier attempt's link (its reference was replaced when the order reopened),
    # or payment.captured, which carries only the notes we put on the link.
    if event.noted_order_number is not None:
        return book.order(event.noted_order_number)
    return None


def _paid(book: OrderTransaction, order: Order, event: PaymentEvent) -> Outcome:
    payment = event.payment
    if payment is None or payment.id is None:
        logger.warning("Razorpay event %s (%s) has no payment id", event.event_id, event.name)
        return Outcome.UNCHANGED
    recorded = book.payment(payment.id)
    if recorded is not None and not _vouches_for(recorded, order, payment):
        # A payment id speaks only as it was first recorded: a later event cannot move it
        # to another order, change its amount or currency, or clear its flag.
        logger.warning(
            "Razorpay event %s (%s) reports payment %s unlike its record for order #%s",
            event.event_id,
            event.name,
            payment.id,
            recorded.order_number,
        )
        return Outcome.UNCHANGED
    if recorded is None:
        _record_payment(book, order, event, payment, PaymentStatus.CAPTURED)
    if payment.amount != order.total or payment.currency != order.currency:
        _flag(
            book,
            order.number,
            f"payment {payment.id} of {payment.amount} {payment.currency} does not match the "
            f"order total {order.total} {order.currency}",
        )
        book.set_payment_status(payment.id, PaymentStatus.FLAGGED)
        return Outcome.FLAGGED
    newly_captured = recorded is None or recorded.status is PaymentStatus.FAILED
    if recorded is not None and recorded.status is PaymentStatus.FAILED:
        # Razorpay's late authorisation: a payment reported failed can still be captured.
        book.set_payment_status(payment.id, PaymentStatus.CAPTURED)
    moved = book.transition(
        order.number,
        OrderStatus.PAID,
        payment_id=payment.id,
        paid_at=utcnow(),
        payment_link_status="paid",
    )
    if moved:
        return Outcome.PAID
    if newly_captured and order.status is OrderStatus.PAID and order.payment_id not in (
        None,
        payment.id,
    ):
        # The customer paid twice (an old link and a new one): money to give back.
        _flag(book, order.number, f"second payment {payment.id} for a paid order: refund it")
    return Outcome.UNCHANGED


def _vouches_for(recorded: Payment, order: Order, payment: RazorpayPayment) -> bool:
    """Whether a payment recorded earlier can pay `order` as `payment` now reports it."""
    return (
        recorded.order_number == order.number
        and recorded.status in (PaymentStatus.CAPTURED, PaymentStatus.FAILED)
        and (recorded.amount, recorded.currency) == (order.total, order.currency)
        and (payment.amount, payment.currency) == (order.total, order.currency)
    )


def _failed(book: OrderTransaction, order: Order, event: PaymentEvent) -> Outcome:
    payment = event.payment
    if payment is None or payment.id is None:
        return Outcome.UNCHANGED
    if _record_payment(book, order, event, payment, PaymentStatus.FAILED):
        return Outcome.UNCHANGED
    if order.status not in PAYABLE_STATUSES:
        return Outcome.UNCHANGED
    # From pending this moves to payment_failed; a second failed try finds it there.
    # Either way the customer hears about this attempt, and the link stays payable.
    book.transition(order.number, OrderStatus.PAYMENT_FAILED)
    return Outcome.FAILED


def _partially_paid(book: OrderTransaction, order: Order, event: PaymentEvent) -> Outcome:
    # Links are created with accept_partial false: a partial payment is an anomaly.
    payment = event.payment
    if payment is not None and payment.id is not None:
        if _record_payment(book, order, event, payment, PaymentStatus.PARTIAL):
            return Outcome.UNCHANGED
    link = event.link
    _flag(
        book,
        order.number,
        f"link {link.id if link else None} partially paid: "
        f"{link.amount_paid if link else None} of {link.amount if link else None}",
    )
    return Outcome.FLAGGED


def _closed(book: OrderTransaction, order: Order, event: PaymentEvent) -> Outcome:
    # Only the order's current link speaks for it: an older link expiring after the
    # order reopened with a fresh one must not close the fresh one.
    link = event.link
    if link is None or link.id != order.payment_link_id:
        return Outcome.UNCHANGED
    new_status, outcome = CLOSING[event.name]
    moved = book.transition(order.number, new_status, payment_link_status=link.status)
    return outcome if moved else Outcome.UNCHANGED


Handler = Callable[[OrderTransaction, Order, PaymentEvent], Outcome]

# The events this product acts on, each with what it does to the order.
HANDLERS: dict[str, Handler] = {
    "payment_link.paid": _paid,
    "payment.captured": _paid,
    "order.paid": _paid,
    "payment.failed": _failed,
    "payment_link.partially_paid": _partially_paid,
    "payment_link.expired": _closed,
    "payment_link.cancelled": _closed,
}

CLOSING: dict[str, tuple[OrderStatus, Outcome]] = {
    "payment_link.expired": (OrderStatus.EXPIRED, Outcome.EXPIRED),
    "payment_link.cancelled": (OrderStatus.CANCELLED, Outcome.CANCELLED),
}


def _record_payment(
    book: OrderTransaction,
    order: Order,
    event: PaymentEvent,
    payment: RazorpayPayment,
    status: PaymentStatus,
) -> bool:
    """Record the payment unless it is known; returns whether it was known already."""
    assert payment.id is not None
    if book.payment(payment.id) is not None:
        return True
    captured = status is PaymentStatus.CAPTURED
    book.add_payment(
        Payment(
            payment_id=payment.id,
            order_number=order.number,
            amount=payment.amount,
            currency=payment.currency[:3],
            status=status,
            payment_link_id=event.link.id if event.link else None,
            method=payment.method,
            captured_at=(_timestamp(event.created_at) or utcnow()) if captured else None,
            error=payment.error_description,
        )
    )
    return False


def _flag(book: OrderTransaction, number: int, reason: str) -> None:
    logger.error("Order #%s flagged for a human: %s", number, reason)
    book.flag(number, reason)


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None
