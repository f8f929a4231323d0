"""The order store on a real database: creation, lookups and the status machine."""

from __future__ import annotations

import asyncio

import pytest

from orders.store import (
    ORDER_NUMBER_OFFSET,
    OrderError,
    OrderStatus,
    can_transition,
)
from sandbox.harness.razorpay_stack import LINES, Line


async def place(store, customer="919812345678"):
    return await store.create_order(customer, "Asha Rao", "12 MG Road, Bengaluru", "560001", LINES)


async def test_create_order_numbers_totals_and_items(store):
    first = await place(store)
    second = await place(store, customer="919800000000")
    assert first.number > ORDER_NUMBER_OFFSET
    assert second.number == first.number + 1
    assert first.total == 2 * 25000 + 29900
    assert first.currency == "INR"
    assert first.status is OrderStatus.PENDING_PAYMENT
    assert [(i.sku, i.quantity, i.unit_price) for i in first.items] == [
        ("masala-chai-250g", 2, 25000),
        ("ceramic-mug", 1, 29900),
    ]
    assert first.item_count == 3
    assert first.created_at.tzinfo is not None
    assert await store.get(first.number) == first


async def test_latest_order_is_per_customer(store):
    await place(store)
    newer = await place(store)
    other = await place(store, customer="919800000000")
    assert (await store.latest_for_customer("919812345678")).number == newer.number
    assert (await store.latest_for_customer("919800000000")).number == other.number
    assert await store.latest_for_customer("nobody") is None
    assert await store.get(99) is None


@pytest.mark.parametrize(
    "lines, message",
    [([], "at least one item"), ([Line("x", "X", 100, 0)], "positive quantity")],
)
async def test_invalid_orders_are_refused_and_nothing_written(store, lines, message):
    with pytest.raises(OrderError, match=message):
        await store.create_order("919812345678", "Asha", "addr", "560001", lines)
    assert await store.latest_for_customer("919812345678") is None


async def test_forward_transitions(store):
    order = await place(store)
    assert await store.transition(order.number, OrderStatus.PAYMENT_FAILED)
    assert await store.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    paid = await store.get(order.number)
    assert paid.status is OrderStatus.PAID and paid.payment_id == "pay_1"


@pytest.mark.parametrize(
    "later",
    [
        OrderStatus.PENDING_PAYMENT,
        OrderStatus.PAYMENT_FAILED,
        OrderStatus.EXPIRED,
        OrderStatus.CANCELLED,
        OrderStatus.PAID,
    ],
)
async def test_paid_order_never_moves(store, later):
    order = await place(store)
    assert await store.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    assert not await store.transition(order.number, later, payment_id="pay_2")
    after = await store.get(order.number)
    assert after.status is OrderStatus.PAID and after.payment_id == "pay_1"


async def test_expired_order_reopens_for_a_fresh_link(store):
    order = await place(store)
    assert await store.transition(order.number, OrderStatus.EXPIRED)
    assert not await store.transition(order.number, OrderStatus.PAYMENT_FAILED)
    assert await store.transition(order.number, OrderStatus.PENDING_PAYMENT)
    assert (await store.get(order.number)).is_payable


async def test_concurrent_transitions_have_one_winner(store):
    order = await place(store)
    results = await asyncio.gather(
        *(
            store.transition(order.number, OrderStatus.PAID, payment_id=f"pay_{i}")
            for i in range(20)
        )
    )
    assert results.count(True) == 1
    assert (await store.get(order.number)).payment_id == f"pay_{results.index(True)}"


async def test_confirmation_is_recorded_once(store):
    order = await place(store)
    assert await store.mark_confirmation_sent(order.number)
    first = (await store.get(order.number)).confirmation_sent_at
    assert not await store.mark_confirmation_sent(order.number)
    assert (await store.get(order.number)).confirmation_sent_at == first


async def test_update_refuses_status(store):
    order = await place(store)
    with pytest.raises(OrderError):
        await store.update(order.number, status="paid")
    await store.update(
        order.number, payment_link_id="plink_1", payment_link_url="https://rzp.io/i/x"
    )
    assert (await store.get(order.number)).payment_link_url == "https://rzp.io/i/x"


def test_state_machine_table():
    assert can_transition(OrderStatus.PENDING_PAYMENT, OrderStatus.PAID)
    assert can_transition(OrderStatus.PAYMENT_FAILED, OrderStatus.PAID)
    assert not can_transition(OrderStatus.PAID, OrderStatus.PENDING_PAYMENT)
    assert not can_transition(OrderStatus.EXPIRED, OrderStatus.PAYMENT_FAILED)
