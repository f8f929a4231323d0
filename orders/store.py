"""The order store: orders, their line items and the forward-only status machine.

One module owns the database (configured by a SQLAlchemy URL, as in Rasa's
financial-demo). SQLAlchemy 1.4 is blocking, so every public call runs in a worker
thread and is awaited: safe to use from the action server's and Rasa's event loops.
"""

from __future__ import annotations

import asyncio
import enum
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

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

# -- payments (issue 4) ----------------------------------------------------------
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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def _aware(value: datetime | None) -> datetime | None:
    # SQLite hands back naive datetimes; everything we store is UTC.
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=timezone.utc)
    return value


def database_url() -> str:
    return os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL


def make_engine(url: str) -> Engine:
    """An engine for `url`; SQLite files get WAL, a busy timeout and foreign keys."""
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
            connect_args={"check_same_thread": False, "timeout": 30},
            poolclass=sa.pool.QueuePool,
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    return sa.create_engine(url, future=True, pool_pre_ping=True)


class OrderStore:
    """Orders in a SQL database. Every public method is a coroutine."""

    def __init__(self, url: str | None = None) -> None:
        self.url = url or database_url()
        self.engine = make_engine(self.url)
        metadata.create_all(self.engine)

    async def _run(self, fn: Any, *args: Any) -> Any:
        return await asyncio.to_thread(fn, *args)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- reading ---------------------------------------------------------------

    async def get(self, number: int) -> Order | None:
        return await self._run(self._get, number)

    async def latest_for_customer(self, customer_id: str) -> Order | None:
        return await self._run(self._latest_for_customer, customer_id)

    async def find_by_reference(self, reference: str) -> Order | None:
        return await self._run(self._find_by_reference, reference)

    def _get(self, number: int) -> Order | None:
        with self.engine.connect() as conn:
            return self._load(conn, sa.select(orders).where(orders.c.number == int(number)))

    def _latest_for_customer(self, customer_id: str) -> Order | None:
        query = (
            sa.select(orders)
            .where(orders.c.customer_id == customer_id)
            .order_by(orders.c.id.desc())
            .limit(1)
        )
        with self.engine.connect() as conn:
            return self._load(conn, query)

    def _find_by_reference(self, reference: str) -> Order | None:
        with self.engine.connect() as conn:
            return self._load(
                conn, sa.select(orders).where(orders.c.payment_reference == reference)
            )

    @staticmethod
    def _load(conn: Connection, query: sa.sql.Select) -> Order | None:
        row = conn.execute(query).mappings().first()
        if row is None:
            return None
        items = conn.execute(
            sa.select(order_items)
            .where(order_items.c.order_id == row["id"])
            .order_by(order_items.c.position)
        ).mappings()
        return _order_from_row(row, items)

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
        return await self._run(
            self._create_order, customer_id, customer_name, delivery_address, pincode, items
        )

    def _create_order(
        self,
        customer_id: str,
        customer_name: str,
        delivery_address: str,
        pincode: str,
        items: list[OrderItem],
    ) -> Order:
        now = utcnow()
        with self.engine.begin() as conn:
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
            return self._load(conn, sa.select(orders).where(orders.c.id == order_id))

    async def transition(self, number: int, new_status: OrderStatus, **values: Any) -> bool:
        """Move an order to `new_status` if the machine allows it from where it is now.

        A compare-and-set: concurrent callers cannot both win, and a refused move
        changes nothing. Returns whether this call moved the order.
        """
        return await self._run(self._transition, number, OrderStatus(new_status), values)

    def _transition(self, number: int, new_status: OrderStatus, values: dict[str, Any]) -> bool:
        with self.engine.begin() as conn:
            return transition_in(conn, number, new_status, **values)

    async def update(self, number: int, **values: Any) -> None:
        """Set plain columns (link, flags, timestamps); never the status."""
        if "status" in values:
            raise OrderError("Use transition() to change an order's status.")
        await self._run(self._update, number, values)

    def _update(self, number: int, values: dict[str, Any]) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                orders.update()
                .where(orders.c.number == int(number))
                .values(**values, updated_at=utcnow())
            )

    async def mark_confirmation_sent(self, number: int) -> bool:
        """Record the confirmation once; False when it was already recorded."""
        return await self._run(self._mark_confirmation_sent, number)

    def _mark_confirmation_sent(self, number: int) -> bool:
        now = utcnow()
        with self.engine.begin() as conn:
            result = conn.execute(
                orders.update()
                .where(orders.c.number == int(number))
                .where(orders.c.confirmation_sent_at.is_(None))
                .values(confirmation_sent_at=now, updated_at=now)
            )
            return result.rowcount == 1

    async def release_confirmation(self, number: int, sent_at: datetime) -> bool:
        """Undo a confirmation record whose message could not be delivered.

        A compare-and-set on the recorded time: only the claim that failed is undone,
        so the reconciler sends it again, and a later successful claim is never lost.
        """
        return await self._run(self._release_confirmation, number, sent_at)

    def _release_confirmation(self, number: int, sent_at: datetime) -> bool:
        with self.engine.begin() as conn:
            result = conn.execute(
                orders.update()
                .where(orders.c.number == int(number))
                .where(orders.c.confirmation_sent_at == sent_at)
                .values(confirmation_sent_at=None, updated_at=utcnow())
            )
            return result.rowcount == 1


def transition_in(conn: Connection, number: int, new_status: OrderStatus, **values: Any) -> bool:
    """The status compare-and-set inside a caller's transaction (webhooks use it)."""
    result = conn.execute(
        orders.update()
        .where(orders.c.number == int(number))
        .where(orders.c.status.in_(sources_of(new_status)))
        .values(status=new_status.value, updated_at=utcnow(), **values)
    )
    return result.rowcount == 1


def _order_from_row(row: Any, items: Iterable[Any]) -> Order:
    return Order(
        number=row["number"],
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        delivery_address=row["delivery_address"],
        pincode=row["pincode"],
        items=tuple(
            OrderItem(item["sku"], item["name"], item["unit_price"], item["quantity"])
            for item in items
        ),
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
