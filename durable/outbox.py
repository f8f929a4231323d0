"""The outbox: what the bot says because of an event it already acknowledged.

A turn's responses are written here in one transaction with its inbox item's
completion, once Rasa saved the turn (a crash in between leaves the item pending, and
its retry finds the responses in the saved conversation); payment notices in one with
the event that caused them. So a crash cannot lose them; `durable.sender` sends them
in order per customer and marks each sent with the ids the channel's service gave it.
A response is kept as Rasa produced it, channel-neutral; the channel renders it when
it is sent. A response that renders to several messages records how many went out, so
a retry sends only the rest.

The ids the service returned for a message carrying a fallback template are also kept
on their own (`outbox_message_ids`), so that a refusal it reports later, naming only
that id, finds its message and has the template queued once, as a message of its own
(`replace_refused`). Other messages add nothing there: a send's transaction stays one
update.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import uuid
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import timedelta
from enum import Enum
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from durable import tables
from durable.tables import PENDING, outbox, outbox_message_ids
from orders.store import utcnow

SENT = "sent"
FAILED = "failed"
# How long a claim holds a customer's messages before another sender may take them (a
# dead sender's wait that long). One send can take ~45 s (the WhatsApp client's four
# tries of 10 s and their back-off), and a claim of several messages is renewed before
# each one once it is a quarter of this old: no message outlives its holder's lease.
SEND_LEASE = timedelta(seconds=120)
# Meta's outages last seconds to minutes: retry soon, then every five minutes at most.
RETRY_BASE_SECONDS = 1.0
RETRY_CAP_SECONDS = 300.0
# WhatsApp refuses free-form messages 24 h after the customer's last one: past that, a
# message still failing is given up on (failed), visible in the health report.
GIVE_UP_AFTER = timedelta(hours=24)
# Sent messages (and their wamids) are kept this long, to look up what a customer got.
KEEP_SENT = timedelta(days=30)


# A message's approved template for when its recipient's window is closed (below).
FALLBACK_KEY = "fallback_template"


@dataclass(frozen=True)
class FallbackTemplate:
    """What is sent instead of a message the channel refuses because the recipient's
    service window is closed (WhatsApp: 24 hours after their last message): an approved
    template, its body filled with `parameters`. `setting` names the configuration that
    chooses the template; without a `name` (none configured) the refusal is recorded
    with that advice, so whoever reads it knows what to set."""

    setting: str
    name: str | None = None
    language: str = "en"
    parameters: tuple[str, ...] = ()

    @classmethod
    def configured(
        cls,
        setting: str,
        parameters: Sequence[str],
        env: Mapping[str, str] = os.environ,
        languages: Sequence[str] = (),
    ) -> FallbackTemplate:
        """The template the setting `setting` names (no name: unset), in the language
        code of the first of the settings `languages`, then `<setting>_LANGUAGE`, that
        is set (none: en)."""
        name = (env.get(setting) or "").strip() or None
        codes = (env.get(key, "").strip() for key in (*languages, f"{setting}_LANGUAGE"))
        language = next((code for code in codes if code), "en")
        return cls(setting, name, language, tuple(parameters))

    def attach(self, message: dict[str, Any]) -> dict[str, Any]:
        """`message` carrying this fallback (as JSON, in the outbox row)."""
        return {**message, FALLBACK_KEY: asdict(self)}

    def response(self) -> dict[str, Any]:
        """The template as a channel-neutral response (a `template` custom payload)."""
        template = {"name": self.name, "language": self.language,
                    "parameters": list(self.parameters)}
        return {"custom": {"template": template}}

    def advice(self, refusal: str) -> str:
        """Why a refused message has no template to replace it, and what to set."""
        return (
            f"{refusal}. The recipient has not written to the business for 24 hours, "
            f"so only an approved template reaches them: register one and set "
            f"{self.setting}"
        )


def without_fallback(message: dict[str, Any]) -> tuple[dict[str, Any], FallbackTemplate | None]:
    """The message to send, and the fallback it carries (None: it has none)."""
    carried = message.get(FALLBACK_KEY)
    if not isinstance(carried, dict):
        return message, None
    rest = {key: value for key, value in message.items() if key != FALLBACK_KEY}
    fallback = FallbackTemplate(
        str(carried.get("setting") or ""),
        carried.get("name") or None,
        str(carried.get("language") or "en"),
        tuple(str(value) for value in carried.get("parameters") or ()),
    )
    return rest, fallback


class LateRefusal(Enum):
    """What `Outbox.replace_refused` made of a refusal reported after the send."""

    UNKNOWN = "no message here was sent with that id"  # (only those with a fallback keep ids)
    FALLBACK_REFUSED = "the id is of the fallback template itself"
    QUEUED = "its fallback template is queued"
    QUEUED_BEFORE = "its fallback template was queued before"
    NO_TEMPLATE = "no template is configured: the message is marked failed"


@dataclass(frozen=True)
class Replacement:
    outcome: LateRefusal
    outbox_id: int | None = None  # the refused message
    customer_id: str | None = None
    fallback: FallbackTemplate | None = None


@dataclass(frozen=True)
class OutgoingMessage:
    id: int
    customer_id: str
    channel: str
    message: dict[str, Any]
    confirms_order: int | None
    attempts: int
    parts_sent: int
    message_ids: tuple[str, ...]
    lease: str


class Outbox:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._tables = tables.Tables(engine)

    async def add(
        self,
        customer_id: str,
        channel: str,
        source: str,
        messages: Sequence[dict[str, Any]],
        confirms_order: int | None = None,
    ) -> None:
        """Record all the `messages` caused by `source`; a message already recorded for
        the source by an earlier run of it is kept as it was."""
        await asyncio.to_thread(
            self._add, customer_id, channel, source, keyed(messages), confirms_order
        )

    def _add(
        self,
        customer_id: str,
        channel: str,
        source: str,
        pairs: list[tuple[str, dict[str, Any]]],
        confirms_order: int | None,
    ) -> None:
        if pairs:
            self._tables.write(add_in, customer_id, channel, source, pairs, confirms_order)

    def queue_in(
        self,
        conn: Connection,
        customer_id: str,
        channel: str,
        source: str,
        messages: Sequence[dict[str, Any]],
        lease: str,
        limit: int,
        channels: Sequence[str] | None = None,
    ) -> list[OutgoingMessage]:
        """Record all of `source`'s `messages` (as `add`) in the caller's transaction,
        and lease the customer's unsent messages, these among them, to `lease`
        (`lease_for`) unless another sender holds some: the caller sends what this
        returns without claiming it again (`claim` with `customer_id`, folded in)."""
        # The caller's transaction is on these tables' database: they exist (one
        # `tables.metadata` creates the inbox's and the outbox's together).
        add_in(conn, customer_id, channel, source, keyed(messages))
        among = ("channel", channels) if channels is not None else None
        rows = tables.claim_customer(conn, outbox, lease, customer_id, limit, SEND_LEASE, among)
        return [_message(row) for row in rows]

    @staticmethod
    def lease_for(sender: str) -> str:
        """A new claim of `sender`'s: given back with its others when it restarts."""
        return f"{sender}/{uuid.uuid4().hex}"

    async def claim(
        self,
        sender: str,
        limit: int,
        customer_id: str | None = None,
        channels: Sequence[str] | None = None,
    ) -> list[OutgoingMessage]:
        """The oldest unsent message of each customer, on these channels, leased to
        `sender`; with `customer_id`, that customer's unsent messages, oldest first."""
        return await asyncio.to_thread(self._claim, sender, limit, customer_id, channels)

    def _claim(
        self,
        sender: str,
        limit: int,
        customer_id: str | None,
        channels: Sequence[str] | None,
    ) -> list[OutgoingMessage]:
        lease = self.lease_for(sender)
        among = ("channel", channels) if channels is not None else None
        if customer_id is None:
            rows = self._tables.write(
                tables.claim_heads, outbox, lease, limit, SEND_LEASE, None, among
            )
        else:
            rows = self._tables.write(
                tables.claim_customer, outbox, lease, customer_id, limit, SEND_LEASE, among
            )
        return [_message(row) for row in rows]

    async def release_unsent(self, rows: Sequence[OutgoingMessage]) -> None:
        """Give back claimed messages left unsent behind one that failed: they wait for
        it, in order, and any sender may take them after it."""
        if rows:
            ids = [row.id for row in rows]
            await asyncio.to_thread(
                self._tables.write, tables.release_lease, outbox, rows[0].lease, ids
            )

    async def renew(self, rows: Sequence[OutgoingMessage]) -> bool:
        """Extend one claim's lease on `rows` (still unsent, in order); False when one
        of them was taken over meanwhile: the holder must not send any of them."""
        if not rows:
            return True
        ids = [row.id for row in rows]
        renewed = await asyncio.to_thread(
            self._tables.write, tables.renew_lease, outbox, rows[0].lease, ids, SEND_LEASE
        )
        return renewed == len(ids)

    async def sent(
        self, row: OutgoingMessage, message_ids: Sequence[str], fallback: bool = False
    ) -> bool:
        """Mark the message sent (`fallback`: as its fallback template); False when its
        lease was lost to another sender."""
        values = {
            "status": SENT,
            "sent_at": utcnow(),
            "parts_sent": row.parts_sent + len(message_ids),
            "message_ids": tables.dumps([*row.message_ids, *message_ids]),
            "lease_owner": None,
        }
        return await asyncio.to_thread(self._update, row, values, message_ids, fallback)

    async def failed(
        self, row: OutgoingMessage, error: str, permanent: bool, message_ids: Sequence[str]
    ) -> bool:
        """Count a failed send (keeping the parts that did go out); returns True when
        the message is given up on."""
        attempts = row.attempts + 1
        values: dict[str, Any] = {
            "attempts": attempts,
            "last_error": error[:2000],
            "parts_sent": row.parts_sent + len(message_ids),
            "message_ids": tables.dumps([*row.message_ids, *message_ids]),
            "lease_owner": None,
        }
        give_up = permanent or await asyncio.to_thread(self._too_old, row)
        if give_up:
            values["status"] = FAILED
        else:
            values["lease_until"] = utcnow() + tables.retry_delay(
                attempts, RETRY_BASE_SECONDS, RETRY_CAP_SECONDS
            )
        await asyncio.to_thread(self._update, row, values, message_ids)
        return give_up

    def _too_old(self, row: OutgoingMessage) -> bool:
        with self._tables.reading() as conn:
            created = conn.execute(
                sa.select(outbox.c.created_at).where(outbox.c.id == row.id)
            ).scalar()
        return created is not None and tables._aware(created) < utcnow() - GIVE_UP_AFTER

    def _update(
        self,
        row: OutgoingMessage,
        values: dict[str, Any],
        message_ids: Sequence[str] = (),
        fallback: bool = False,
    ) -> bool:
        return self._tables.write(_finish, row, values, message_ids, fallback)

    async def replace_refused(self, message_id: str, refusal: str) -> Replacement:
        """The channel refused the message sent as `message_id` after accepting it, its
        recipient's window being closed (`refusal` says how): queue the message's
        fallback template, once, as a message of its own (source
        `window-closed:<its id>`) in one transaction with the look-up. Without a
        configured template the message is marked failed with advice instead."""
        return await asyncio.to_thread(self._tables.write, _replace_refused, message_id, refusal)

    async def confirmation_recorded(self, order_number: int) -> bool:
        """Whether a confirmation of the order is waiting to be sent or was sent."""
        query = (
            sa.select(outbox.c.id)
            .where(outbox.c.confirms_order == order_number)
            .where(outbox.c.status.in_([PENDING, SENT]))
            .limit(1)
        )
        return await asyncio.to_thread(self._exists, query)

    def _exists(self, query: sa.sql.Select) -> bool:
        with self._tables.reading() as conn:
            return conn.execute(query).first() is not None

    async def given_up(self, limit: int = 20) -> list[dict[str, Any]]:
        """The latest messages given up on, newest first, with why."""
        columns = (outbox.c.id, outbox.c.customer_id, outbox.c.source, outbox.c.created_at,
                   outbox.c.attempts, outbox.c.last_error)
        query = (
            sa.select(*columns).where(outbox.c.status == FAILED)
            .order_by(outbox.c.id.desc()).limit(limit)
        )
        return await asyncio.to_thread(self._tables.read, _rows, query)

    async def resend(self, ids: Sequence[int] | None = None) -> int:
        """Queue messages given up on (all, or these ids) again, with fresh attempts: after
        the cause is fixed (a template approved, a number unblocked). A message older
        than a day is given up on again at its first failure. A payment confirmation
        whose order has another one waiting or sent (the reconciler queues one for a
        paid order left unconfirmed) stays given up on: the customer is told once."""
        other = outbox.alias("other")
        confirmed_elsewhere = sa.exists(
            sa.select(other.c.id)
            .where(other.c.confirms_order == outbox.c.confirms_order)
            .where(other.c.status.in_([PENDING, SENT]))
        )
        return await asyncio.to_thread(
            self._tables.write, tables.requeue, outbox, FAILED, ids, {"attempts": 0},
            ~confirmed_elsewhere,
        )

    async def purge(self, older_than: timedelta = KEEP_SENT) -> int:
        """Forget messages sent more than `older_than` ago (failed ones stay visible)."""
        return await asyncio.to_thread(self._tables.write, _purge, older_than)

    async def release(self, sender: str) -> int:
        return await asyncio.to_thread(self._tables.write, tables.release, outbox, sender)

    async def stats(self) -> dict[str, Any]:
        return await asyncio.to_thread(self._tables.read, tables.stats, outbox, FAILED)


# Parts of a Rasa response that differ each time the same turn runs.
VOLATILE_KEYS = frozenset({"timestamp"})


def add_in(
    conn: Connection,
    customer_id: str,
    channel: str,
    source: str,
    pairs: list[tuple[str, dict[str, Any]]],
    confirms_order: int | None = None,
) -> int:
    """Record (message_key, message) pairs caused by `source` in the caller's
    transaction; a pair already recorded for the source is kept as it was. Returns how
    many were new (exactly, for a single pair)."""
    now = utcnow()
    rows = [
        {
            "customer_id": customer_id[:64],
            "channel": channel[:32],
            "source": source[:160],
            "message_key": key,
            "message": tables.dumps(message),
            "confirms_order": confirms_order,
            "status": PENDING,
            "attempts": 0,
            "parts_sent": 0,
            "message_ids": "[]",
            "created_at": now,
        }
        for key, message in pairs
    ]
    return tables.insert_ignoring_duplicates(conn, outbox, rows, "source", "message_key")


def keyed(messages: Sequence[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """A source's messages with their keys (`message_key`)."""
    earlier: Counter[str] = Counter()
    return [(message_key(message, earlier), message) for message in messages]


def message_key(message: dict[str, Any], earlier: Counter[str]) -> str:
    """The message's content digest, and how many times the same content came before."""
    content = {key: value for key, value in message.items() if key not in VOLATILE_KEYS}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:40]
    occurrence = earlier[digest]
    earlier[digest] += 1
    return f"{digest}:{occurrence}"


def _rows(conn: Connection, query: sa.sql.Select) -> list[dict[str, Any]]:
    return [dict(row) for row in conn.execute(query).mappings()]


def _finish(
    conn: Connection,
    row: OutgoingMessage,
    values: dict[str, Any],
    message_ids: Sequence[str],
    fallback: bool,
) -> bool:
    """Update the leased row and, for a message carrying a fallback template, keep the
    ids it was given, in one transaction."""
    if not tables.finish_leased(conn, outbox, row.id, row.lease, values):
        return False
    if FALLBACK_KEY not in row.message:
        return True
    kept = [
        {"message_id": message_id[:160], "outbox_id": row.id, "fallback": fallback}
        for message_id in dict.fromkeys(message_ids)
        if message_id  # a part the service accepted without an id
    ]
    tables.insert_ignoring_duplicates(conn, outbox_message_ids, kept, "message_id")
    return True


WINDOW_CLOSED_SOURCE = "window-closed:{}"


def _replace_refused(conn: Connection, message_id: str, refusal: str) -> Replacement:
    found = conn.execute(
        sa.select(outbox, outbox_message_ids.c.fallback.label("id_of_fallback"))
        .join(outbox_message_ids, outbox_message_ids.c.outbox_id == outbox.c.id)
        .where(outbox_message_ids.c.message_id == message_id)
    ).mappings().first()
    if found is None:
        return Replacement(LateRefusal.UNKNOWN)
    _, fallback = without_fallback(json.loads(found["message"]))
    assert fallback is not None  # only such messages keep their ids (_finish)
    about = {"outbox_id": found["id"], "customer_id": found["customer_id"],
             "fallback": fallback}
    if found["id_of_fallback"]:
        # The template went in the message's place already (refused at once, see
        # durable.sender); a template is not refused for a closed window anyway.
        return Replacement(LateRefusal.FALLBACK_REFUSED, **about)
    if fallback.name is None:
        # Not delivered after all, and nothing will be: failed, as `make inbox` lists.
        conn.execute(
            outbox.update()
            .where(outbox.c.id == found["id"])
            .where(outbox.c.status == SENT)
            .values(status=FAILED, last_error=fallback.advice(refusal)[:2000])
        )
        return Replacement(LateRefusal.NO_TEMPLATE, **about)
    template = fallback.response()
    source = WINDOW_CLOSED_SOURCE.format(found["id"])
    new = add_in(conn, found["customer_id"], found["channel"], source, keyed([template]))
    return Replacement(LateRefusal.QUEUED if new else LateRefusal.QUEUED_BEFORE, **about)


def _purge(conn: Connection, older_than: timedelta) -> int:
    old = (
        sa.select(outbox.c.id)
        .where(outbox.c.status == SENT)
        .where(outbox.c.sent_at < utcnow() - older_than)
    )
    conn.execute(outbox_message_ids.delete().where(outbox_message_ids.c.outbox_id.in_(old)))
    return conn.execute(outbox.delete().where(outbox.c.id.in_(old))).rowcount


def _message(row: Any) -> OutgoingMessage:
    return OutgoingMessage(
        id=row["id"],
        customer_id=row["customer_id"],
        channel=row["channel"],
        message=json.loads(row["message"]),
        confirms_order=row["confirms_order"],
        attempts=row["attempts"],
        parts_sent=row["parts_sent"],
        message_ids=tuple(json.loads(row["message_ids"] or "[]")),
        lease=row["lease_owner"],
    )

