"""Applying Razorpay payment events to orders: the one code path for webhooks and reconciling.

Each event is applied in one transaction: its id is recorded first (a primary key,
so a repeated delivery stops there), then the payment row and the order's status move
together. Razorpay delivers at least once and in any order, so every step is a
compare-and-set on the forward-only status machine: a paid order never moves back.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from orders.store import (
    PAYABLE_STATUSES,
    OrderStatus,
    OrderStore,
    orders,
    payments,
    transition_in,
    utcnow,
    webhook_events,
)

logger = logging.getLogger(__name__)

PAID_EVENTS = frozenset({"payment_link.paid", "payment.captured", "order.paid"})
HANDLED_EVENTS = PAID_EVENTS | {
    "payment.failed",
    "payment_link.expired",
    "payment_link.cancelled",
    "payment_link.partially_paid",
}


class EventParseError(ValueError):
    """The body is JSON but not a Razorpay event."""


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
    link: dict[str, Any] = field(default_factory=dict)
    payment: dict[str, Any] = field(default_factory=dict)
    razorpay_order: dict[str, Any] = field(default_factory=dict)
    created_at: int | None = None

    @classmethod
    def from_body(cls, event_id: str, body: Any) -> PaymentEvent:
        if not isinstance(body, dict) or not isinstance(body.get("event"), str):
            raise EventParseError("not a Razorpay event: no 'event' name")
        payload = body.get("payload", {})
        if not isinstance(payload, dict):
            raise EventParseError("'payload' is not an object")
        created_at = body.get("created_at")
        return cls(
            event_id=event_id,
            name=body["event"],
            link=_entity(payload, "payment_link"),
            payment=_entity(payload, "payment"),
            razorpay_order=_entity(payload, "order"),
            created_at=created_at if isinstance(created_at, int) else None,
        )

    @property
    def reference(self) -> str | None:
        # order.paid carries the link's reference as the Razorpay order's receipt.
        return self.link.get("reference_id") or self.razorpay_order.get("receipt") or None

    @property
    def noted_order_number(self) -> int | None:
        for entity in (self.link, self.payment, self.razorpay_order):
            notes = entity.get("notes")
            # Razorpay sends [] instead of {} for empty notes.
            if isinstance(notes, dict) and str(notes.get("order_number", "")).isdigit():
                return int(notes["order_number"])
        return None


def _entity(payload: dict[str, Any], name: str) -> dict[str, Any]:
    wrapper = payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    if entity is not None and not isinstance(entity, dict):
        raise EventParseError(f"payload.{name}.entity is not an object")
    return entity or {}


@dataclass(frozen=True)
class Applied:
    outcome: Outcome
    order_number: int | None = None
    customer_id: str | None = None

    @property
    def notify_intent(self) -> str | None:
        return NOTIFY_INTENTS.get(self.outcome)


async def apply_event(store: OrderStore, event: PaymentEvent) -> Applied:
    """Apply `event` once; safe to call concurrently with the same or related events."""
    try:
        return await asyncio.to_thread(_apply, store.engine, event)
    except IntegrityError:
        # Two different events of one payment raced to insert its row (PostgreSQL
        # lets both get that far): the loser runs again and finds the payment known.
        return await asyncio.to_thread(_apply, store.engine, event)


# SQLite has one writer at a time, and a writer that finds the database locked sleeps
# in growing steps (its busy handler) before trying again: under 50 concurrent
# deliveries those sleeps were most of the latency. Queueing this process's event
# transactions on a lock hands the database over at once instead.
_sqlite_writers: dict[int, threading.Lock] = {}


def _writer_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _sqlite_writers.setdefault(id(engine), threading.Lock())


def _apply(engine: Engine, event: PaymentEvent) -> Applied:
    # A redelivery is answered from one read, without waiting for the write lock.
    if _seen(engine, event.event_id):
        return Applied(Outcome.DUPLICATE)
    try:
        with _writer_lock(engine), engine.begin() as conn:
            applied = _decide(conn, event)
            # Recorded in the same transaction as its effects: a concurrent delivery of
            # the same event fails here (primary key), rolls back, and reads as seen.
            conn.execute(
                webhook_events.insert().values(
                    event_id=event.event_id,
                    event=event.name[:64],
                    order_number=applied.order_number,
                    outcome=applied.outcome.value,
                    received_at=utcnow(),
                )
            )
    except IntegrityError:
        if _seen(engine, event.event_id):
            return Applied(Outcome.DUPLICATE)
        raise
    logger.info(
        "Razorpay event %s (%s) for order %s: %s",
        event.event_id,
        event.name,
        applied.order_number,
        applied.outcome.value,
    )
    return applied


def _seen(engine: Engine, event_id: str) -> bool:
    with engine.connect() as conn:
        query = sa.select(webhook_events.c.event_id).where(webhook_events.c.event_id == event_id)
        return conn.execute(query).first() is not None


def _decide(conn: Connection, event: PaymentEvent) -> Applied:
    if event.name not in HANDLED_EVENTS:
        return Applied(Outcome.IGNORED)
    order = _find_order(conn, event)
    if order is None:
        logger.warning(
            "Razorpay event %s (%s) names no known order (reference %r)",
            event.event_id,
            event.name,
            event.reference,
        )
        return Applied(Outcome.UNKNOWN_ORDER)
    if event.name in PAID_EVENTS:
        outcome = _paid(conn, order, event)
    elif event.name == "payment.failed":
        outcome = _failed(conn, order, event)
    elif event.name == "payment_link.partially_paid":
        outcome = _partially_paid(conn, order, event)
    else:
        outcome = _closed(conn, order, event)
    return Applied(outcome, order["number"], order["customer_id"])


def _find_order(conn: Connection, event: PaymentEvent) -> Any:
    query = sa.select(orders)
    if event.reference:
        row = (
            conn.execute(query.where(orders.c.payment_reference == event.reference))
            .mappings()
            .first()
        )
        if row is not None:
            return row
    # An earlier attempt's link (its reference was replaced when the order reopened),
    # or payment.captured, which carries only the notes we put on the link.
    if event.noted_order_number is not None:
        return (
            conn.execute(query.where(orders.c.number == event.noted_order_number))
            .mappings()
            .first()
        )
    return None


def _paid(conn: Connection, order: Any, event: PaymentEvent) -> Outcome:
    payment = event.payment
    payment_id = payment.get("id")
    if not payment_id:
        logger.warning("Razorpay event %s (%s) has no payment id", event.event_id, event.name)
        return Outcome.UNCHANGED
    amount, currency = _amount(payment), str(payment.get("currency") or "")
    known = _record_payment(conn, order, event, status="captured")
    if amount != order["total"] or currency != order["currency"]:
        if known:
            return Outcome.UNCHANGED
        _flag(
            conn,
            order["number"],
            f"payment {payment_id} of {amount} {currency} does not match the order total "
            f"{order['total']} {order['currency']}",
        )
        _set_payment_status(conn, payment_id, "flagged")
        return Outcome.FLAGGED
    moved = transition_in(
        conn,
        order["number"],
        OrderStatus.PAID,
        payment_id=payment_id,
        paid_at=utcnow(),
        payment_link_status="paid",
    )
    if moved:
        return Outcome.PAID
    if order["status"] == OrderStatus.PAID.value and order["payment_id"] not in (None, payment_id):
        # The customer paid twice (an old link and a new one): money to give back.
        _flag(conn, order["number"], f"second payment {payment_id} for a paid order: refund it")
    return Outcome.UNCHANGED


def _failed(conn: Connection, order: Any, event: PaymentEvent) -> Outcome:
    if not event.payment.get("id"):
        return Outcome.UNCHANGED
    if _record_payment(conn, order, event, status="failed"):
        return Outcome.UNCHANGED
    if OrderStatus(order["status"]) not in PAYABLE_STATUSES:
        return Outcome.UNCHANGED
    # From pending this moves to payment_failed; a second failed try finds it there.
    # Either way the customer hears about this attempt, and the link stays payable.
    transition_in(conn, order["number"], OrderStatus.PAYMENT_FAILED)
    return Outcome.FAILED


def _partially_paid(conn: Connection, order: Any, event: PaymentEvent) -> Outcome:
    # Links are created with accept_partial false: a partial payment is an anomaly.
    if event.payment.get("id") and _record_payment(conn, order, event, status="partial"):
        return Outcome.UNCHANGED
    _flag(
        conn,
        order["number"],
        f"link {event.link.get('id')} partially paid: {event.link.get('amount_paid')} of "
        f"{event.link.get('amount')}",
    )
    return Outcome.FLAGGED


def _closed(conn: Connection, order: Any, event: PaymentEvent) -> Outcome:
    # Only the order's current link speaks for it: an older link expiring after the
    # order reopened with a fresh one must not close the fresh one.
    if event.link.get("id") != order["payment_link_id"]:
        return Outcome.UNCHANGED
    new_status, outcome = (
        (OrderStatus.EXPIRED, Outcome.EXPIRED)
        if event.name == "payment_link.expired"
        else (OrderStatus.CANCELLED, Outcome.CANCELLED)
    )
    moved = transition_in(
        conn, order["number"], new_status, payment_link_status=str(event.link.get("status") or "")
    )
    return outcome if moved else Outcome.UNCHANGED


def _record_payment(conn: Connection, order: Any, event: PaymentEvent, status: str) -> bool:
    """Insert the payment's row unless it exists; returns whether it was known already."""
    payment = event.payment
    payment_id = str(payment["id"])
    known = conn.execute(
        sa.select(payments.c.payment_id).where(payments.c.payment_id == payment_id)
    ).first()
    if known:
        return True
    conn.execute(
        payments.insert().values(
            payment_id=payment_id,
            order_id=order["id"],
            payment_link_id=event.link.get("id"),
            amount=_amount(payment),
            currency=str(payment.get("currency") or "")[:3],
            method=str(payment.get("method") or "")[:32] or None,
            status=status,
            captured_at=(_timestamp(event.created_at) or utcnow())
            if status == "captured"
            else None,
            error=payment.get("error_description"),
            created_at=utcnow(),
        )
    )
    return False


def _set_payment_status(conn: Connection, payment_id: str, status: str) -> None:
    conn.execute(payments.update().where(payments.c.payment_id == payment_id).values(status=status))


def _flag(conn: Connection, number: int, reason: str) -> None:
    logger.error("Order #%s flagged for a human: %s", number, reason)
    current = conn.execute(sa.select(orders.c.flag).where(orders.c.number == number)).scalar()
    flag = f"{current}\n{reason}" if current else reason
    conn.execute(
        orders.update().where(orders.c.number == number).values(flag=flag, updated_at=utcnow())
    )


def _amount(payment: dict[str, Any]) -> int:
    try:
        return int(payment.get("amount") or 0)
    except (TypeError, ValueError):
        return -1  # never equal to an order total: the payment gets flagged


def _timestamp(value: Any) -> datetime | None:
    return datetime.fromtimestamp(value, timezone.utc) if isinstance(value, int) else None
