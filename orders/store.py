"""The order store: orders, line items, payments, webhook events and the status machine.

This module is the only one that writes SQL against these tables (configured by a
SQLAlchemy URL, as in Rasa's financial-demo); everything else asks it and gets typed
values back. SQLAlchemy 1.4 is blocking, so every public call runs in a worker thread
and is awaited: safe to use from the action server's and Rasa's event loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import functools
import os
import random
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Protocol, TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, OperationalError

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATABASE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'orders.db'}"
# Customers see #10001, #10002...: short, human, and never a bare row id.
ORDER_NUMBER_OFFSET = 10000


class OrderStatus(str, enum.Enum):
    PENDING_PAYMENT = "pending_payment"
    PAYMENT_FAILED = "payment_failed"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


# Where each status may move. Paid is final: nothing that arrives later moves it back.
# A payment that really arrived is recorded even on a link that expired meanwhile, and
# an expired or cancelled order reopens when the customer asks for a fresh link.
TRANSITIONS: dict[OrderStatus, frozenset[OrderStatus]] = {
    OrderStatus.PENDING_PAYMENT: frozenset(
        {OrderStatus.PAID, OrderStatus.PAYMENT_FAILED, OrderStatus.EXPIRED, OrderStatus.CANCELLED}
    ),
    OrderStatus.PAYMENT_FAILED: frozenset(
        {OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED}
    ),
    OrderStatus.EXPIRED: frozenset({OrderStatus.PAID, OrderStatus.PENDING_PAYMENT}),
    OrderStatus.CANCELLED: frozenset({OrderStatus.PAID, OrderStatus.PENDING_PAYMENT}),
    OrderStatus.PAID: frozenset(),
}

PAYABLE_STATUSES = frozenset({OrderStatus.PENDING_PAYMENT, OrderStatus.PAYMENT_FAILED})


def can_transition(current: OrderStatus, new: OrderStatus) -> bool:
    return new in TRANSITIONS[current]


def sources_of(new: OrderStatus) -> list[str]:
    """Statuses from which `new` may be reached: the guard of a compare-and-set UPDATE."""
    return [status.value for status, targets in TRANSITIONS.items() if new in targets]


class OrderError(ValueError):
    """A request the store refuses: the message is safe to show or log."""


class LineLike(Protocol):
    sku: str
    name: str
    unit_price: int
    quantity: int


metadata = sa.MetaData()

orders = sa.Table(
    "orders",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("number", sa.Integer, unique=True),
    sa.Column("customer_id", sa.String(64), nullable=False, index=True),
    sa.Column("customer_name", sa.String(120), nullable=False),
    sa.Column("delivery_address", sa.Text, nullable=False),
    sa.Column("pincode", sa.String(6), nullable=False),
    sa.Column("total", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False, default="INR"),
    sa.Column("status", sa.String(20), nullable=False, index=True),
    sa.Column("payment_link_id", sa.String(64)),
    sa.Column("payment_link_url", sa.String(255)),
    sa.Column("payment_link_status", sa.String(20)),
    sa.Column("payment_reference", sa.String(40), unique=True),
    sa.Column("payment_attempt", sa.Integer, nullable=False, default=0),
    sa.Column("payment_id", sa.String(64)),
    sa.Column("paid_at", sa.DateTime(timezone=True)),
    sa.Column("confirmation_sent_at", sa.DateTime(timezone=True)),
    sa.Column("shopify_order_id", sa.String(64)),
    sa.Column("flag", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("total > 0", name="ck_orders_total_positive"),
)

order_items = sa.Table(
    "order_items",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column(
        "order_id", sa.Integer, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("sku", sa.String(64), nullable=False),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("unit_price", sa.BigInteger, nullable=False),
    sa.Column("quantity", sa.Integer, nullable=False),
    sa.CheckConstraint("quantity > 0", name="ck_order_items_quantity_positive"),
    sa.CheckConstraint("unit_price >= 0", name="ck_order_items_price"),
    sa.Index("ix_order_items_order", "order_id"),
)

# Every verified Razorpay event id, once: a delivery that comes again (or 50 times at
# once) hits the primary key and changes nothing. The reconciler's synthetic events
# use ids of their own ("reconcile:...") in the same table.
webhook_events = sa.Table(
    "webhook_events",
    metadata,
    sa.Column("event_id", sa.String(80), primary_key=True),
    sa.Column("event", sa.String(64), nullable=False),
    sa.Column("order_number", sa.Integer, index=True),
    sa.Column("outcome", sa.String(32), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
)

# One row per Razorpay payment seen (captured, failed or flagged), keyed by its id so
# that payment_link.paid, payment.captured and order.paid for it record it once.
payments = sa.Table(
    "payments",
    metadata,
    sa.Column("payment_id", sa.String(64), primary_key=True),
    sa.Column(
        "order_id", sa.Integer, sa.ForeignKey("orders.id", ondelete="CASCADE"), nullable=False
    ),
    sa.Column("payment_link_id", sa.String(64)),
    sa.Column("amount", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(3), nullable=False),
    sa.Column("method", sa.String(32)),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("captured_at", sa.DateTime(timezone=True)),
    sa.Column("error", sa.Text),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_payments_order", "order_id"),
)


@dataclass(frozen=True)
class OrderItem:
    sku: str
    name: str
    unit_price: int
    quantity: int

    @property
    def line_total(self) -> int:
        return self.unit_price * self.quantity


@dataclass(frozen=True)
class Order:
    number: int
    customer_id: str
    customer_name: str
    delivery_address: str
    pincode: str
    items: tuple[OrderItem, ...]
    total: int
    currency: str
    status: OrderStatus
    created_at: datetime
    payment_link_id: str | None = None
    payment_link_url: str | None = None
    payment_link_status: str | None = None
    payment_reference: str | None = None
    payment_attempt: int = 0
    payment_id: str | None = None
    paid_at: datetime | None = None
    confirmation_sent_at: datetime | None = None
    shopify_order_id: str | None = None
    flag: str | None = None
    updated_at: datetime | None = field(default=None, compare=False)

    @property
    def item_count(self) -> int:
        return sum(item.quantity for item in self.items)

    @property
    def is_payable(self) -> bool:
        return self.status in PAYABLE_STATUSES



class PaymentStatus(str, enum.Enum):
    CAPTURED = "captured"
    FAILED = "failed"
    PARTIAL = "partial"  # a partial payment on a link that does not accept one
    FLAGGED = "flagged"  # captured, but its amount or currency differs from the order


@dataclass(frozen=True)
class Payment:
    """One Razorpay payment seen for an order, recorded once whichever event told us."""

    payment_id: str
    order_number: int
    amount: int
    currency: str
    status: PaymentStatus
    payment_link_id: str | None = None
    method: str | None = None
    captured_at: datetime | None = None
    error: str | None = None


class RecordedEvent(Protocol):
    """What the store keeps of an applied event: which order it was about, and how it went."""

    @property
    def order_number(self) -> int | None: ...

    @property
    def outcome_label(self) -> str: ...


EventResult = TypeVar("EventResult", bound=RecordedEvent)

def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


# WAL with synchronous=NORMAL: a commit survives any process's crash (kill -9), and the
# last commits before a power cut or an OS crash may be lost. FULL syncs every commit
# to disk (one fsync each; the inbox groups its writes) and loses none of them.
SQLITE_SYNCHRONOUS_MODES = ("NORMAL", "FULL")


def sqlite_synchronous() -> str:
    """SQLITE_SYNCHRONOUS from the environment: NORMAL (the default) or FULL."""
    mode = (os.environ.get("SQLITE_SYNCHRONOUS") or "NORMAL").strip().upper()
    if mode not in SQLITE_SYNCHRONOUS_MODES:
        raise ValueError(f"SQLITE_SYNCHRONOUS must be NORMAL or FULL, not {mode!r}")
    return mode


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys. A
    statement that fails is logged without its values: they hold phone numbers,
    customers' messages and payment bodies."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        # A pool that keeps connections open: SQLAlchemy 1.4's default for SQLite files
        # (NullPool) reconnects per transaction, and closing the last connection to a
        # WAL database checkpoints it, about 1 ms of every write (webhook benchmark).
        engine = sa.create_engine(
            url,
            future=True,
            connect_args={"check_same_thread": False, "timeout": BUSY_SECONDS},
            poolclass=sa.pool.QueuePool,
            hide_parameters=True,
        )

        synchronous = sqlite_synchronous()

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, future=True, pool_pre_ping=True, hide_parameters=True)


# SQLite has one writer at a time, and a writer that finds the database locked sleeps
# in growing steps (its busy handler: 1, 2, 5, 10, 15 ... ms) before trying again.
# Under 50 concurrent webhook deliveries those sleeps were most of the latency, and
# with two processes writing (a front door and a Rasa server) every write queued
# behind the unluckiest one's sleep. So this process's write transactions take turns
# on a lock, and one that finds another process writing tries again after a fraction
# of a millisecond instead (`write_transaction`).
_sqlite_writers: dict[int, threading.Lock] = {}
BUSY_SECONDS = 30.0  # the most a write waits for another process's
_RETRY_FIRST, _RETRY_MOST = 0.0002, 0.004


def _writer_lock(engine: Engine) -> contextlib.AbstractContextManager[Any]:
    if engine.dialect.name != "sqlite":
        return contextlib.nullcontext()
    return _sqlite_writers.setdefault(id(engine), threading.Lock())


T = TypeVar("T")


def write_transaction(engine: Engine, fn: Callable[..., T], *args: Any) -> T:
    """`fn(conn, *args)` in one write transaction (blocking: run it in a worker thread).
    On SQLite `fn` may run more than once: it must change nothing outside `conn`."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            return fn(conn, *args)
    deadline = time.monotonic() + BUSY_SECONDS
    pause = _RETRY_FIRST
    with _writer_lock(engine):
        while True:
            with engine.connect() as conn:
                raw = conn.connection
                raw.execute("PRAGMA busy_timeout = 0")  # locked: told at once
                try:
                    with conn.begin():
                        return fn(conn, *args)
                except OperationalError as exc:
                    if "locked" not in str(exc.orig) or time.monotonic() > deadline:
                        raise
                finally:
                    raw.execute(f"PRAGMA busy_timeout = {int(BUSY_SECONDS * 1000)}")
            time.sleep(pause * random.uniform(0.5, 1.5))
            pause = min(pause * 2, _RETRY_MOST)


# An order's flag is notes for a human, newest last: at most this many lines of at most
# this many characters (the first line may count the notes that gave way).
MAX_FLAG_LINES = 20
MAX_FLAG_LINE_CHARS = 200
_DROPPED = re.compile(r"\((\d+) older notes? dropped[^)]*\)")


def with_flag_line(current: str | None, reason: str) -> str:
    """`current` with `reason` added as its newest line: once, and within the bounds."""
    line = " ".join(reason.split())[:MAX_FLAG_LINE_CHARS] or "flagged"
    lines = [old[:MAX_FLAG_LINE_CHARS] for old in current.split("\n")] if current else []
    dropped = 0
    counted = _DROPPED.fullmatch(lines[0]) if lines else None
    if counted:
        dropped, lines = int(counted.group(1)), lines[1:]
    if line in lines:
        return current or line
    lines.append(line)
    room = MAX_FLAG_LINES - (1 if dropped or len(lines) > MAX_FLAG_LINES else 0)
    if len(lines) > room:
        dropped += len(lines) - room
        lines = lines[-room:]
    if dropped:
        noun = "note" if dropped == 1 else "notes"
        lines.insert(0, f"({dropped} older {noun} dropped; every payment is in the payments table)")
    return "\n".join(lines)


class OrderTransaction:
    """The order store inside one transaction: what applying a payment event may read and
    change. Every change commits with the event's record, or none does."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def order_by_reference(self, reference: str) -> Order | None:
        return _one_order(self._conn, "payment_reference", reference)

    def order(self, number: int) -> Order | None:
        return _one_order(self._conn, "number", int(number))

    def payment(self, payment_id: str) -> Payment | None:
        row = self._conn.execute(_PAYMENT, {"payment_id": payment_id}).mappings().first()
        return None if row is None else _payment_from_row(row)

    def add_payment(self, payment: Payment) -> None:
        self._conn.execute(
            _ADD_PAYMENT,
            {
                "of_order": payment.order_number,
                "payment_id": payment.payment_id,
                "payment_link_id": payment.payment_link_id,
                "amount": payment.amount,
                "currency": payment.currency,
                "method": payment.method,
                "status": payment.status.value,
                "captured_at": payment.captured_at,
                "error": payment.error,
                "created_at": utcnow(),
            },
        )

    def set_payment_status(self, payment_id: str, status: PaymentStatus) -> None:
        self._conn.execute(
            payments.update()
            .where(payments.c.payment_id == payment_id)
            .values(status=status.value)
        )

    def transition(self, number: int, new_status: OrderStatus, **values: Any) -> bool:
        """The status compare-and-set (see `OrderStore.transition`) in this transaction."""
        return _transition(self._conn, number, OrderStatus(new_status), values)

    def flag(self, number: int, reason: str) -> None:
        """Add a line for a human to the order's flag (amount mismatch, refund due, ...).

        The flag stays bounded whatever arrives (signed events can repeat without end): a
        reason already there is not added again, and past MAX_FLAG_LINES the oldest lines
        give way to a count of them (every payment stays in the payments table)."""
        current = self._conn.execute(
            sa.select(orders.c.flag).where(orders.c.number == int(number))
        ).scalar()
        flag = with_flag_line(current, reason)
        if flag == current:
            return
        self._conn.execute(
            orders.update()
            .where(orders.c.number == int(number))
            .values(flag=flag, updated_at=utcnow())
        )


class OrderStore:
    """Orders in a SQL database. Every public method is a coroutine."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        metadata.create_all(self.engine)

    async def _run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    async def _write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(conn, *args)` in a write transaction, in a worker thread."""
        return await asyncio.to_thread(write_transaction, self.engine, fn, *args)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- reading ---------------------------------------------------------------

    async def get(self, number: int) -> Order | None:
        return await self._run(self._one, "number", int(number), False)

    async def latest_for_customer(self, customer_id: str) -> Order | None:
        return await self._run(self._one, "customer_id", customer_id, True)

    async def find_by_reference(self, reference: str) -> Order | None:
        return await self._run(self._one, "payment_reference", reference, False)

    async def stale_pending(self, quiet_for: timedelta, limit: int) -> list[Order]:
        """Payable orders with a link, untouched for `quiet_for`: oldest first."""
        where = [
            orders.c.status.in_([status.value for status in PAYABLE_STATUSES]),
            orders.c.payment_link_id.isnot(None),
            orders.c.updated_at < utcnow() - quiet_for,
        ]
        return await self._select(where, [orders.c.updated_at, orders.c.id], limit)

    async def unconfirmed_paid(
        self, paid_before: timedelta, paid_within: timedelta, limit: int
    ) -> list[Order]:
        """Paid orders whose confirmation was never recorded, paid more than `paid_before`
        and less than `paid_within` ago: oldest payment first."""
        now = utcnow()
        where = [
            orders.c.status == OrderStatus.PAID.value,
            orders.c.confirmation_sent_at.is_(None),
            orders.c.paid_at < now - paid_before,
            orders.c.paid_at > now - paid_within,
        ]
        return await self._select(where, [orders.c.paid_at, orders.c.id], limit)

    async def paid_without_shopify(self, limit: int) -> list[Order]:
        """Paid orders not yet created in Shopify: oldest payment first."""
        where = [orders.c.status == OrderStatus.PAID.value, orders.c.shopify_order_id.is_(None)]
        return await self._select(where, [orders.c.paid_at, orders.c.id], limit)

    async def payments_of(self, number: int) -> list[Payment]:
        """Every payment recorded for the order, in the order they were recorded."""
        query = (
            sa.select(payments, orders.c.number)
            .join(orders, orders.c.id == payments.c.order_id)
            .where(orders.c.number == int(number))
            .order_by(payments.c.created_at, payments.c.payment_id)
        )
        return await self._run(self._payments, query)

    async def event_outcome(self, event_id: str) -> str | None:
        """How an event id was applied, or None when it was never recorded."""
        return await self._run(self._event_outcome, event_id)

    def _one(self, column: str, value: Any, newest: bool) -> Order | None:
        with self.engine.connect() as conn:
            return _one_order(conn, column, value, newest)

    async def _select(
        self, where: Sequence[Any], order_by: Sequence[Any], limit: int | None
    ) -> list[Order]:
        return await self._run(self._select_now, where, order_by, limit)

    def _select_now(
        self, where: Sequence[Any], order_by: Sequence[Any], limit: int | None
    ) -> list[Order]:
        with self.engine.connect() as conn:
            return _select_orders(conn, where, order_by, limit)

    def _payments(self, query: sa.sql.Select) -> list[Payment]:
        with self.engine.connect() as conn:
            return [_payment_from_row(row) for row in conn.execute(query).mappings()]

    def _event_outcome(self, event_id: str) -> str | None:
        with self.engine.connect() as conn:
            return conn.execute(_EVENT_OUTCOME, {"event_id": event_id}).scalar()

    # -- writing ---------------------------------------------------------------

    async def create_order(
        self,
        customer_id: str,
        customer_name: str,
        delivery_address: str,
        pincode: str,
        lines: Sequence[LineLike],
    ) -> Order:
        """Write a new order with status pending_payment; the total is summed here."""
        items = [
            OrderItem(line.sku, line.name, int(line.unit_price), int(line.quantity))
            for line in lines
        ]
        if not items:
            raise OrderError("An order needs at least one item.")
        if any(item.quantity <= 0 or item.unit_price < 0 for item in items):
            raise OrderError("Every item needs a positive quantity and a price.")
        if not (customer_id and customer_name and delivery_address and pincode):
            raise OrderError("Customer, name, address and PIN code are required.")
        return await self._write(
            _create_order,
            customer_id,
            customer_name,
            delivery_address,
            pincode,
            items,
        )

    async def transition(self, number: int, new_status: OrderStatus, **values: Any) -> bool:
        """Move an order to `new_status` if the machine allows it from where it is now.

        A compare-and-set: concurrent callers cannot both win, and a refused move
        changes nothing. Returns whether this call moved the order.
        """
        return await self._write(_transition, number, OrderStatus(new_status), values)

    async def update(self, number: int, **values: Any) -> None:
        """Set plain columns (link, flags, timestamps); never the status."""
        if "status" in values:
            raise OrderError("Use transition() to change an order's status.")
        await self._write(_update, number, values)

    async def mark_confirmation_sent(self, number: int) -> bool:
        """Record that the payment confirmation went out; False when it was recorded before.

        Called by the one component that sends confirmations, after the channel
        accepted the message.
        """
        return await self._write(_mark_confirmation_sent, number)

    # -- payment events --------------------------------------------------------

    async def apply_event_once(
        self,
        event_id: str,
        event_name: str,
        apply: Callable[[OrderTransaction], EventResult],
        then: Callable[[Connection, EventResult], None] | None = None,
    ) -> EventResult | None:
        """Run `apply` and record the event id in one transaction, once per event id.

        Returns what `apply` returned, or None when the id was recorded before: a
        redelivery, or a concurrent delivery of the same event that committed first.
        `apply` may run in a transaction that is then rolled back (a concurrent
        delivery won), so it must change nothing outside the transaction it is given.
        `then` runs in the same transaction with its connection and `apply`'s result,
        for a record another owner keeps with the event (the inbox's notice).
        """
        args = (event_id, event_name, apply, then)
        try:
            return await self._run(self._apply_event_once, *args)
        except IntegrityError:
            # Two different events of one payment raced to insert its row (PostgreSQL
            # lets both get that far): the loser runs again and finds the payment known.
            return await self._run(self._apply_event_once, *args)

    def _apply_event_once(
        self,
        event_id: str,
        event_name: str,
        apply: Callable[[OrderTransaction], EventResult],
        then: Callable[[Connection, EventResult], None] | None,
    ) -> EventResult | None:
        # A redelivery is answered from one read, without waiting for the write lock.
        if self._event_outcome(event_id) is not None:
            return None
        try:
            return write_transaction(
                self.engine, _apply_and_record, event_id, event_name, apply, then
            )
        except IntegrityError:
            if self._event_outcome(event_id) is not None:
                return None
            raise


def _create_order(
    conn: Connection,
    customer_id: str,
    customer_name: str,
    delivery_address: str,
    pincode: str,
    items: list[OrderItem],
) -> Order:
    now = utcnow()
    order_id = conn.execute(
        orders.insert().values(
            customer_id=customer_id,
            customer_name=customer_name,
            delivery_address=delivery_address,
            pincode=pincode,
            total=sum(item.line_total for item in items),
            currency="INR",
            status=OrderStatus.PENDING_PAYMENT.value,
            payment_attempt=0,
            created_at=now,
            updated_at=now,
        )
    ).inserted_primary_key[0]
    number = ORDER_NUMBER_OFFSET + order_id
    conn.execute(orders.update().where(orders.c.id == order_id).values(number=number))
    conn.execute(
        order_items.insert(),
        [
            {
                "order_id": order_id,
                "position": position,
                "sku": item.sku,
                "name": item.name,
                "unit_price": item.unit_price,
                "quantity": item.quantity,
            }
            for position, item in enumerate(items)
        ],
    )
    order = _one_order(conn, "id", order_id)
    assert order is not None
    return order


def _apply_and_record(
    conn: Connection,
    event_id: str,
    event_name: str,
    apply: Callable[[OrderTransaction], EventResult],
    then: Callable[[Connection, EventResult], None] | None,
) -> EventResult:
    result = apply(OrderTransaction(conn))
    # In the same transaction as its effects: a concurrent delivery of the same event
    # fails here (primary key), rolls back, and reads as seen.
    conn.execute(
        _RECORD_EVENT,
        {
            "event_id": event_id,
            "event": event_name[:64],
            "order_number": result.order_number,
            "outcome": result.outcome_label,
            "received_at": utcnow(),
        },
    )
    if then is not None:
        then(conn, result)
    return result


def _update(conn: Connection, number: int, values: dict[str, Any]) -> None:
    conn.execute(
        orders.update().where(orders.c.number == int(number)).values(**values, updated_at=utcnow())
    )


def _mark_confirmation_sent(conn: Connection, number: int) -> bool:
    now = utcnow()
    result = conn.execute(
        orders.update()
        .where(orders.c.number == int(number))
        .where(orders.c.confirmation_sent_at.is_(None))
        .values(confirmation_sent_at=now, updated_at=now)
    )
    return result.rowcount == 1


def _transition(
    conn: Connection, number: int, new_status: OrderStatus, values: dict[str, Any]
) -> bool:
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(at_number=int(number), new_status=new_status.value, new_updated_at=utcnow())
    result = conn.execute(_transition_statement(new_status, tuple(sorted(values))), params)
    return result.rowcount == 1


# The statements of a payment event's transaction, built once: building and keying a
# statement cost more than running it (webhook benchmark), and a prebuilt one is
# compiled once. Parameters are named apart from the columns, which an UPDATE or an
# INSERT would otherwise take as values to write.
_EVENT_OUTCOME = sa.select(webhook_events.c.outcome).where(
    webhook_events.c.event_id == sa.bindparam("event_id")
)
_RECORD_EVENT = webhook_events.insert()
_PAYMENT = (
    sa.select(payments, orders.c.number)
    .join(orders, orders.c.id == payments.c.order_id)
    .where(payments.c.payment_id == sa.bindparam("payment_id"))
)
_ADD_PAYMENT = payments.insert().values(
    order_id=sa.select(orders.c.id)
    .where(orders.c.number == sa.bindparam("of_order"))
    .scalar_subquery()
)
_ITEMS_OF = (
    sa.select(
        order_items.c.sku, order_items.c.name, order_items.c.unit_price, order_items.c.quantity
    )
    .where(order_items.c.order_id == sa.bindparam("order_id"))
    .order_by(order_items.c.position)
)


@functools.cache
def _transition_statement(new_status: OrderStatus, names: tuple[str, ...]) -> sa.sql.Update:
    values = {name: sa.bindparam(f"new_{name}", type_=orders.c[name].type) for name in names}
    return (
        orders.update()
        .where(orders.c.number == sa.bindparam("at_number"))
        .where(orders.c.status.in_(sources_of(new_status)))
        .values(
            status=sa.bindparam("new_status"),
            updated_at=sa.bindparam("new_updated_at", type_=orders.c.updated_at.type),
            **values,
        )
    )


@functools.cache
def _order_where(column: str, newest: bool) -> sa.sql.Select:
    order_by = orders.c.id.desc() if newest else orders.c.id
    return (
        sa.select(orders)
        .where(orders.c[column] == sa.bindparam("value"))
        .order_by(order_by)
        .limit(1)
    )


def _select_orders(
    conn: Connection,
    where: Sequence[Any],
    order_by: Sequence[Any] = (orders.c.id,),
    limit: int | None = None,
) -> list[Order]:
    """The orders matching `where`, ranked by `order_by`, with their items: one query.

    The chosen orders are a ranked subquery and their items are joined onto it, so a
    batch of a hundred orders costs one round trip, not one per order.
    """
    rank = sa.func.row_number().over(order_by=list(order_by)).label("rank")
    chosen = (
        sa.select(orders, rank).where(*where).order_by(*order_by).limit(limit).subquery("chosen")
    )
    item_columns = [
        order_items.c[name].label(f"item_{name}")
        for name in ("sku", "name", "unit_price", "quantity")
    ]
    joined = (
        sa.select(chosen, *item_columns)
        .select_from(chosen.outerjoin(order_items, order_items.c.order_id == chosen.c.id))
        .order_by(chosen.c.rank, order_items.c.position)
    )
    found: dict[int, tuple[Any, list[OrderItem]]] = {}
    for row in conn.execute(joined).mappings():
        _, items = found.setdefault(row["id"], (row, []))
        if row["item_sku"] is not None:
            items.append(
                OrderItem(
                    row["item_sku"], row["item_name"], row["item_unit_price"], row["item_quantity"]
                )
            )
    return [_order_from_row(row, items) for row, items in found.values()]


def _one_order(conn: Connection, column: str, value: Any, newest: bool = False) -> Order | None:
    """The first (or `newest`) order whose `column` is `value`, with its items. Two plain
    statements: cheaper for one order than the batches' ranked join."""
    row = conn.execute(_order_where(column, newest), {"value": value}).mappings().first()
    if row is None:
        return None
    items = [OrderItem(*item) for item in conn.execute(_ITEMS_OF, {"order_id": row["id"]})]
    return _order_from_row(row, items)


def _payment_from_row(row: Any) -> Payment:
    return Payment(
        payment_id=row["payment_id"],
        order_number=row["number"],
        amount=row["amount"],
        currency=row["currency"],
        status=PaymentStatus(row["status"]),
        payment_link_id=row["payment_link_id"],
        method=row["method"],
        captured_at=_aware(row["captured_at"]),
        error=row["error"],
    )


def _order_from_row(row: Any, items: Iterable[OrderItem]) -> Order:
    return Order(
        number=row["number"],
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        delivery_address=row["delivery_address"],
        pincode=row["pincode"],
        items=tuple(items),
        total=row["total"],
        currency=row["currency"],
        status=OrderStatus(row["status"]),
        created_at=_aware(row["created_at"]),
        payment_link_id=row["payment_link_id"],
        payment_link_url=row["payment_link_url"],
        payment_link_status=row["payment_link_status"],
        payment_reference=row["payment_reference"],
        payment_attempt=row["payment_attempt"],
        payment_id=row["payment_id"],
        paid_at=_aware(row["paid_at"]),
        confirmation_sent_at=_aware(row["confirmation_sent_at"]),
        shopify_order_id=row["shopify_order_id"],
        flag=row["flag"],
        updated_at=_aware(row["updated_at"]),
    )


_stores: dict[str, OrderStore] = {}


def get_store(url: str | None = None) -> OrderStore:
    """One store (one connection pool) per database URL in this process."""
    url = url or database_url()
    if url not in _stores:
        _stores[url] = OrderStore(url)
    return _stores[url]
