"""The inbox and outbox tables, and the claim both use: the oldest pending row of each
customer, taken with a lease.

Only a customer's oldest pending row can be claimed, so a customer's rows are handled
one at a time and in order, while different customers' rows go in parallel. A lease
that runs out (its holder died) makes the row claimable again. On PostgreSQL the claim
skips rows another consumer is locking (`FOR UPDATE SKIP LOCKED`); SQLite has one
writer at a time, which gives the same guarantee.
"""

from __future__ import annotations

import contextlib
import functools
import json
import threading
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from orders.store import utcnow, write_transaction

metadata = sa.MetaData()

PENDING = "pending"

# A claimer that takes only some rows: (column, the values it takes), such as
# ("channel", ["whatsapp"]) for a sender or ("kind", ["razorpay_event"]) for a consumer.
Among = tuple[str, Sequence[str]]

inbox = sa.Table(
    "inbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(20), nullable=False),
    sa.Column("customer_id", sa.String(64), nullable=False),
    # The de-duplication record: a redelivered event hits this unique key.
    sa.Column("dedupe_key", sa.String(160), nullable=False, unique=True),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("status", sa.String(10), nullable=False),  # pending | done | parked
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claims", sa.Integer, nullable=False, default=0),
    sa.Column("last_error", sa.Text),
    sa.Column("lease_owner", sa.String(120)),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
    sa.Index("ix_inbox_queue", "status", "customer_id", "id"),
    sa.Index("ix_inbox_lease", "lease_owner"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    # What caused the message, and the message's key within it (its content's digest
    # and how often that content came before): a turn that runs twice (at least once
    # into Rasa) writes what it said again under the same keys, kept once, while what it
    # says differently the second time is kept too, never dropped.
    sa.Column("source", sa.String(160), nullable=False),
    sa.Column("message_key", sa.String(48), nullable=False),
    sa.Column("message", sa.Text, nullable=False),  # the Rasa response, as JSON
    sa.Column("confirms_order", sa.Integer),  # sending it records this order's confirmation
    sa.Column("status", sa.String(10), nullable=False),  # pending | sent | failed
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("parts_sent", sa.Integer, nullable=False, default=0),
    sa.Column("message_ids", sa.Text, nullable=False, default="[]"),  # e.g. WhatsApp wamids
    sa.Column("last_error", sa.Text),
    sa.Column("lease_owner", sa.String(120)),
    sa.Column("lease_until", sa.DateTime(timezone=True)),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("sent_at", sa.DateTime(timezone=True)),
    sa.UniqueConstraint("source", "message_key", name="uq_outbox_source_key"),
    sa.Index("ix_outbox_queue", "status", "customer_id", "id"),
    sa.Index("ix_outbox_lease", "lease_owner"),
    sa.Index("ix_outbox_confirms", "confirms_order"),
)

# The ids the channel's service gave each outbox message, one row per id: a delivery
# report that comes later (a WhatsApp status webhook) names only that id.
outbox_message_ids = sa.Table(
    "outbox_message_ids",
    metadata,
    sa.Column("message_id", sa.String(160), primary_key=True),
    sa.Column("outbox_id", sa.Integer, nullable=False),
    # The id is of the message's fallback template, sent in its place (durable.outbox).
    sa.Column("fallback", sa.Boolean, nullable=False, default=False),
    sa.Index("ix_outbox_message_ids_row", "outbox_id"),
)


_creating = threading.Lock()


class Tables:
    """The inbox and outbox tables on one database, created on first use: a server may
    start while its database is away, and answers 503 until it is back."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False

    @property
    def ready(self) -> bool:
        return self._ready

    def ensure(self) -> None:
        if not self._ready:
            with _creating:
                metadata.create_all(self.engine)
            self._ready = True

    @contextlib.contextmanager
    def reading(self) -> Iterator[Connection]:
        self.ensure()
        with self.engine.connect() as conn:
            yield conn

    def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(conn, *args)` in a write transaction (run it in a worker thread); on
        SQLite `fn` may run again when another process was writing."""
        self.ensure()
        return write_transaction(self.engine, fn, *args)

    def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        with self.reading() as conn:
            return fn(conn, *args)


def claim_heads(
    conn: Connection,
    table: sa.Table,
    owner: str,
    limit: int,
    lease: timedelta,
    customer_id: str | None = None,
    among: Among | None = None,
) -> list[Any]:
    """Lease up to `limit` rows, each the oldest pending row of its customer, to `owner`
    (a token unique to this claim); returns them oldest first. `customer_id` and
    `among` narrow the rows this claimer may take; a customer whose oldest row is not
    among them waits for another claimer to handle it."""
    now = utcnow()
    params: dict[str, Any] = {
        "claim_now": now,
        "claim_limit": limit,
        "claim_owner": owner,
        "claim_lease_until": now + lease,
        "claim_customer_id": customer_id,
        "claim_among": list(among[1]) if among else [],
    }
    claim, leased = _claim_statements(
        table, conn.dialect.name, customer_id is not None, among[0] if among else None
    )
    conn.execute(claim, params)
    return list(conn.execute(leased, params).mappings())


@functools.cache
def _claim_statements(
    table: sa.Table, dialect: str, by_customer: bool, among: str | None
) -> tuple[Any, Any]:
    # Built once per shape, with bound parameters: SQLAlchemy then compiles each once
    # and a claim costs only its execution (it runs after every turn and every send).
    # The parameters are named apart from the columns: an UPDATE would set a column
    # from a parameter of its name.
    now = sa.bindparam("claim_now", type_=table.c.lease_until.type)
    earlier = table.alias("earlier")
    head = (
        sa.select(sa.func.min(earlier.c.id))
        .where(earlier.c.customer_id == table.c.customer_id)
        .where(earlier.c.status == PENDING)
        .scalar_subquery()
    )
    candidates = (
        sa.select(table.c.id)
        .where(table.c.status == PENDING)
        .where(sa.or_(table.c.lease_until.is_(None), table.c.lease_until < now))
        .where(table.c.id == head)
        .order_by(table.c.id)
        .limit(sa.bindparam("claim_limit", type_=sa.Integer))
    )
    # A customer's row in flight keeps the others waiting, even an older one put back
    # by hand (a parked item retried) while a later one is being handled.
    busy = (
        sa.select(earlier.c.id)
        .where(earlier.c.customer_id == table.c.customer_id)
        .where(earlier.c.status == PENDING)
        .where(earlier.c.lease_owner.isnot(None))
        .where(earlier.c.lease_until >= now)
    )
    candidates = candidates.where(~sa.exists(busy))
    if by_customer:
        candidates = candidates.where(table.c.customer_id == sa.bindparam("claim_customer_id"))
    if among is not None:
        candidates = candidates.where(
            table.c[among].in_(sa.bindparam("claim_among", expanding=True))
        )
    if dialect == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    values: dict[str, Any] = {
        "lease_owner": sa.bindparam("claim_owner"),
        "lease_until": sa.bindparam("claim_lease_until", type_=table.c.lease_until.type),
    }
    if "claims" in table.c:
        values["claims"] = table.c.claims + 1
    claim = table.update().where(table.c.id.in_(candidates.scalar_subquery())).values(**values)
    owned = table.c.lease_owner == sa.bindparam("claim_owner")
    leased = sa.select(table).where(owned).order_by(table.c.id)
    return claim, leased


def insert_ignoring_duplicates(
    conn: Connection, table: sa.Table, rows: Sequence[dict[str, Any]], *unique: str
) -> int:
    """Insert `rows` (each with the same columns), skipping those whose `unique` columns
    are taken: `INSERT ... ON CONFLICT DO NOTHING`, on SQLite and PostgreSQL alike.
    Returns how many were new (counted exactly for a single row)."""
    if not rows:
        return 0
    statement = _insert_ignoring(table, tuple(rows[0]), unique)
    result = conn.execute(statement, dict(rows[0]) if len(rows) == 1 else list(rows))
    return max(result.rowcount, 0)


@functools.cache
def _insert_ignoring(
    table: sa.Table, names: tuple[str, ...], unique: tuple[str, ...]
) -> sa.sql.expression.TextClause:
    # SQLAlchemy 1.4 cannot cache its own ON CONFLICT construct: it compiled one on
    # every webhook. This typed text statement is compiled once.
    columns = [table.c[name] for name in names]
    return sa.text(
        f"INSERT INTO {table.name} ({', '.join(names)}) "
        f"VALUES ({', '.join(':' + name for name in names)}) "
        f"ON CONFLICT ({', '.join(unique)}) DO NOTHING"
    ).bindparams(*(sa.bindparam(column.name, type_=column.type) for column in columns))


def claim_customer(
    conn: Connection,
    table: sa.Table,
    owner: str,
    customer_id: str,
    limit: int,
    lease: timedelta,
    among: Among | None = None,
) -> list[Any]:
    """Lease a customer's oldest pending row, as `claim_heads` would, and the pending
    rows after it (up to `limit` in all): one claim for everything a turn queued, to
    handle in order. What the holder does not finish it gives back (`release_lease`)."""
    heads = claim_heads(conn, table, owner, 1, lease, customer_id, among)
    if not heads or limit <= 1:
        return heads
    params = {
        "claim_owner": owner,
        "claim_lease_until": heads[0]["lease_until"],
        "claim_customer_id": customer_id,
        "claim_after": heads[0]["id"],
        "claim_limit": limit - 1,
        "claim_among": list(among[1]) if among else [],
    }
    follow, leased = _following_statements(table, among[0] if among else None)
    conn.execute(follow, params)
    return list(conn.execute(leased, params).mappings())


@functools.cache
def _following_statements(table: sa.Table, among: str | None) -> tuple[Any, Any]:
    following = (
        sa.select(table.c.id)
        .where(table.c.customer_id == sa.bindparam("claim_customer_id"))
        .where(table.c.status == PENDING)
        .where(table.c.id > sa.bindparam("claim_after"))
        .order_by(table.c.id)
        .limit(sa.bindparam("claim_limit", type_=sa.Integer))
    )
    if among is not None:
        following = following.where(
            table.c[among].in_(sa.bindparam("claim_among", expanding=True))
        )
    follow = (
        table.update()
        .where(table.c.id.in_(following.scalar_subquery()))
        .values(
            lease_owner=sa.bindparam("claim_owner"),
            lease_until=sa.bindparam("claim_lease_until", type_=table.c.lease_until.type),
        )
    )
    owned = table.c.lease_owner == sa.bindparam("claim_owner")
    return follow, sa.select(table).where(owned).order_by(table.c.id)


def release_lease(conn: Connection, table: sa.Table, lease: str, row_ids: Sequence[int]) -> None:
    """Give back rows of one claim that were not handled: pending, and free at once."""
    if row_ids:
        conn.execute(
            table.update()
            .where(table.c.id.in_(list(row_ids)))
            .where(table.c.lease_owner == lease)
            .where(table.c.status == PENDING)
            .values(lease_owner=None, lease_until=None)
        )


def renew_lease(
    conn: Connection, table: sa.Table, lease: str, row_ids: Sequence[int], duration: timedelta
) -> int:
    """Extend `lease` on the pending rows `row_ids` it still holds; how many it holds."""
    return conn.execute(
        table.update()
        .where(table.c.id.in_(list(row_ids)))
        .where(table.c.lease_owner == lease)
        .where(table.c.status == PENDING)
        .values(lease_until=utcnow() + duration)
    ).rowcount


def requeue(
    conn: Connection,
    table: sa.Table,
    status: str,
    ids: Sequence[int] | None,
    values: dict[str, Any],
    only: Any = None,
) -> int:
    """Put the rows in `status` (all, or these ids; and meeting `only`, a condition)
    back as pending and free, with `values`; how many went back. `make inbox` retries
    parked items and resends messages given up on with it."""
    query = table.update().where(table.c.status == status)
    if only is not None:
        query = query.where(only)
    if ids is not None:
        query = query.where(table.c.id.in_(list(ids)))
    freed = {"status": PENDING, "lease_owner": None, "lease_until": None, **values}
    return conn.execute(query.values(**freed)).rowcount


def finish_leased(
    conn: Connection, table: sa.Table, row_id: int, lease: str, values: dict[str, Any]
) -> bool:
    """Update a row only while `lease` still holds it: False when it was taken over."""
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(at_row=row_id, at_lease=lease)
    statement = _finish_statement(table, tuple(values))
    return conn.execute(statement, params).rowcount == 1


def finish_by_key(
    conn: Connection, table: sa.Table, key: str, lease: str, values: dict[str, Any]
) -> bool:
    """`finish_leased` for a row known by its de-duplication key."""
    params = {f"new_{name}": value for name, value in values.items()}
    params.update(at_row=key, at_lease=lease)
    statement = _finish_statement(table, tuple(values), "dedupe_key")
    return conn.execute(statement, params).rowcount == 1


@functools.cache
def _finish_statement(table: sa.Table, names: tuple[str, ...], by: str = "id") -> Any:
    # Prebuilt per set of columns (each turn finishes its item, each send its message),
    # for the row whose `by` column is the parameter at_row.
    return (
        table.update()
        .where(table.c[by] == sa.bindparam("at_row"))
        .where(table.c.lease_owner == sa.bindparam("at_lease"))
        .values({name: sa.bindparam(f"new_{name}", type_=table.c[name].type) for name in names})
    )


def renew(conn: Connection, table: sa.Table, owners: list[str], lease: timedelta) -> None:
    if owners:
        conn.execute(
            table.update()
            .where(table.c.lease_owner.in_(owners))
            .where(table.c.status == PENDING)
            .values(lease_until=utcnow() + lease)
        )


def release(conn: Connection, table: sa.Table, owner_prefix: str) -> int:
    """Free the pending rows leased by a consumer (a restart of it, or its shutdown)."""
    result = conn.execute(
        table.update()
        .where(table.c.lease_owner.startswith(f"{owner_prefix}/", autoescape=True))
        .where(table.c.status == PENDING)
        .values(lease_owner=None, lease_until=None)
    )
    return result.rowcount


def retry_delay(attempts: int, base: float, cap: float) -> timedelta:
    """`base`, twice that, four times ... up to `cap`: a short outage costs little, a
    long one brings no storm of retries."""
    return timedelta(seconds=min(base * 2.0 ** max(attempts - 1, 0), cap))


def stats(conn: Connection, table: sa.Table, failed_status: str) -> dict[str, Any]:
    """Pending rows, the age of the oldest, rows given up on, and rows leased right now."""
    now = utcnow()
    pending = conn.execute(
        sa.select(sa.func.count(), sa.func.min(table.c.id)).where(table.c.status == PENDING)
    ).one()
    oldest: datetime | None = None
    if pending[1] is not None:
        time_column = table.c.received_at if "received_at" in table.c else table.c.created_at
        oldest = conn.execute(sa.select(time_column).where(table.c.id == pending[1])).scalar()
    failed = conn.execute(
        sa.select(sa.func.count()).where(table.c.status == failed_status)
    ).scalar()
    leased = conn.execute(
        sa.select(sa.func.count())
        .where(table.c.status == PENDING)
        .where(table.c.lease_owner.isnot(None))
        .where(table.c.lease_until > now)
    ).scalar()
    age = (now - _aware(oldest)).total_seconds() if oldest is not None else 0.0
    return {
        "pending": pending[0],
        "oldest_pending_seconds": round(max(age, 0.0), 3),
        failed_status: failed,
        "in_flight": leased,
    }


def _aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; everything stored is UTC.
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
