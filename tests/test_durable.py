"""The durable inbox and outbox on a real database: de-duplication, per-customer claims
with leases, retries and parking, the outbox sender, the inbox consumer and `make inbox`."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sys
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

import durable.outbox
import durable.sender
from channels.delivery import DeliveryFailed
from durable import tables
from durable.consumer import InboxConsumer
from durable.inbox import Inbox, InboxItem, NewItem
from durable.outbox import Outbox
from durable.sender import OutboxSender
from durable.tables import inbox as inbox_table
from durable.tables import outbox as outbox_table
from orders.store import OrderStore, utcnow
from sandbox.harness.razorpay_stack import place_order

REPO = Path(__file__).resolve().parents[1]
WAIT = 5.0  # the most any condition below may take; they all take far less


@pytest.fixture
def store(store):
    """The order store with empty inbox and outbox tables. On PostgreSQL, in a schema of
    its own: the test database is shared, and another run's outbox sender sweeps every
    pending row it can see (and its fixtures empty the tables)."""
    if store.engine.dialect.name != "postgresql":
        tables.metadata.create_all(store.engine)
        yield store
        return
    schema = f"test_durable_{uuid.uuid4().hex[:12]}"
    with store.engine.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    url = sa.engine.make_url(store.url).update_query_dict({"options": f"-csearch_path={schema}"})
    isolated = OrderStore(str(url))
    tables.metadata.create_all(isolated.engine)
    try:
        yield isolated
    finally:
        isolated.dispose()
        with store.engine.begin() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))


def new(customer: str, key: str, kind: str = "whatsapp") -> NewItem:
    return NewItem(kind, customer, key, {"key": key})


def keys(items: list[InboxItem]) -> list[str]:
    return [item.dedupe_key for item in items]


def rows(store: OrderStore, table: sa.Table) -> list[dict]:
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(sa.select(table).order_by(table.c.id)).mappings()]


def backdate(store: OrderStore, table: sa.Table, row_id: int, **ages: timedelta) -> None:
    """Move a row's timestamps (column=age) into the past."""
    values = {column: utcnow() - age for column, age in ages.items()}
    with store.engine.begin() as conn:
        conn.execute(table.update().where(table.c.id == row_id).values(**values))


async def eventually(check, timeout: float = WAIT) -> None:
    """Wait for `check()` (a coroutine function) to hold."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        assert asyncio.get_running_loop().time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


# -- inbox ------------------------------------------------------------------------------


async def test_add_dedupes_by_key(store):
    inbox = Inbox(store.engine)
    await inbox.add([new("A", "wamid.1")])
    await inbox.add([NewItem("whatsapp", "A", "wamid.1", {"key": "redelivered"})])
    [row] = rows(store, inbox_table)
    assert json.loads(row["payload"]) == {"key": "wamid.1"}
    assert row["status"] == "pending"


async def test_concurrent_adds_of_one_key_leave_one_row(store):
    inbox = Inbox(store.engine)
    await asyncio.gather(*(inbox.add([new("A", "wamid.1")]) for _ in range(20)))
    assert len(rows(store, inbox_table)) == 1
    assert (await inbox.stats())["pending"] == 1


async def test_adds_during_a_write_go_together_each_with_its_own_answer(store, monkeypatch):
    inbox = Inbox(store.engine)
    transactions = []
    write = inbox._tables.write

    def counted(fn, *args):
        transactions.append(fn)
        return write(fn, *args)

    monkeypatch.setattr(inbox._tables, "write", counted)
    await inbox.add([new("A", "wamid.0")])
    adds = [inbox.add([new(f"C{n % 7}", f"wamid.{n}")]) for n in range(40)]
    answers = await asyncio.gather(*adds)
    assert answers == [0] + [1] * 39  # wamid.0 was there already
    assert len(transactions) < 1 + 40  # grouped: far fewer transactions than adds
    stored = rows(store, inbox_table)
    assert [row["dedupe_key"] for row in stored] == [f"wamid.{n}" for n in range(40)]


async def test_an_add_the_database_refuses_fails_alone(store):
    inbox = Inbox(store.engine)
    unstorable = NewItem("whatsapp", "B", "wamid.bad", {"not json": object()})
    answers = await asyncio.gather(
        inbox.add([new("A", "wamid.1")]),
        inbox.add([unstorable]),
        inbox.add([new("C", "wamid.2")]),
        return_exceptions=True,
    )
    assert answers[0] == 1 and answers[2] == 1
    assert isinstance(answers[1], TypeError)
    assert [row["dedupe_key"] for row in rows(store, inbox_table)] == ["wamid.1", "wamid.2"]


def test_a_statement_the_database_refuses_is_reported_without_the_customers_data(store):
    row = {"kind": "whatsapp", "customer_id": "919812345678", "dedupe_key": "wamid.x",
           "payload": '{"text": "my address is 12 MG Road"}', "status": "pending",
           "attempts": 0, "claims": 0, "received_at": utcnow()}
    with store.engine.begin() as conn:
        conn.execute(inbox_table.insert().values(**row))
    with pytest.raises(sa.exc.IntegrityError) as refused:  # the same key again
        with store.engine.begin() as conn:
            conn.execute(inbox_table.insert().values(**row))
    assert "919812345678" not in str(refused.value) and "MG Road" not in str(refused.value)


async def test_claim_takes_each_customers_oldest_item(store):
    inbox = Inbox(store.engine)
    await inbox.add([new(customer, f"{customer}{n}") for n in (1, 2, 3) for customer in "AB"])
    first = await inbox.claim("c1", 10)
    assert keys(first) == ["A1", "B1"]
    assert all(item.claims == 1 and not item.retried for item in first)
    assert await inbox.claim("c2", 10) == []  # both heads are leased
    assert await inbox.done(first[0])
    assert keys(await inbox.claim("c2", 10)) == ["A2"]


async def test_expired_lease_is_taken_over_and_the_old_holder_is_fenced(store):
    inbox = Inbox(store.engine, lease=0.2)
    await inbox.add([new("A", "A1")])
    [held] = await inbox.claim("dead", 10)
    assert await inbox.claim("alive", 10) == []
    await asyncio.sleep(0.3)
    [taken] = await inbox.claim("alive", 10)
    assert taken.id == held.id and taken.claims == 2 and taken.retried
    assert not await inbox.done(held)
    assert await inbox.done(taken)
    assert rows(store, inbox_table)[0]["status"] == "done"


async def test_release_frees_only_that_consumers_leases(store):
    inbox = Inbox(store.engine)
    await inbox.add([new("A", "A1"), new("B", "B1")])
    assert keys(await inbox.claim("rasa-1", 1)) == ["A1"]
    assert keys(await inbox.claim("rasa-10", 1)) == ["B1"]
    assert await inbox.release("rasa-1") == 1
    assert keys(await inbox.claim("other", 10)) == ["A1"]  # B1 is still rasa-10's


async def test_release_treats_the_name_literally(store):
    inbox = Inbox(store.engine)
    await inbox.add([new("A", "A1"), new("B", "B1")])
    await inbox.claim("rasa_1", 1)
    await inbox.claim("rasa-1", 1)
    assert await inbox.release("rasa_1") == 1


async def test_failed_item_is_retried_after_a_delay(store):
    inbox = Inbox(store.engine)
    await inbox.add([new("A", "A1"), new("A", "A2")])
    [item] = await inbox.claim("c1", 10)
    assert not await inbox.failed(item, "RuntimeError: action server down")
    assert await inbox.claim("c1", 10) == []  # neither it nor the customer's next item
    stats = await inbox.stats()
    assert stats["pending"] == 2 and stats["in_flight"] == 0 and stats["parked"] == 0
    await asyncio.sleep(0.35)  # RETRY_BASE_SECONDS is 0.25
    [again] = await inbox.claim("c1", 10)
    assert again.id == item.id and again.attempts == 1 and again.retried


async def test_poison_item_is_parked_and_the_next_one_goes_ahead(store):
    inbox = Inbox(store.engine, max_attempts=2)
    await inbox.add([new("A", "A1"), new("A", "A2")])
    [item] = await inbox.claim("c1", 10)
    assert not await inbox.failed(item, "ValueError: first")
    await asyncio.sleep(0.35)
    [item] = await inbox.claim("c1", 10)
    assert await inbox.failed(item, "ValueError: bad payload")
    [parked] = await inbox.parked()
    assert (parked.id, parked.kind, parked.customer_id) == (item.id, "whatsapp", "A")
    assert parked.attempts == 2 and parked.last_error == "ValueError: bad payload"
    stats = await inbox.stats()
    assert stats["parked"] == 1 and stats["pending"] == 1
    assert keys(await inbox.claim("c1", 10)) == ["A2"]


async def test_retry_puts_parked_items_back(store):
    inbox = Inbox(store.engine, max_attempts=1)
    await inbox.add([new("A", "A1"), new("B", "B1")])
    first, second = await inbox.claim("c1", 10)
    assert await inbox.failed(first, "boom") and await inbox.failed(second, "boom")
    assert await inbox.claim("c1", 10) == []

    assert await inbox.retry([first.id]) == 1
    assert [item.id for item in await inbox.parked()] == [second.id]
    [again] = await inbox.claim("c1", 10)
    assert again.id == first.id and again.attempts == 0

    assert await inbox.retry(None) == 1
    assert await inbox.parked() == []
    assert (await inbox.stats())["parked"] == 0
    assert keys(await inbox.claim("c1", 10)) == ["B1"]


async def test_stats_report_depth_age_and_in_flight(store):
    inbox = Inbox(store.engine)
    assert await inbox.stats() == {
        "pending": 0,
        "oldest_pending_seconds": 0.0,
        "parked": 0,
        "in_flight": 0,
    }
    await inbox.add([new("A", "A1"), new("A", "A2"), new("B", "B1")])
    oldest = rows(store, inbox_table)[0]
    backdate(store, inbox_table, oldest["id"], received_at=timedelta(hours=1))
    stats = await inbox.stats()
    assert stats["pending"] == 3 and stats["in_flight"] == 0
    assert 3600 <= stats["oldest_pending_seconds"] < 3700
    await inbox.claim("c1", 1)
    assert (await inbox.stats())["in_flight"] == 1


async def test_a_retried_item_waits_while_a_later_one_of_its_customer_is_in_flight(store):
    inbox = Inbox(store.engine, max_attempts=1)
    await inbox.add([new("A", "poison"), new("A", "later")])
    [poison] = await inbox.claim("c1", 10)
    assert await inbox.failed(poison, "boom")  # parked
    [later] = await inbox.claim("c1", 10)
    assert await inbox.retry() == 1
    assert await inbox.claim("c2", 10) == []  # one item of a customer at a time
    assert await inbox.done(later)
    [again] = await inbox.claim("c2", 10)
    assert again.dedupe_key == "poison"


async def test_purge_deletes_only_old_done_items(store):
    inbox = Inbox(store.engine, max_attempts=1)
    await inbox.add([new("A", "old"), new("B", "recent"), new("C", "poison"), new("D", "new")])
    old, recent, poison, _ = await inbox.claim("c1", 10)
    assert await inbox.done(old) and await inbox.done(recent)
    assert await inbox.failed(poison, "boom")
    for item in (old, poison):
        backdate(store, inbox_table, item.id, finished_at=timedelta(days=9))
    assert await inbox.purge() == 1  # done, and older than eight days
    assert [row["dedupe_key"] for row in rows(store, inbox_table)] == ["recent", "poison", "new"]
    assert await inbox.purge(timedelta(0)) == 1
    assert [row["dedupe_key"] for row in rows(store, inbox_table)] == ["poison", "new"]


async def test_outbox_purge_forgets_only_old_sent_messages(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "old"}])
    await outbox.add("B", "whatsapp", "turn:2", [{"text": "given up"}])
    await outbox.add("C", "whatsapp", "turn:3", [{"text": "waiting"}])
    old, given_up, _ = await outbox.claim("s1", 10)
    assert await outbox.sent(old, ["wamid.old"])
    assert await outbox.failed(given_up, "blocked", permanent=True, message_ids=[])
    backdate(store, outbox_table, old.id, sent_at=timedelta(days=31))
    assert await outbox.purge() == 1
    assert sorted(row["status"] for row in rows(store, outbox_table)) == ["failed", "pending"]


async def test_concurrent_claims_never_share_an_item_or_a_customer(store):
    inbox = Inbox(store.engine)
    customers = [f"91980000000{n}" for n in range(8)]
    await inbox.add([new(c, f"{c}/{n}") for n in range(3) for c in customers])
    handled: list[str] = []
    for _ in range(10):
        claims = await asyncio.gather(*(inbox.claim(f"consumer-{n}", 3) for n in range(4)))
        claimed = [item for items in claims for item in items]
        if not claimed:
            break
        assert len({item.id for item in claimed}) == len(claimed)
        assert len({item.customer_id for item in claimed}) == len(claimed)
        assert all(await asyncio.gather(*(inbox.done(item) for item in claimed)))
        handled += keys(claimed)
    assert sorted(handled) == sorted(f"{c}/{n}" for n in range(3) for c in customers)
    for customer in customers:  # each customer's items in order
        mine = [key for key in handled if key.startswith(f"{customer}/")]
        assert mine == [f"{customer}/{n}" for n in range(3)]


async def test_add_in_commits_and_rolls_back_with_the_callers_transaction(store):
    inbox = Inbox(store.engine)
    await inbox.prepare()
    with pytest.raises(RuntimeError):
        with store.engine.begin() as conn:
            inbox.add_in(conn, [new("A", "rolled-back")])
            raise RuntimeError("the event's transaction failed")
    assert rows(store, inbox_table) == []
    with store.engine.begin() as conn:
        inbox.add_in(conn, [new("A", "committed")])
    assert [row["dedupe_key"] for row in rows(store, inbox_table)] == ["committed"]


async def test_add_in_refuses_before_the_tables_are_prepared(store):
    """Tables created inside a caller's transaction would go with its rollback."""
    tables.metadata.drop_all(store.engine)  # a database the inbox never saw
    inbox = Inbox(store.engine)
    with pytest.raises(RuntimeError, match="prepare"):
        with store.engine.begin() as conn:
            inbox.add_in(conn, [new("A", "too early")])
    await inbox.prepare()
    with store.engine.begin() as conn:
        inbox.add_in(conn, [new("A", "prepared")])
    await inbox.add([new("A", "next")])
    assert (await inbox.stats())["pending"] == 2


# -- outbox -----------------------------------------------------------------------------


def texts(messages) -> list[str]:
    return [m.message["text"] for m in messages]


async def test_outbox_keeps_a_sources_messages_once_and_never_drops_new_ones(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "hi"}, {"text": "menu"}])
    # The same turn run again (a crash before Rasa saved it): what it said again is kept
    # once; what it says differently this time is kept too.
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "menu"}, {"text": "pay now"}])
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "hi"}, {"text": "menu"}])
    # Rasa stamps each response with the time: the same response of a later run is the same.
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "hi", "timestamp": 1764550000.5}])
    # Repeated content within one run is two messages.
    await outbox.add("A", "whatsapp", "turn:2", [{"text": "ok"}, {"text": "ok"}])
    recorded = rows(store, outbox_table)
    assert [json.loads(r["message"])["text"] for r in recorded] == [
        "hi", "menu", "pay now", "ok", "ok"
    ]
    assert all(r["status"] == "pending" for r in recorded)


async def finish_turn(inbox: Inbox, outbox: Outbox, item: InboxItem, replies, sender: str):
    """What `Durable.finish_turn` does: the item done, its replies recorded and claimed."""
    lease = Outbox.lease_for(sender)

    def queue(conn):
        source = f"inbox:{item.id}"
        return outbox.queue_in(conn, item.customer_id, "whatsapp", source, replies, lease, 32)

    return lease, *await inbox.done_with(item, queue)


async def test_a_turns_replies_are_recorded_with_its_item_done_and_claimed_for_sending(store):
    inbox, outbox = Inbox(store.engine), Outbox(store.engine)
    await inbox.add([new("A", "wamid.1")])
    [item] = await inbox.claim("rasa", 10)
    replies = [{"text": "ok"}, {"text": "ok"}, {"text": "menu"}]
    lease, held, claimed = await finish_turn(inbox, outbox, item, replies, "rasa")
    assert held and texts(claimed) == ["ok", "ok", "menu"]
    assert {row.lease for row in claimed} == {lease}  # the caller sends them, unclaimed again
    assert rows(store, inbox_table)[0]["status"] == "done"
    assert await outbox.claim("other sender", 32) == []
    # Recorded again by a retry (the saved turn's replies): the same keys, kept once.
    await outbox.add("A", "whatsapp", f"inbox:{item.id}", replies)
    assert len(rows(store, outbox_table)) == 3


async def test_a_turn_taken_over_records_nothing(store):
    inbox, outbox = Inbox(store.engine, lease=0.05), Outbox(store.engine)
    await inbox.add([new("A", "wamid.1")])
    [slow] = await inbox.claim("rasa-1", 10)
    await asyncio.sleep(0.1)
    [taken] = await inbox.claim("rasa-2", 10)
    _, held, claimed = await finish_turn(inbox, outbox, slow, [{"text": "x"}], "rasa-1")
    assert (held, claimed) == (False, None)
    assert rows(store, outbox_table) == []  # the new holder records the turn's replies
    assert rows(store, inbox_table)[0]["lease_owner"] == taken.lease


async def test_a_turns_replies_wait_behind_what_another_sender_holds(store):
    inbox, outbox = Inbox(store.engine), Outbox(store.engine)
    await outbox.add("A", "whatsapp", "earlier", [{"text": "first"}])
    [sending] = await outbox.claim("front door", 32)
    await inbox.add([new("A", "wamid.1")])
    [item] = await inbox.claim("rasa", 10)
    _, held, claimed = await finish_turn(inbox, outbox, item, [{"text": "then"}], "rasa")
    assert held and claimed == []  # never sent before the message ahead of it
    assert await outbox.sent(sending, ["wamid.first"])
    assert texts(await outbox.claim("front door", 32)) == ["then"]


async def test_outbox_claims_each_customers_head_in_order(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:a", [{"text": "a1"}, {"text": "a2"}])
    await outbox.add("B", "whatsapp", "turn:b", [{"text": "b1"}])
    first = await outbox.claim("s1", 32)
    assert texts(first) == ["a1", "b1"]
    assert await outbox.claim("s2", 32) == []
    await outbox.sent(first[0], ["wamid.a1"])
    assert texts(await outbox.claim("s2", 32, customer_id="B")) == []  # B1 is still leased
    assert texts(await outbox.claim("s2", 32)) == ["a2"]


async def test_a_customers_claim_takes_their_messages_in_order_in_one_go(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:a", [{"text": "a1"}, {"text": "a2"}])
    await outbox.add("B", "whatsapp", "turn:b", [{"text": "b1"}])
    await outbox.add("A", "whatsapp", "turn:a2", [{"text": "a3"}])
    claimed = await outbox.claim("s1", 32, customer_id="A")
    assert texts(claimed) == ["a1", "a2", "a3"]
    assert len({row.lease for row in claimed}) == 1
    # The customer is busy: nobody else takes A's messages, B's head is free.
    assert texts(await outbox.claim("s2", 32)) == ["b1"]
    # Not sent behind a failure: the rest is given back, and waits for the failed one.
    await outbox.sent(claimed[0], ["w1"])
    await outbox.failed(claimed[1], "Graph API 503", permanent=False, message_ids=[])
    await outbox.release_unsent(claimed[2:])
    assert await outbox.claim("s2", 32, customer_id="A") == []
    state = {
        json.loads(r["message"])["text"]: (r["status"], r["lease_owner"])
        for r in rows(store, outbox_table)
    }
    assert state["a2"] == state["a3"] == ("pending", None)


async def test_renewing_a_claim_fails_once_part_of_it_was_taken_over(store, monkeypatch):
    monkeypatch.setattr(durable.outbox, "SEND_LEASE", timedelta(seconds=0.2))
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:a", [{"text": f"a{n}"} for n in (1, 2, 3)])
    held = await outbox.claim("slow", 32, customer_id="A")
    assert await outbox.renew(held)
    await asyncio.sleep(0.3)  # the lease ran out: another sender takes the head
    [taken] = await outbox.claim("other", 32)
    assert taken.id == held[0].id
    assert not await outbox.renew(held)
    assert await outbox.renew([taken])


async def test_a_customers_claim_respects_its_limit(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:a", [{"text": f"a{n}"} for n in range(5)])
    assert texts(await outbox.claim("s1", 2, customer_id="A")) == ["a0", "a1"]
    assert await outbox.claim("s2", 32, customer_id="A") == []


async def test_sent_records_message_ids_and_parts(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "cart"}])
    [row] = await outbox.claim("s1", 32)
    await outbox.sent(row, ["wamid.1", "wamid.2"])
    [recorded] = rows(store, outbox_table)
    assert recorded["status"] == "sent" and recorded["sent_at"] is not None
    assert recorded["parts_sent"] == 2
    assert json.loads(recorded["message_ids"]) == ["wamid.1", "wamid.2"]
    assert recorded["lease_owner"] is None


async def test_transient_send_failure_is_retried_later_keeping_sent_parts(store, monkeypatch):
    monkeypatch.setattr(durable.outbox, "RETRY_BASE_SECONDS", 0.2)
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "cart"}, {"text": "next"}])
    [row] = await outbox.claim("s1", 32)
    assert not await outbox.failed(row, "Graph API 503", permanent=False, message_ids=["w1"])
    assert await outbox.claim("s1", 32) == []  # neither it nor the customer's next message
    await asyncio.sleep(0.3)
    [again] = await outbox.claim("s1", 32)
    assert again.id == row.id and again.attempts == 1
    assert again.parts_sent == 1 and again.message_ids == ("w1",)
    await outbox.sent(again, ["w2"])
    recorded = rows(store, outbox_table)[0]
    assert recorded["parts_sent"] == 2 and json.loads(recorded["message_ids"]) == ["w1", "w2"]
    assert recorded["last_error"] == "Graph API 503"


async def test_permanent_send_failure_gives_up_and_unblocks_the_customer(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "late"}, {"text": "later"}])
    [row] = await outbox.claim("s1", 32)
    assert await outbox.failed(row, "window closed", permanent=True, message_ids=[])
    assert rows(store, outbox_table)[0]["status"] == "failed"
    assert texts(await outbox.claim("s1", 32)) == ["later"]
    assert (await outbox.stats())["failed"] == 1


async def test_send_failing_a_day_after_the_message_gives_up(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "turn:1", [{"text": "old"}])
    [row] = await outbox.claim("s1", 32)
    backdate(store, outbox_table, row.id, created_at=timedelta(hours=25))
    assert await outbox.failed(row, "Graph API 503", permanent=False, message_ids=[])
    assert rows(store, outbox_table)[0]["status"] == "failed"


async def test_confirmation_recorded_while_pending_or_sent(store):
    outbox = Outbox(store.engine)
    assert not await outbox.confirmation_recorded(1001)
    await outbox.add("A", "whatsapp", "payment:1", [{"text": "paid"}], confirms_order=1001)
    await outbox.add("B", "whatsapp", "payment:2", [{"text": "paid"}], confirms_order=1002)
    assert await outbox.confirmation_recorded(1001)
    first, second = await outbox.claim("s1", 32)
    await outbox.sent(first, ["w1"])
    await outbox.failed(second, "blocked number", permanent=True, message_ids=[])
    assert await outbox.confirmation_recorded(1001)
    assert not await outbox.confirmation_recorded(1002)
    assert not await outbox.confirmation_recorded(1003)


# -- sender -----------------------------------------------------------------------------


class FakeChannel:
    """A ReportingOutputChannel: a message {"text": t, "parts": n} goes out as n parts
    with ids "t/0" ... ; `failures[t]` are raised by t's next deliveries, in turn."""

    def __init__(self, failures: dict[str, list[DeliveryFailed]] | None = None) -> None:
        self.calls: list[tuple[str, str, int]] = []
        self.failures = failures or {}

    async def deliver(self, recipient_id: str, message: dict, skip: int = 0) -> list[str]:
        text = message["text"]
        self.calls.append((recipient_id, text, skip))
        if self.failures.get(text):
            raise self.failures[text].pop(0)
        return [f"{text}/{part}" for part in range(skip, message.get("parts", 1))]


def sender_for(store: OrderStore, channel: FakeChannel | None) -> OutboxSender:
    return OutboxSender(Outbox(store.engine), lambda name: channel, store, "test-sender")


def sent_ids(store: OrderStore) -> dict[str, list[str] | None]:
    """Each outbox message's ids, None while it is not sent."""
    return {
        json.loads(r["message"])["text"]: (
            json.loads(r["message_ids"]) if r["status"] == "sent" else None
        )
        for r in rows(store, outbox_table)
    }


async def test_flush_sends_one_customers_messages_in_order(store):
    channel = FakeChannel()
    sender = sender_for(store, channel)
    await sender.outbox.add("A", "whatsapp", "turn:a", [{"text": "a1", "parts": 2}, {"text": "a2"}])
    await sender.outbox.add("A", "whatsapp", "turn:a2", [{"text": "a3"}])
    await sender.outbox.add("B", "whatsapp", "turn:b", [{"text": "b1"}])
    await sender.flush("A")
    assert channel.calls == [("A", "a1", 0), ("A", "a2", 0), ("A", "a3", 0)]
    assert sent_ids(store) == {"a1": ["a1/0", "a1/1"], "a2": ["a2/0"], "a3": ["a3/0"], "b1": None}
    await sender.flush()
    assert channel.calls[-1] == ("B", "b1", 0)
    assert sent_ids(store)["b1"] == ["b1/0"]


async def test_transient_failure_holds_the_customer_and_resends_only_the_rest(store, monkeypatch):
    monkeypatch.setattr(durable.outbox, "RETRY_BASE_SECONDS", 0.5)
    channel = FakeChannel({"a1": [DeliveryFailed("Graph API 503", message_ids=["a1/0"])]})
    sender = sender_for(store, channel)
    await sender.outbox.add("A", "whatsapp", "turn:a", [{"text": "a1", "parts": 3}, {"text": "a2"}])
    await sender.outbox.add("B", "whatsapp", "turn:b", [{"text": "b1"}])
    await sender.flush()
    await sender.flush()  # too early: the retry is not due
    assert sorted(channel.calls) == [("A", "a1", 0), ("B", "b1", 0)]
    assert sent_ids(store) == {"a1": None, "a2": None, "b1": ["b1/0"]}
    assert rows(store, outbox_table)[0]["parts_sent"] == 1
    await asyncio.sleep(0.6)
    await sender.flush()
    assert channel.calls[2:] == [("A", "a1", 1), ("A", "a2", 0)]
    assert sent_ids(store) == {"a1": ["a1/0", "a1/1", "a1/2"], "a2": ["a2/0"], "b1": ["b1/0"]}


async def test_a_failure_inside_a_customers_batch_stops_their_later_messages(
    store, monkeypatch
):
    monkeypatch.setattr(durable.outbox, "RETRY_BASE_SECONDS", 0.3)
    channel = FakeChannel({"a2": [DeliveryFailed("Graph API 503")]})
    sender = sender_for(store, channel)
    await sender.outbox.add("A", "whatsapp", "turn:a", [{"text": f"a{n}"} for n in (1, 2, 3)])
    await sender.flush("A")
    assert channel.calls == [("A", "a1", 0), ("A", "a2", 0)]
    assert sent_ids(store) == {"a1": ["a1/0"], "a2": None, "a3": None}
    await sender.flush()  # the sweep: a3 still waits behind a2
    assert len(channel.calls) == 2
    await asyncio.sleep(0.4)
    await sender.flush()
    assert channel.calls[2:] == [("A", "a2", 0), ("A", "a3", 0)]
    assert sent_ids(store) == {"a1": ["a1/0"], "a2": ["a2/0"], "a3": ["a3/0"]}


class SlowChannel(FakeChannel):
    """Meta answering each send after `seconds` (retries inside the client)."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds = seconds
        self.sending = asyncio.Event()

    async def deliver(self, recipient_id: str, message: dict, skip: int = 0) -> list[str]:
        self.sending.set()
        await asyncio.sleep(self.seconds)
        return await super().deliver(recipient_id, message, skip)


async def test_slow_sends_keep_their_claim_so_another_sender_never_repeats_them(
    store, monkeypatch
):
    # A claim of six messages sent in 1.2 s, on a lease of 0.4 s, while a second sender
    # sweeps: the first renews the claim as it goes, and each message goes out once.
    monkeypatch.setattr(durable.outbox, "SEND_LEASE", timedelta(seconds=0.4))
    monkeypatch.setattr(durable.sender, "RENEW_AFTER_SECONDS", 0.1)
    channel = SlowChannel(0.2)
    first = sender_for(store, channel)
    second = OutboxSender(Outbox(store.engine), lambda name: channel, store, "second-sender")
    await first.outbox.add("A", "whatsapp", "turn:a", [{"text": f"a{n}"} for n in range(6)])
    sending = asyncio.create_task(first.flush("A"))
    await asyncio.wait_for(channel.sending.wait(), WAIT)  # the first sender holds the claim
    while not sending.done():
        await second.flush()
        await asyncio.sleep(0.05)
    await sending
    assert channel.calls == [("A", f"a{n}", 0) for n in range(6)]
    assert sent_ids(store) == {f"a{n}": [f"a{n}/0"] for n in range(6)}


async def test_confirmation_is_recorded_only_after_delivery(store, monkeypatch):
    monkeypatch.setattr(durable.outbox, "RETRY_BASE_SECONDS", 0.2)
    order = await place_order(store)
    channel = FakeChannel({"paid": [DeliveryFailed("Graph API 503")]})
    sender = sender_for(store, channel)
    await sender.outbox.add(
        order.customer_id, "whatsapp", "payment:1", [{"text": "paid"}], confirms_order=order.number
    )
    await sender.flush()
    assert len(channel.calls) == 1
    assert (await store.get(order.number)).confirmation_sent_at is None
    assert await sender.outbox.confirmation_recorded(order.number)  # still to be sent
    await asyncio.sleep(0.3)
    await sender.flush()
    assert len(channel.calls) == 2
    assert (await store.get(order.number)).confirmation_sent_at is not None


async def test_confirmation_refused_for_good_is_never_recorded(store):
    order = await place_order(store)
    channel = FakeChannel({"paid": [DeliveryFailed("window closed", permanent=True)]})
    sender = sender_for(store, channel)
    await sender.outbox.add(
        order.customer_id, "whatsapp", "payment:1", [{"text": "paid"}], confirms_order=order.number
    )
    await sender.flush()
    assert (await store.get(order.number)).confirmation_sent_at is None
    assert not await sender.outbox.confirmation_recorded(order.number)
    assert rows(store, outbox_table)[0]["status"] == "failed"


async def test_message_for_a_channel_without_push_is_logged_and_marked_sent(store, caplog):
    asked: list[str | None] = []
    sender = OutboxSender(
        Outbox(store.engine), lambda name: asked.append(name), store, "test-sender"
    )
    await sender.outbox.add("A", "rest", "turn:1", [{"text": "hello"}])
    with caplog.at_level(logging.INFO, logger="durable.sender"):
        await sender.flush()
    assert asked == ["rest"]
    assert sent_ids(store) == {"hello": []}
    assert "no push channel" in caplog.text and "hello" in caplog.text


async def test_a_server_leaves_messages_for_channels_it_cannot_push_to(store):
    """A process without the customer's channel must not mark their messages sent."""
    sender = OutboxSender(
        Outbox(store.engine), lambda name: None, store, "test-sender", channels=lambda: []
    )
    await sender.outbox.add("A", "whatsapp", "turn:1", [{"text": "hello"}])
    await sender.flush()
    assert not sender.can_send("whatsapp")
    assert [row["status"] for row in rows(store, outbox_table)] == ["pending"]


# -- consumer ---------------------------------------------------------------------------


class Recorder:
    """A handler that logs ("start"|"end", key), holds the keys in `gates` until their
    event is set, and raises for the keys in `poison`."""

    def __init__(self, gates: dict[str, asyncio.Event] | None = None, poison=()) -> None:
        self.log: list[tuple[str, str]] = []
        self.gates = gates or {}
        self.poison = set(poison)
        self.finished: dict[str, asyncio.Event] = {}
        self.cancelled: list[str] = []

    def ended(self, key: str) -> asyncio.Event:
        return self.finished.setdefault(key, asyncio.Event())

    async def __call__(self, item: InboxItem) -> None:
        key = item.dedupe_key
        self.log.append(("start", key))
        try:
            if key in self.gates:
                await self.gates[key].wait()
        except asyncio.CancelledError:
            self.cancelled.append(key)
            raise
        self.log.append(("end", key))
        self.ended(key).set()
        if key in self.poison:
            raise RuntimeError(f"boom in {key}")

    async def wait(self, key: str) -> None:
        await asyncio.wait_for(self.ended(key).wait(), WAIT)


@pytest.fixture
async def consumers():
    """Consumers a test starts, stopped at its end unless the test stopped them."""
    started: list[InboxConsumer] = []
    yield started
    for consumer in started:
        if consumer.running:
            await consumer.stop(1.0)


def start(consumers, inbox: Inbox, handler, **options) -> InboxConsumer:
    consumer = InboxConsumer(inbox, "test-consumer", poll_seconds=0.05, **options)
    for kind in ("whatsapp", "payment"):
        consumer.handle(kind, handler)
    consumer.start()
    consumers.append(consumer)
    return consumer


async def test_consumer_routes_items_by_kind(store, consumers):
    inbox = Inbox(store.engine, max_attempts=1)
    chats, payments = Recorder(), Recorder()
    consumer = InboxConsumer(inbox, "test-consumer", poll_seconds=0.05)
    consumer.handle("whatsapp", chats)
    consumer.handle("payment", payments)
    consumers.append(consumer)
    await inbox.add([new("A", "msg"), new("B", "pay", "payment"), new("C", "fax", "fax")])
    await inbox.add([new("C", "after-fax")])
    consumer.start()
    await chats.wait("msg")
    await payments.wait("pay")
    assert chats.log == [("start", "msg"), ("end", "msg")]
    assert payments.log == [("start", "pay"), ("end", "pay")]
    # A kind it has no handler for is left for a process that has one, and that
    # customer's later items wait behind it.
    await asyncio.sleep(0.3)
    assert ("start", "after-fax") not in chats.log
    stats = await inbox.stats()
    assert (stats["pending"], stats["parked"], stats["in_flight"]) == (2, 0, 0)


async def test_an_item_written_held_is_its_writers_until_the_writer_restarts(store, consumers):
    inbox = Inbox(store.engine)
    lease = Inbox.lease_for("front-door")
    await inbox.add([new("A", "evt", "razorpay_event")], held_by=lease)
    others = Recorder()
    other = InboxConsumer(inbox, "rasa", poll_seconds=0.05)
    other.handle("razorpay_event", others, needs_ready=False)
    consumers.append(other)
    other.start()
    await asyncio.sleep(0.3)
    assert others.log == [] and (await inbox.stats())["in_flight"] == 1
    # The writer was killed before it finished: started again, it takes its items back.
    mine = Recorder()
    restarted = InboxConsumer(inbox, "front-door", poll_seconds=0.05)
    restarted.handle("razorpay_event", mine, needs_ready=False)
    consumers.append(restarted)
    restarted.start()
    async def handled() -> bool:
        return (await inbox.stats())["pending"] == 0

    await eventually(handled)
    assert len(mine.log) + len(others.log) == 2  # started and ended, by one of them


async def test_a_held_item_is_finished_or_given_back_only_under_its_lease(store):
    inbox = Inbox(store.engine)
    lease = Inbox.lease_for("front-door")
    await inbox.add([new("A", "e1", "razorpay_event"), new("B", "e2", "razorpay_event")],
                    held_by=lease)
    assert await inbox.claim("rasa", 10) == []
    assert not await inbox.finish_held("e1", Inbox.lease_for("front-door"))
    assert await inbox.finish_held("e1", lease)
    await inbox.give_back("e2", lease)
    assert keys(await inbox.claim("rasa", 10)) == ["e2"]
    assert [r["status"] for r in rows(store, inbox_table)] == ["done", "pending"]


async def test_items_that_need_no_model_are_consumed_before_it_is_ready(store, consumers):
    inbox = Inbox(store.engine)
    chats, events = Recorder(), Recorder()
    consumer = InboxConsumer(inbox, "test-consumer", poll_seconds=0.05, ready=lambda: False)
    consumer.handle("whatsapp", chats)
    consumer.handle("razorpay_event", events, needs_ready=False)
    consumers.append(consumer)
    await inbox.add([new("A", "msg"), new("B", "evt", "razorpay_event")])
    consumer.start()
    await events.wait("evt")
    await asyncio.sleep(0.2)
    assert chats.log == []


async def test_consumer_keeps_each_customers_order_and_runs_customers_concurrently(
    store, consumers
):
    inbox = Inbox(store.engine)
    gate = asyncio.Event()
    handler = Recorder(gates={"A1": gate})
    await inbox.add([new("A", "A1"), new("A", "A2"), new("B", "B1")])
    start(consumers, inbox, handler)
    await handler.wait("B1")  # while A1 is still being handled
    assert ("start", "A1") in handler.log and ("end", "A1") not in handler.log
    assert ("start", "A2") not in handler.log
    gate.set()
    await handler.wait("A2")
    log = handler.log
    assert log.index(("end", "B1")) < log.index(("end", "A1")) < log.index(("start", "A2"))

    async def all_done() -> bool:
        return (await inbox.stats())["pending"] == 0

    await eventually(all_done)


async def test_failing_handler_is_retried_then_parked_without_blocking_the_customer(
    store, consumers
):
    inbox = Inbox(store.engine, max_attempts=2)
    handler = Recorder(poison={"A1"})
    await inbox.add([new("A", "A1"), new("A", "A2")])
    start(consumers, inbox, handler)
    await handler.wait("A2")
    assert handler.log == [("start", "A1"), ("end", "A1")] * 2 + [("start", "A2"), ("end", "A2")]
    [parked] = await inbox.parked()
    assert parked.dedupe_key == "A1" and parked.attempts == 2
    assert parked.last_error == "RuntimeError: boom in A1"


async def test_a_stuck_turn_times_out_is_retried_then_parked_and_the_customer_goes_on(
    store, consumers
):
    inbox = Inbox(store.engine, max_attempts=2)
    handler = Recorder(gates={"A1": asyncio.Event()})  # A1's turn never ends
    await inbox.add([new("A", "A1"), new("A", "A2")])
    start(consumers, inbox, handler, turn_timeout=0.2)
    await handler.wait("A2")
    assert handler.cancelled == ["A1", "A1"]
    [parked] = await inbox.parked()
    assert parked.dedupe_key == "A1" and parked.attempts == 2
    assert parked.last_error == "TurnTimeout: not finished after 0.2 s (INBOX_TURN_TIMEOUT_SECONDS)"


async def test_consumer_waits_until_ready(store, consumers):
    inbox = Inbox(store.engine)
    handler = Recorder()
    is_ready = False
    asked = asyncio.Event()
    questions = 0

    def ready() -> bool:
        nonlocal questions
        questions += 1
        if questions >= 3:
            asked.set()
        return is_ready

    await inbox.add([new("A", "A1")])
    start(consumers, inbox, handler, ready=ready)
    await asyncio.wait_for(asked.wait(), WAIT)  # three rounds of its loop, not ready
    assert handler.log == []
    assert (await inbox.stats())["in_flight"] == 0
    is_ready = True
    await handler.wait("A1")


async def test_stop_finishes_the_item_in_hand(store, consumers):
    inbox = Inbox(store.engine)
    gate = asyncio.Event()
    handler = Recorder(gates={"A1": gate})
    await inbox.add([new("A", "A1")])
    consumer = start(consumers, inbox, handler)

    async def started() -> bool:
        return ("start", "A1") in handler.log

    await eventually(started)
    stopping = asyncio.create_task(consumer.stop(grace=WAIT))
    await asyncio.sleep(0.05)
    assert not stopping.done()  # waiting for A1
    gate.set()
    await asyncio.wait_for(stopping, WAIT)
    assert not consumer.running
    assert handler.log == [("start", "A1"), ("end", "A1")]
    assert [row["status"] for row in rows(store, inbox_table)] == ["done"]


async def test_stop_gives_back_what_outlasts_the_grace_period(store, consumers):
    inbox = Inbox(store.engine)
    handler = Recorder(gates={"A1": asyncio.Event()})  # never set: a turn that hangs
    await inbox.add([new("A", "A1")])
    consumer = start(consumers, inbox, handler)

    async def started() -> bool:
        return ("start", "A1") in handler.log

    await eventually(started)
    await asyncio.wait_for(consumer.stop(grace=0.2), WAIT)
    assert handler.cancelled == ["A1"]
    [row] = rows(store, inbox_table)
    assert row["status"] == "pending" and row["lease_owner"] is None
    assert keys(await Inbox(store.engine).claim("next-consumer", 10)) == ["A1"]


async def test_stop_after_a_stop_that_ran_out_of_grace_is_harmless(store, consumers):
    inbox = Inbox(store.engine)
    handler = Recorder(gates={"A1": asyncio.Event()})
    await inbox.add([new("A", "A1")])
    consumer = start(consumers, inbox, handler)

    async def started() -> bool:
        return ("start", "A1") in handler.log

    await eventually(started)
    await consumer.stop(grace=0.1)
    await consumer.stop(grace=0.1)


class WatchedInbox(Inbox):
    """An inbox that says when a claim came back empty."""

    def __init__(self, engine) -> None:
        super().__init__(engine)
        self.idle = asyncio.Event()

    async def claim(self, consumer: str, limit: int, kinds=None) -> list[InboxItem]:
        items = await super().claim(consumer, limit, kinds)
        if not items:
            self.idle.set()
        return items


async def test_wake_makes_the_consumer_claim_at_once(store, consumers):
    inbox = WatchedInbox(store.engine)
    handler = Recorder()
    consumer = InboxConsumer(inbox, "test-consumer", poll_seconds=60)
    consumer.handle("whatsapp", handler)
    consumers.append(consumer)
    consumer.start()
    await asyncio.wait_for(inbox.idle.wait(), WAIT)  # found nothing: asleep for a minute
    await inbox.add([new("A", "A1")])
    assert (await inbox.stats())["in_flight"] == 0
    consumer.wake()
    await handler.wait("A1")


async def test_a_front_door_coalesces_wake_ups_and_never_loses_the_last(store, monkeypatch):
    from types import SimpleNamespace

    from aiohttp import web

    from durable.service import FRONT_DOOR, WAKE_PATH, Durable

    posts: list[float] = []
    release = asyncio.Event()

    async def wake(request: web.Request) -> web.Response:
        posts.append(asyncio.get_running_loop().time())
        await release.wait()  # the Rasa server is slow to answer
        return web.Response(status=204)

    app = web.Application()
    app.add_routes([web.post(WAKE_PATH, wake)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    monkeypatch.setenv("INBOX_WAKE_URLS", f"http://127.0.0.1:{port}")
    durable = Durable(SimpleNamespace(ctx=SimpleNamespace(role=FRONT_DOOR)), store)
    try:
        for _ in range(50):  # fifty payments recorded while the first wake-up is answered
            durable.wake()
        await asyncio.sleep(0.2)
        assert len(posts) == 1
        release.set()
        await asyncio.sleep(0.2)
        # One more after the first: it covers everything written while it was in flight.
        assert len(posts) == 2
        durable.wake()
        await asyncio.sleep(0.2)
        assert len(posts) == 3
    finally:
        durable._started = True
        await durable.stop()
        await runner.cleanup()


# -- make inbox -------------------------------------------------------------------------


async def inbox_cli(database_url: str, *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.inbox_cli",
        *args,
        cwd=REPO,
        env={**os.environ, "DATABASE_URL": database_url},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode, out.decode(), err.decode()


async def test_inbox_cli_lists_and_retries_parked_items(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = OrderStore(url)
    try:
        inbox = Inbox(store.engine, max_attempts=1)
        await inbox.add([new("919812345678", "wamid.poison"), new("919800000000", "wamid.ok")])
        poison, ok = await inbox.claim("c1", 10)
        assert await inbox.failed(poison, "ValueError: unreadable payload")
        assert await inbox.done(ok)

        code, out, err = await inbox_cli(url)
        assert code == 0, err
        report = json.loads(out[: out.index("\n}") + 2])
        assert report["inbox"]["parked"] == 1 and report["inbox"]["pending"] == 0
        assert "1 parked item(s)" in out
        [line] = [line for line in out.splitlines() if line.strip().startswith(f"#{poison.id}")]
        assert "919812345678" in line and "wamid.poison" in line
        assert "after 1 attempt(s): ValueError: unreadable payload" in line

        code, out, err = await inbox_cli(url, "--retry", "x")
        assert code == 2
        assert "--retry takes ids (numbers) or 'all'" in err
        assert [row["status"] for row in rows(store, inbox_table)] == ["parked", "done"]

        code, out, err = await inbox_cli(url, "--retry", "all")
        assert code == 0, err
        assert "1 parked item(s) back in the queue" in out
        retried = rows(store, inbox_table)[0]
        assert retried["status"] == "pending" and retried["attempts"] == 0
        assert keys(await inbox.claim("c1", 10)) == ["wamid.poison"]
    finally:
        store.dispose()


async def test_inbox_cli_sends_messages_given_up_on_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    store = OrderStore(url)
    try:
        outbox = Outbox(store.engine)
        await outbox.add("919812345678", "whatsapp", "turn:a", [{"text": "a1"}])
        await outbox.add("919800000000", "whatsapp", "turn:b", [{"text": "b1"}])
        for row in await outbox.claim("s1", 32):
            await outbox.failed(row, "131047: re-engagement message", permanent=True,
                                message_ids=[])
        first, second = rows(store, outbox_table)

        code, out, err = await inbox_cli(url)
        assert code == 0, err
        assert 'make inbox RESEND="ID ..."' in out
        assert f"#{second['id']}" in out and "131047: re-engagement message" in out

        code, out, err = await inbox_cli(url, "--resend", str(first["id"]))
        assert code == 0, err
        assert "1 outbox message(s) given up on queued to send again" in out
        assert [(r["status"], r["attempts"]) for r in rows(store, outbox_table)] == [
            ("pending", 0), ("failed", 1)]
        [again] = await outbox.claim("s2", 32)
        assert again.id == first["id"] and again.message == {"text": "a1"}
    finally:
        store.dispose()


async def test_resending_skips_a_confirmation_queued_again_since(store):
    outbox = Outbox(store.engine)
    await outbox.add("A", "whatsapp", "payment:1", [{"text": "paid"}], confirms_order=1001)
    await outbox.add("B", "whatsapp", "turn:b", [{"text": "b1"}])
    for row in await outbox.claim("s1", 32):
        await outbox.failed(row, "Graph API 503", permanent=True, message_ids=[])
    # the reconciler finds order 1001 paid and unconfirmed, and queues its own
    await outbox.add("A", "whatsapp", "reconcile:1001", [{"text": "paid again"}],
                     confirms_order=1001)
    assert await outbox.resend() == 1  # b1 only
    state = {json.loads(r["message"])["text"]: r["status"] for r in rows(store, outbox_table)}
    assert state == {"paid": "failed", "b1": "pending", "paid again": "pending"}


async def test_turns_wait_in_the_inbox_while_the_action_server_is_down(store, consumers,
                                                                      monkeypatch):
    from aiohttp import web

    import durable.service
    from durable.service import ActionServerWatch, health_url

    monkeypatch.setattr(durable.service, "ACTION_HEALTH_EVERY_SECONDS", 0.05)
    answering = {"status": 200}

    async def health(request: web.Request) -> web.Response:
        return web.Response(status=answering["status"])

    app = web.Application()
    app.add_routes([web.get("/health", health)])
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    assert health_url(f"http://127.0.0.1:{port}/webhook") == f"http://127.0.0.1:{port}/health"

    watch = ActionServerWatch(lambda: f"http://127.0.0.1:{port}/webhook")
    inbox = Inbox(store.engine)
    handler = Recorder()
    start(consumers, inbox, handler, ready=lambda: watch.up)
    watch.start()
    try:
        async def watch_says(up: bool):
            return watch.up is up

        await eventually(lambda: watch_says(True))
        await inbox.add([new("A", "A1")])
        await handler.wait("A1")

        answering["status"] = 503  # restarting
        await eventually(lambda: watch_says(False))
        await inbox.add([new("A", "A2")])
        await asyncio.sleep(0.3)
        assert ("start", "A2") not in handler.log  # waits in the inbox, not lost in a turn
        answering["status"] = 200
        await handler.wait("A2")

        await runner.cleanup()  # gone: nothing listens any more
        await eventually(lambda: watch_says(False))
    finally:
        await watch.stop()
        await runner.cleanup()
