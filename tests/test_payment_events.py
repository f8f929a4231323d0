"""Applying Razorpay events to orders on a real database (SQLite, and PostgreSQL when set)."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa

from gateways.razorpay import RazorpayGateway
from orders.payment_events import EventParseError, Outcome, PaymentEvent, apply_event
from orders.payment_links import ensure_link
from orders.store import OrderStatus, payments, webhook_events
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET
from sandbox.harness.razorpay_stack import place_order


@pytest.fixture
async def linked(store, razorpay):
    """An order with its payment link, as after checkout."""
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=2)
    return await ensure_link(store, gateway, await place_order(store))


def event(razorpay, name, link_id, payment=None, event_id=None) -> PaymentEvent:
    body, headers = razorpay.webhook(name, link_id, payment, event_id=event_id)
    return PaymentEvent.from_body(headers["X-Razorpay-Event-Id"], json.loads(body))


def rows(store, table):
    with store.engine.connect() as conn:
        return conn.execute(sa.select(table)).mappings().all()


async def test_paid_link_marks_the_order_paid_in_one_go(store, razorpay, linked):
    payment = razorpay.pay(linked.payment_link_id)
    applied = await apply_event(
        store, event(razorpay, "payment_link.paid", linked.payment_link_id, payment)
    )

    assert (applied.outcome, applied.order_number, applied.customer_id) == (
        Outcome.PAID,
        linked.number,
        linked.customer_id,
    )
    assert applied.notify_intent == "EXTERNAL_payment_received"
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PAID and order.payment_id == payment["id"]
    assert order.paid_at is not None and order.payment_link_status == "paid"
    [row] = rows(store, payments)
    assert (row["payment_id"], row["amount"], row["method"], row["status"]) == (
        payment["id"],
        linked.total,
        "upi",
        "captured",
    )
    assert row["captured_at"] is not None


async def test_the_same_event_twice_changes_state_once(store, razorpay, linked):
    payment = razorpay.pay(linked.payment_link_id)
    paid = event(razorpay, "payment_link.paid", linked.payment_link_id, payment)
    assert (await apply_event(store, paid)).outcome is Outcome.PAID
    assert (await apply_event(store, paid)).outcome is Outcome.DUPLICATE
    assert len(rows(store, webhook_events)) == 1 and len(rows(store, payments)) == 1


async def test_fifty_concurrent_deliveries_one_transition(store, razorpay, linked):
    payment = razorpay.pay(linked.payment_link_id)
    paid = event(razorpay, "payment_link.paid", linked.payment_link_id, payment)
    results = await asyncio.gather(*(apply_event(store, paid) for _ in range(50)))
    outcomes = [r.outcome for r in results]
    assert outcomes.count(Outcome.PAID) == 1
    assert outcomes.count(Outcome.DUPLICATE) == 49


async def test_paid_captured_and_order_paid_first_one_wins(store, razorpay, linked):
    payment = razorpay.pay(linked.payment_link_id)
    link_id = linked.payment_link_id
    events = [
        event(razorpay, "payment.captured", link_id, payment),
        event(razorpay, "order.paid", link_id, payment),
        event(razorpay, "payment_link.paid", link_id, payment),
    ]
    results = await asyncio.gather(*(apply_event(store, e) for e in events))
    assert sorted(r.outcome.value for r in results) == ["paid", "unchanged", "unchanged"]
    assert len(rows(store, payments)) == 1


@pytest.mark.parametrize(
    "late", ["payment.failed", "payment_link.expired", "payment_link.cancelled"]
)
async def test_late_events_never_move_a_paid_order_back(store, razorpay, linked, late):
    link_id = linked.payment_link_id
    failed_attempt = razorpay.fail_payment(link_id)
    payment = razorpay.pay(link_id)
    assert (
        await apply_event(store, event(razorpay, "payment_link.paid", link_id, payment))
    ).outcome is Outcome.PAID

    if late != "payment.failed":
        razorpay.links[link_id]["status"] = late.split(".")[1]
    applied = await apply_event(
        store, event(razorpay, late, link_id, failed_attempt if late == "payment.failed" else None)
    )
    assert applied.outcome is Outcome.UNCHANGED and applied.notify_intent is None
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PAID and order.payment_id == payment["id"]


@pytest.mark.parametrize("amount, currency", [(100, "INR"), (None, "USD")])
async def test_amount_or_currency_mismatch_is_flagged_never_paid(
    store, razorpay, linked, amount, currency
):
    payment = razorpay.pay(linked.payment_link_id, amount=amount, currency=currency)
    applied = await apply_event(
        store, event(razorpay, "payment.captured", linked.payment_link_id, payment)
    )

    assert applied.outcome is Outcome.FLAGGED
    assert applied.notify_intent == "EXTERNAL_payment_failed"  # its action says we're checking
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PENDING_PAYMENT and order.payment_id is None
    assert payment["id"] in order.flag
    [row] = rows(store, payments)
    assert row["status"] == "flagged"
    # Redelivered under another event id: still not paid, not flagged twice.
    again = await apply_event(store, event(razorpay, "order.paid", linked.payment_link_id, payment))
    assert again.outcome is Outcome.UNCHANGED
    assert (await store.get(linked.number)).flag.count(payment["id"]) == 1


async def test_a_flagged_payment_id_cannot_pay_later_at_the_full_amount(store, razorpay, linked):
    flagged = razorpay.pay(linked.payment_link_id, amount=100, currency="USD")
    link_id = linked.payment_link_id
    await apply_event(store, event(razorpay, "payment.captured", link_id, flagged))
    # A later signed event claims the same payment at the order's total.
    claimed = dict(flagged, amount=linked.total, currency="INR")
    again = await apply_event(store, event(razorpay, "payment_link.paid", link_id, claimed))

    assert again.outcome is Outcome.UNCHANGED
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PENDING_PAYMENT and order.payment_id is None
    [row] = rows(store, payments)
    assert (row["amount"], row["currency"], row["status"]) == (100, "USD", "flagged")


async def test_a_payment_of_one_order_cannot_pay_another(store, razorpay, linked):
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=2)
    other = await ensure_link(store, gateway, await place_order(store))
    payment = razorpay.pay(linked.payment_link_id)
    await apply_event(store, event(razorpay, "payment.captured", linked.payment_link_id, payment))
    # The same payment id, reported for the other order's link at the other order's total.
    reused = dict(payment, amount=other.total)
    applied = await apply_event(
        store, event(razorpay, "payment_link.paid", other.payment_link_id, reused)
    )

    assert applied.outcome is Outcome.UNCHANGED
    assert (await store.get(other.number)).status is OrderStatus.PENDING_PAYMENT
    assert (await store.get(linked.number)).status is OrderStatus.PAID


async def test_a_failed_payment_captured_late_pays_the_order(store, razorpay, linked):
    failed = razorpay.fail_payment(linked.payment_link_id)
    link_id = linked.payment_link_id
    await apply_event(store, event(razorpay, "payment.failed", link_id, failed))
    # Razorpay's late authorisation: the same payment id is captured after all.
    captured = dict(failed, status="captured", error_description=None)
    applied = await apply_event(store, event(razorpay, "payment.captured", link_id, captured))

    assert applied.outcome is Outcome.PAID
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PAID and order.payment_id == failed["id"]
    [row] = rows(store, payments)
    assert row["status"] == "captured"


async def test_partial_payment_is_recorded_and_flagged(store, razorpay, linked):
    payment = razorpay.pay(linked.payment_link_id, amount=10000)
    applied = await apply_event(
        store, event(razorpay, "payment_link.partially_paid", linked.payment_link_id, payment)
    )
    assert applied.outcome is Outcome.FLAGGED
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PENDING_PAYMENT and "partially paid" in order.flag


async def test_failed_payment_keeps_the_order_payable(store, razorpay, linked):
    first = razorpay.fail_payment(linked.payment_link_id)
    applied = await apply_event(
        store, event(razorpay, "payment.failed", linked.payment_link_id, first)
    )
    assert applied.outcome is Outcome.FAILED
    assert applied.notify_intent == "EXTERNAL_payment_failed"
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PAYMENT_FAILED and order.is_payable
    # A second failed try is told too; the same one redelivered is not.
    second = razorpay.fail_payment(linked.payment_link_id)
    assert (
        await apply_event(store, event(razorpay, "payment.failed", linked.payment_link_id, second))
    ).outcome is Outcome.FAILED
    assert (
        await apply_event(store, event(razorpay, "payment.failed", linked.payment_link_id, second))
    ).outcome is Outcome.UNCHANGED
    # Then it is paid after all.
    payment = razorpay.pay(linked.payment_link_id)
    assert (
        await apply_event(
            store, event(razorpay, "payment.captured", linked.payment_link_id, payment)
        )
    ).outcome is Outcome.PAID


@pytest.mark.parametrize(
    "name, status",
    [
        ("payment_link.expired", OrderStatus.EXPIRED),
        ("payment_link.cancelled", OrderStatus.CANCELLED),
    ],
)
async def test_closed_link_closes_the_order(store, razorpay, linked, name, status):
    razorpay.links[linked.payment_link_id]["status"] = name.split(".")[1]
    applied = await apply_event(store, event(razorpay, name, linked.payment_link_id))
    assert applied.notify_intent == "EXTERNAL_payment_link_expired"
    assert (await store.get(linked.number)).status is status


async def test_an_old_link_expiring_does_not_close_the_fresh_one(store, razorpay, linked):
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=2)
    old_link = linked.payment_link_id
    razorpay.expire(old_link)
    assert (
        await apply_event(store, event(razorpay, "payment_link.expired", old_link))
    ).outcome is Outcome.EXPIRED
    fresh = await ensure_link(store, gateway, await store.get(linked.number))

    # The old link's expiry delivered again (new event id) after the order reopened.
    applied = await apply_event(store, event(razorpay, "payment_link.expired", old_link))
    assert applied.outcome is Outcome.UNCHANGED
    assert (await store.get(linked.number)).status is OrderStatus.PENDING_PAYMENT
    # Paying the fresh link, found by its new reference, pays the order.
    payment = razorpay.pay(fresh.payment_link_id)
    paid = await apply_event(
        store, event(razorpay, "payment_link.paid", fresh.payment_link_id, payment)
    )
    assert paid.outcome is Outcome.PAID and paid.order_number == linked.number


async def test_a_second_payment_for_a_paid_order_is_flagged_for_refund(store, razorpay, linked):
    first = razorpay.pay(linked.payment_link_id)
    second = razorpay.pay(linked.payment_link_id)
    await apply_event(store, event(razorpay, "payment.captured", linked.payment_link_id, first))
    applied = await apply_event(
        store, event(razorpay, "payment.captured", linked.payment_link_id, second)
    )
    assert applied.outcome is Outcome.UNCHANGED
    order = await store.get(linked.number)
    assert order.payment_id == first["id"] and "refund" in order.flag


async def test_unknown_order_and_unknown_event_are_recorded_and_ignored(store, razorpay, linked):
    foreign = {
        "event": "payment_link.paid",
        "payload": {
            "payment_link": {"entity": {"id": "plink_other", "reference_id": "INV-7", "notes": []}}
        },
    }
    unknown = await apply_event(store, PaymentEvent.from_body("evt_a", foreign))
    assert unknown.outcome is Outcome.UNKNOWN_ORDER and unknown.notify_intent is None
    refund = await apply_event(store, PaymentEvent.from_body("evt_b", {"event": "refund.created"}))
    assert refund.outcome is Outcome.IGNORED
    assert {r["event_id"]: r["outcome"] for r in rows(store, webhook_events)} == {
        "evt_a": "unknown_order",
        "evt_b": "ignored",
    }
    assert (await store.get(linked.number)).status is OrderStatus.PENDING_PAYMENT


@pytest.mark.parametrize(
    "body",
    [
        [],
        {"payload": {}},
        {"event": "x", "payload": []},
        {"event": "x", "payload": {"payment": {"entity": 3}}},
    ],
)
def test_bodies_that_are_not_events_are_refused(body):
    with pytest.raises(EventParseError):
        PaymentEvent.from_body("evt", body)
