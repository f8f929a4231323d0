"""The order store's batch queries, payments and once-per-event transactions, on a real database.

Orders are aged by writing `updated_at` / `paid_at` straight into the `orders` table.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest

from orders.store import (
    Order,
    OrderStatus,
    OrderTransaction,
    Payment,
    PaymentStatus,
    order_items,
    orders,
    utcnow,
)
from sandbox.harness.razorpay_stack import CUSTOMER, LINES, TOTAL, Line, place_order

QUIET = timedelta(minutes=10)


@dataclass(frozen=True)
class Recorded:
    """What an `apply` callable returns: the store records both fields with the event id."""

    order_number: int | None
    outcome_label: str = "applied"


def lines(tag: str, count: int) -> list[Line]:
    return [Line(f"{tag}-{i}", f"{tag} item {i}", 1000 * (i + 1), i + 1) for i in range(count)]


async def order_with(store, tag: str, count: int) -> Order:
    """An order of `count` items whose SKUs are `tag-0`, `tag-1`, ..."""
    return await store.create_order(
        CUSTOMER, "Asha Rao", "12 MG Road, Bengaluru", "560001", lines(tag, count)
    )


def skus(order: Order) -> list[str]:
    return [item.sku for item in order.items]


def numbers(found: list[Order]) -> list[int]:
    return [order.number for order in found]


def _write(store, table, where, **values) -> None:
    with store.engine.begin() as conn:
        conn.execute(table.update().where(where).values(**values))


async def set_columns(store, number: int, **values) -> None:
    await asyncio.to_thread(_write, store, orders, orders.c.number == number, **values)


async def touched(store, number: int, minutes_ago: int) -> None:
    """Pretend the order was last changed `minutes_ago`."""
    await set_columns(store, number, updated_at=utcnow() - timedelta(minutes=minutes_ago))


async def linked(store, order: Order, minutes_ago: int) -> None:
    """Give the order a payment link, last touched `minutes_ago`."""
    await store.update(order.number, payment_link_id=f"plink_{order.number}")
    await touched(store, order.number, minutes_ago)


async def paid(store, order: Order, minutes_ago: int) -> None:
    """Mark the order paid `minutes_ago`."""
    assert await store.transition(order.number, OrderStatus.PAID, payment_id=f"pay_{order.number}")
    past = utcnow() - timedelta(minutes=minutes_ago)
    await set_columns(store, order.number, paid_at=past, updated_at=past)


async def run_once(store, event_id: str, apply, event_name: str = "test.event"):
    return await store.apply_event_once(event_id, event_name, apply)


def payment(order: Order, payment_id: str = "pay_1", **fields) -> Payment:
    values = {
        "amount": order.total,
        "currency": "INR",
        "status": PaymentStatus.CAPTURED,
        "payment_link_id": "plink_1",
        "method": "upi",
        "captured_at": utcnow(),
    }
    return Payment(payment_id, order.number, **{**values, **fields})


async def three_orders(store) -> tuple[Order, Order, Order]:
    """Orders of 3, 1 and 2 items: a limit on item rows would cut the first one short."""
    return (
        await order_with(store, "a", 3),
        await order_with(store, "b", 1),
        await order_with(store, "c", 2),
    )


# -- single order lookups ---------------------------------------------------------


async def test_lookups_return_the_whole_order_with_its_items(store):
    other = await order_with(store, "other", 2)
    order = await place_order(store)
    await store.update(order.number, payment_reference="ref_1")

    for found in (
        await store.get(order.number),
        await store.latest_for_customer(CUSTOMER),
        await store.find_by_reference("ref_1"),
    ):
        assert found == replace(order, payment_reference="ref_1")
        assert skus(found) == [line.sku for line in LINES]
        assert found.total == TOTAL
    assert skus(await store.get(other.number)) == ["other-0", "other-1"]
    assert await store.find_by_reference("ref_unknown") is None


async def test_items_come_back_in_position_order_not_insertion_order(store):
    order = await order_with(store, "a", 3)
    await store.update(order.number, payment_link_id="plink_1")
    await touched(store, order.number, 30)
    order_id = await asyncio.to_thread(_order_id, store, order.number)
    for position, sku in enumerate(["a-2", "a-0", "a-1"]):
        await asyncio.to_thread(
            _write,
            store,
            order_items,
            (order_items.c.order_id == order_id) & (order_items.c.sku == sku),
            position=position,
        )

    assert skus(await store.get(order.number)) == ["a-2", "a-0", "a-1"]
    [stale] = await store.stale_pending(QUIET, limit=10)
    assert skus(stale) == ["a-2", "a-0", "a-1"]


def _order_id(store, number: int) -> int:
    with store.engine.connect() as conn:
        return conn.execute(orders.select().where(orders.c.number == number)).one().id


# -- stale_pending ----------------------------------------------------------------


async def test_stale_pending_returns_quiet_payable_linked_orders_oldest_first(store):
    newer, oldest, failed = [await place_order(store) for _ in range(3)]
    assert await store.transition(failed.number, OrderStatus.PAYMENT_FAILED)
    for order, minutes in ((newer, 20), (oldest, 50), (failed, 30)):
        await linked(store, order, minutes)

    recent = await place_order(store)
    await linked(store, recent, 2)
    without_link = await place_order(store)
    await touched(store, without_link.number, 60)
    for status in (OrderStatus.PAID, OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        done = await place_order(store)
        await store.update(done.number, payment_link_id=f"plink_{done.number}")
        assert await store.transition(done.number, status)
        await touched(store, done.number, 60)

    found = await store.stale_pending(QUIET, limit=10)
    assert numbers(found) == [oldest.number, failed.number, newer.number]
    assert [order.status for order in found] == [
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.PENDING_PAYMENT,
    ]


async def test_stale_pending_limit_counts_orders_and_keeps_their_items_whole(store):
    a, b, c = await three_orders(store)
    for order, minutes in ((a, 40), (b, 20), (c, 50)):
        await linked(store, order, minutes)

    two = await store.stale_pending(QUIET, limit=2)
    assert numbers(two) == [c.number, a.number]
    assert [skus(order) for order in two] == [["c-0", "c-1"], ["a-0", "a-1", "a-2"]]

    every = await store.stale_pending(QUIET, limit=10)
    assert [skus(order) for order in every] == [["c-0", "c-1"], ["a-0", "a-1", "a-2"], ["b-0"]]
    assert [order.total for order in every] == [c.total, a.total, b.total]


# -- unconfirmed_paid -------------------------------------------------------------


async def test_unconfirmed_paid_is_paid_within_the_window_without_a_confirmation(store):
    later = await place_order(store)
    earlier = await place_order(store)
    await paid(store, later, 5)
    await paid(store, earlier, 30)

    too_recent = await place_order(store)
    await paid(store, too_recent, 1)
    too_old = await place_order(store)
    await paid(store, too_old, 120)
    confirmed = await place_order(store)
    await paid(store, confirmed, 20)
    assert await store.mark_confirmation_sent(confirmed.number)
    not_paid = await place_order(store)
    await set_columns(store, not_paid.number, paid_at=utcnow() - timedelta(minutes=10))

    found = await store.unconfirmed_paid(
        paid_before=timedelta(minutes=2), paid_within=timedelta(minutes=60), limit=10
    )
    assert numbers(found) == [earlier.number, later.number]
    assert all(order.status is OrderStatus.PAID for order in found)


async def test_unconfirmed_paid_limit_counts_orders_and_keeps_their_items_whole(store):
    a, b, c = await three_orders(store)
    for order, minutes in ((a, 40), (b, 20), (c, 50)):
        await paid(store, order, minutes)

    two = await store.unconfirmed_paid(timedelta(minutes=2), timedelta(hours=1), limit=2)
    assert numbers(two) == [c.number, a.number]
    assert [skus(order) for order in two] == [["c-0", "c-1"], ["a-0", "a-1", "a-2"]]


async def test_a_recorded_confirmation_is_recorded_once_and_leaves_the_batch(store):
    order = await place_order(store)
    await paid(store, order, 10)
    window = (timedelta(minutes=2), timedelta(hours=1))
    assert numbers(await store.unconfirmed_paid(*window, limit=10)) == [order.number]

    assert await store.mark_confirmation_sent(order.number) is True
    sent_at = (await store.get(order.number)).confirmation_sent_at
    assert await store.mark_confirmation_sent(order.number) is False

    assert (await store.get(order.number)).confirmation_sent_at == sent_at is not None
    assert await store.unconfirmed_paid(*window, limit=10) == []


# -- paid_without_shopify ---------------------------------------------------------


async def test_paid_without_shopify_is_paid_orders_without_a_shopify_id_oldest_first(store):
    newer = await place_order(store)
    older = await place_order(store)
    await paid(store, newer, 10)
    await paid(store, older, 40)
    in_shopify = await place_order(store)
    await paid(store, in_shopify, 50)
    await store.update(in_shopify.number, shopify_order_id="gid://shopify/Order/1")
    pending = await place_order(store)
    await touched(store, pending.number, 60)

    assert numbers(await store.paid_without_shopify(limit=10)) == [older.number, newer.number]


async def test_paid_without_shopify_limit_counts_orders_and_keeps_their_items_whole(store):
    a, b, c = await three_orders(store)
    for order, minutes in ((a, 40), (b, 20), (c, 50)):
        await paid(store, order, minutes)

    two = await store.paid_without_shopify(limit=2)
    assert numbers(two) == [c.number, a.number]
    assert [skus(order) for order in two] == [["c-0", "c-1"], ["a-0", "a-1", "a-2"]]
    [first] = await store.paid_without_shopify(limit=1)
    assert skus(first) == ["c-0", "c-1"]


# -- apply_event_once -------------------------------------------------------------


async def test_apply_gets_a_transaction_and_its_result_is_returned_and_recorded(store):
    order = await place_order(store)
    seen = []

    def apply(tx):
        seen.append(tx)
        assert tx.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
        return Recorded(order.number, "paid")

    result = await run_once(store, "evt_1", apply)

    assert result == Recorded(order.number, "paid")
    assert [type(tx) for tx in seen] == [OrderTransaction]
    assert await store.event_outcome("evt_1") == "paid"
    assert (await store.get(order.number)).status is OrderStatus.PAID


async def test_a_redelivered_event_returns_none_without_calling_apply(store):
    order = await place_order(store)
    await run_once(store, "evt_1", lambda tx: Recorded(order.number, "first"))
    calls = []

    def apply(tx):
        calls.append(tx)
        return Recorded(order.number, "second")

    assert await run_once(store, "evt_1", apply) is None
    assert calls == []
    assert await store.event_outcome("evt_1") == "first"


async def test_other_event_ids_are_applied_and_recorded_separately(store):
    order = await place_order(store)
    await run_once(store, "evt_1", lambda tx: Recorded(order.number, "first"))
    assert await run_once(store, "evt_2", lambda tx: Recorded(None, "second")) == Recorded(
        None, "second"
    )
    assert await store.event_outcome("evt_1") == "first"
    assert await store.event_outcome("evt_2") == "second"
    assert await store.event_outcome("evt_never") is None


async def test_a_failing_apply_leaves_nothing_behind_and_the_event_unrecorded(store):
    order = await place_order(store)

    def apply(tx):
        assert tx.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
        tx.add_payment(payment(order))
        tx.flag(order.number, "amount differs")
        raise RuntimeError("gateway said no")

    with pytest.raises(RuntimeError, match="gateway said no"):
        await run_once(store, "evt_1", apply)

    after = await store.get(order.number)
    assert after.status is OrderStatus.PENDING_PAYMENT
    assert (after.payment_id, after.flag) == (None, None)
    assert await store.payments_of(order.number) == []
    assert await store.event_outcome("evt_1") is None


async def test_an_event_whose_apply_failed_runs_again_on_the_next_delivery(store):
    order = await place_order(store)

    def failing(tx):
        tx.flag(order.number, "first try")
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await run_once(store, "evt_1", failing)

    def working(tx):
        tx.flag(order.number, "second try")
        return Recorded(order.number, "flagged")

    assert await run_once(store, "evt_1", working) == Recorded(order.number, "flagged")
    assert (await store.get(order.number)).flag == "second try"
    assert await store.event_outcome("evt_1") == "flagged"


async def test_concurrent_deliveries_of_one_event_take_effect_once(store):
    order = await place_order(store)

    def delivery(i):
        def apply(tx):
            tx.flag(order.number, f"delivery {i}")
            tx.add_payment(payment(order, f"pay_{i}"))
            tx.transition(order.number, OrderStatus.PAID, payment_id=f"pay_{i}")
            return Recorded(order.number, f"delivery {i}")

        return apply

    results = await asyncio.gather(*(run_once(store, "evt_1", delivery(i)) for i in range(20)))

    [winner] = [result for result in results if result is not None]
    i = results.index(winner)
    after = await store.get(order.number)
    assert (after.flag, after.payment_id, after.status) == (
        f"delivery {i}",
        f"pay_{i}",
        OrderStatus.PAID,
    )
    assert [p.payment_id for p in await store.payments_of(order.number)] == [f"pay_{i}"]
    assert await store.event_outcome("evt_1") == f"delivery {i}"


# -- OrderTransaction -------------------------------------------------------------


async def test_transaction_reads_orders_by_number_and_reference_with_items(store):
    other = await order_with(store, "other", 1)
    order = await order_with(store, "mine", 3)
    await store.update(order.number, payment_reference="ref_1")
    read = {}

    def apply(tx):
        read["by_reference"] = tx.order_by_reference("ref_1")
        read["by_number"] = tx.order(order.number)
        read["other"] = tx.order(other.number)
        read["unknown"] = (tx.order(1), tx.order_by_reference("ref_unknown"))
        return Recorded(order.number)

    await run_once(store, "evt_1", apply)

    assert read["by_reference"] == read["by_number"] == await store.get(order.number)
    assert skus(read["by_number"]) == ["mine-0", "mine-1", "mine-2"]
    assert skus(read["other"]) == ["other-0"]
    assert read["unknown"] == (None, None)


async def test_transaction_adds_reads_and_updates_typed_payments(store):
    order = await place_order(store)
    captured = payment(order, "pay_1")
    read = {}

    def apply(tx):
        tx.add_payment(captured)
        read["added"] = tx.payment("pay_1")
        tx.set_payment_status("pay_1", PaymentStatus.FLAGGED)
        read["updated"] = tx.payment("pay_1")
        read["unknown"] = tx.payment("pay_unknown")
        return Recorded(order.number)

    await run_once(store, "evt_1", apply)

    assert read["added"] == captured
    assert read["updated"].status is PaymentStatus.FLAGGED
    assert read["unknown"] is None
    [stored] = await store.payments_of(order.number)
    assert stored == Payment(
        "pay_1",
        order.number,
        order.total,
        "INR",
        PaymentStatus.FLAGGED,
        payment_link_id="plink_1",
        method="upi",
        captured_at=captured.captured_at,
    )
    assert stored.captured_at.tzinfo is not None


async def test_a_failed_payment_keeps_its_error_and_no_capture_time(store):
    order = await place_order(store)
    failed = payment(
        order, "pay_f", status=PaymentStatus.FAILED, captured_at=None, error="BAD_REQUEST_ERROR"
    )
    await run_once(store, "evt_1", lambda tx: tx.add_payment(failed) or Recorded(order.number))

    assert await store.payments_of(order.number) == [failed]


async def test_payments_of_lists_one_orders_payments_in_the_order_recorded(store):
    order = await place_order(store)
    other = await place_order(store)
    for event_id, owner, payment_id in (
        ("evt_1", order, "pay_z"),
        ("evt_2", other, "pay_other"),
        ("evt_3", order, "pay_a"),
    ):
        added = payment(owner, payment_id)
        await run_once(store, event_id, lambda tx, p=added: tx.add_payment(p) or Recorded(None))

    found = await store.payments_of(order.number)
    assert [p.payment_id for p in found] == ["pay_z", "pay_a"]
    assert all(isinstance(p.status, PaymentStatus) for p in found)
    assert {p.order_number for p in found} == {order.number}
    assert await store.payments_of(other.number + 1) == []


async def test_transaction_transition_is_a_forward_only_compare_and_set(store):
    order = await place_order(store)
    moved = {}

    def apply(tx):
        moved["failed"] = tx.transition(order.number, OrderStatus.PAYMENT_FAILED)
        moved["paid"] = tx.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
        moved["back"] = [
            tx.transition(order.number, status, payment_id="pay_2") for status in OrderStatus
        ]
        return Recorded(order.number)

    await run_once(store, "evt_1", apply)

    assert moved == {"failed": True, "paid": True, "back": [False] * len(OrderStatus)}
    after = await store.get(order.number)
    assert (after.status, after.payment_id) == (OrderStatus.PAID, "pay_1")


async def test_transaction_transition_refuses_moves_the_machine_does_not_allow(store):
    order = await place_order(store)
    assert await store.transition(order.number, OrderStatus.EXPIRED)

    def apply(tx):
        return Recorded(order.number, str(tx.transition(order.number, OrderStatus.PAYMENT_FAILED)))

    assert await run_once(store, "evt_1", apply) == Recorded(order.number, "False")
    assert (await store.get(order.number)).status is OrderStatus.EXPIRED


async def test_transaction_flag_appends_lines(store):
    order = await place_order(store)

    def first(tx):
        tx.flag(order.number, "amount differs")
        tx.flag(order.number, "currency differs")
        return Recorded(order.number)

    await run_once(store, "evt_1", first)
    await run_once(store, "evt_2", lambda tx: tx.flag(order.number, "refund due") or Recorded(None))

    assert (await store.get(order.number)).flag == "amount differs\ncurrency differs\nrefund due"
