"""The handovers table: which customers wait for (or talk with) a person.

The conversation itself stays in Rasa's tracker store, and the bot's silence is Rasa's
own pause (`ConversationPaused` in the tracker). This table is the index a merchant
and the sweeps need: who, on which channel, why, since when, when the customer last
wrote, when a person last answered, and when and by whom it ended.

`active_customer` holds the customer's id while the handover is open and NULL once it
ended: its unique constraint allows one open handover per customer on SQLite and
PostgreSQL alike, so two turns that start one at the same moment start one.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from durable.tables import _aware, insert_ignoring_duplicates
from orders.store import utcnow, write_transaction

metadata = sa.MetaData()

# Why a customer waits for a person.
REASONS = frozenset(
    {"asked", "cancel", "fallbacks", "money_deducted", "refund", "human_answered"}
)
# Who ended it.
ENDED_BY_MERCHANT = "merchant"
ENDED_BY_QUIET = "quiet"

handovers = sa.Table(
    "handovers",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("customer_id", sa.String(64), nullable=False),
    sa.Column("channel", sa.String(32), nullable=False),
    sa.Column("reason", sa.String(32), nullable=False),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("last_customer_at", sa.DateTime(timezone=True)),
    sa.Column("last_human_at", sa.DateTime(timezone=True)),
    sa.Column("ended_at", sa.DateTime(timezone=True)),
    sa.Column("ended_by", sa.String(20)),
    sa.Column("active_customer", sa.String(64), unique=True),
    sa.Index("ix_handovers_customer", "customer_id", "id"),
)


@dataclass(frozen=True)
class Handover:
    id: int
    customer_id: str
    channel: str
    reason: str
    started_at: datetime
    last_customer_at: datetime | None
    last_human_at: datetime | None
    ended_at: datetime | None
    ended_by: str | None

    @property
    def active(self) -> bool:
        return self.ended_at is None

    @property
    def last_activity(self) -> datetime:
        """The latest of its start, the customer's last message and a person's last answer."""
        moments = [self.started_at, self.last_customer_at, self.last_human_at]
        return max(moment for moment in moments if moment is not None)

    def as_dict(self) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat() if moment is not None else None

        return {
            "id": self.id,
            "customer_id": self.customer_id,
            "channel": self.channel,
            "reason": self.reason,
            "started_at": iso(self.started_at),
            "last_customer_at": iso(self.last_customer_at),
            "last_human_at": iso(self.last_human_at),
            "ended_at": iso(self.ended_at),
            "ended_by": self.ended_by,
        }


_creating = threading.Lock()


class HandoverStore:
    """The handovers table on the order store's engine. Its methods block (database
    I/O): call them with `asyncio.to_thread` on an event loop."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._ready = False

    def ensure(self) -> None:
        if not self._ready:
            with _creating:
                metadata.create_all(self.engine)
            self._ready = True

    def write(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(conn, *args)` in a write transaction (on SQLite it may run again)."""
        self.ensure()
        return write_transaction(self.engine, fn, *args)

    def read(self, fn: Callable[..., Any], *args: Any) -> Any:
        self.ensure()
        with self.engine.connect() as conn:
            return fn(conn, *args)

    def active(self, customer_id: str) -> Handover | None:
        return self.read(active_in, customer_id)

    def get(self, handover_id: int) -> Handover | None:
        return self.read(_get, handover_id)

    def waiting(self) -> list[Handover]:
        """The open handovers, the longest waiting first."""
        return self.read(_waiting)

    def recent(self, customer_id: str, limit: int = 20) -> list[Handover]:
        return self.read(_recent, customer_id, limit)

    def customer_wrote(self, handover_id: int, at: datetime) -> None:
        self.write(_touch, handover_id, "last_customer_at", at)

    def human_answered(self, handover_id: int, at: datetime | None = None) -> None:
        self.write(_touch, handover_id, "last_human_at", at or utcnow())

    def end(self, handover_id: int, by: str) -> bool:
        """Close it; False when it had ended before."""
        return self.write(_end, handover_id, by)


# -- statements, each run inside a caller's connection or transaction ------------------


def start_in(conn: Connection, customer_id: str, channel: str, reason: str) -> Handover | None:
    """Open a handover for the customer; None when one is open already."""
    if reason not in REASONS:  # the merchant's inbox and notice show it
        raise ValueError(f"unknown handover reason {reason!r}; one of {sorted(REASONS)}")
    if active_in(conn, customer_id) is not None:
        return None
    values = {
        "customer_id": customer_id[:64],
        "channel": channel[:32],
        "reason": reason,
        "started_at": utcnow(),
        "active_customer": customer_id[:64],
    }
    # ON CONFLICT DO NOTHING: a turn that loses the race to another changes nothing and
    # leaves the caller's transaction usable (an IntegrityError would abort it).
    if not insert_ignoring_duplicates(conn, handovers, [values], "active_customer"):
        return None
    return active_in(conn, customer_id)


def active_in(conn: Connection, customer_id: str) -> Handover | None:
    row = conn.execute(
        sa.select(handovers).where(handovers.c.active_customer == customer_id[:64])
    ).mappings().first()
    return _handover(row) if row else None


def _get(conn: Connection, handover_id: int) -> Handover | None:
    row = conn.execute(sa.select(handovers).where(handovers.c.id == handover_id)).mappings().first()
    return _handover(row) if row else None


def _waiting(conn: Connection) -> list[Handover]:
    query = (
        sa.select(handovers)
        .where(handovers.c.active_customer.isnot(None))
        .order_by(handovers.c.started_at, handovers.c.id)
    )
    return [_handover(row) for row in conn.execute(query).mappings()]


def _recent(conn: Connection, customer_id: str, limit: int) -> list[Handover]:
    query = (
        sa.select(handovers)
        .where(handovers.c.customer_id == customer_id[:64])
        .order_by(handovers.c.id.desc())
        .limit(limit)
    )
    return [_handover(row) for row in conn.execute(query).mappings()]


def _touch(conn: Connection, handover_id: int, column: str, at: datetime) -> None:
    # Only forward: an older moment (a message replayed after a restart) changes nothing.
    current = handovers.c[column]
    conn.execute(
        handovers.update()
        .where(handovers.c.id == handover_id)
        .where(sa.or_(current.is_(None), current < at))
        .values({column: at})
    )


def _end(conn: Connection, handover_id: int, by: str) -> bool:
    result = conn.execute(
        handovers.update()
        .where(handovers.c.id == handover_id)
        .where(handovers.c.ended_at.is_(None))
        .values(ended_at=utcnow(), ended_by=by, active_customer=None)
    )
    return result.rowcount == 1


def quiet_since(handover: Handover, now: datetime, quiet: timedelta) -> bool:
    """Whether nobody wrote in the handover for `quiet`."""
    return handover.active and handover.last_activity <= now - quiet


def _handover(row: Any) -> Handover:
    def moment(value: datetime | None) -> datetime | None:
        return _aware(value) if value is not None else None

    return Handover(
        id=row["id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        reason=row["reason"],
        started_at=_aware(row["started_at"]),
        last_customer_at=moment(row["last_customer_at"]),
        last_human_at=moment(row["last_human_at"]),
        ended_at=moment(row["ended_at"]),
        ended_by=row["ended_by"],
    )
