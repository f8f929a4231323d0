"""“Paisa kat gaya but payment failed”: the action asks the Razorpay stand-in for the
payment's real state, on a real SQLite store, and answers paid (recorded, the
confirmation queued once), not paid (the UPI reversal and the payment reference), or
Razorpay down (said plainly, and a person takes over)."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from rasa_sdk.events import ConversationPaused, SlotSet

import gateways.razorpay
from actions.money_deducted import ActionCheckDeductedPayment
from durable.notices import NOTICE_KIND
from durable.tables import inbox
from gateways.razorpay import get_gateway
from handover.store import HandoverStore
from orders.payment_events import PaymentEvent, apply_event
from orders.payment_links import ensure_link
from orders.store import Order, OrderStatus, get_store
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, FakeRazorpay
from sandbox.harness.razorpay_stack import CUSTOMER, place_order
from tests.test_actions import said, tracker
from tests.test_handover_actions import run

ANGRY = "paisa kat gaya but payment failed 😡"


@pytest.fixture
async def razorpay(tmp_path, monkeypatch):
    fake = await FakeRazorpay().start()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    monkeypatch.setenv("RAZORPAY_KEY_ID", KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("RAZORPAY_API_BASE_URL", fake.base_url)
    monkeypatch.setenv("RAZORPAY_TIMEOUT_SECONDS", "0.5")
    monkeypatch.setattr(gateways.razorpay, "_gateway", None)
    yield fake
    await fake.stop()
    get_store().dispose()


async def linked_order() -> Order:
    return await ensure_link(get_store(), get_gateway(), await place_order(get_store()))


def asking(text: str = ANGRY):
    return tracker(text, "money_deducted", channel="whatsapp", language="hi-Latn")


def notices() -> list[dict]:
    with get_store().engine.connect() as conn:
        rows = conn.execute(sa.select(inbox).where(inbox.c.kind == NOTICE_KIND)).mappings()
        return [{**json.loads(row["payload"]), "customer": row["customer_id"]} for row in rows]


def handover_reason() -> str | None:
    active = HandoverStore(get_store().engine).active(CUSTOMER)
    return active.reason if active else None


async def test_paid_at_razorpay_is_recorded_and_confirmed_once(razorpay):
    order = await linked_order()
    payment = razorpay.pay(order.payment_link_id)  # the webhook never came

    messages, events = await run(ActionCheckDeductedPayment(), asking())

    assert said(messages) == ["utter_money_deducted_paid"]
    assert messages[0]["payment_id"] == payment["id"] and messages[0]["total"] == "₹799"
    assert events == [SlotSet("order_number", str(order.number))]
    stored = await get_store().get(order.number)
    assert stored.status is OrderStatus.PAID and stored.payment_id == payment["id"]
    # The usual confirmation follows through the inbox and the notifier, queued once.
    assert notices() == [{"outcome": "paid", "order_number": order.number, "customer": CUSTOMER}]
    await run(ActionCheckDeductedPayment(), asking("money debited but order not confirmed"))
    assert len(notices()) == 1
    assert handover_reason() is None


async def test_an_order_already_paid_is_said_without_asking_razorpay(razorpay):
    order = await linked_order()
    payment = razorpay.pay(order.payment_link_id)
    body, _ = razorpay.webhook("payment_link.paid", order.payment_link_id, payment)
    await apply_event(get_store(), PaymentEvent.from_body("evt_paid", json.loads(body)))
    fetches = razorpay.calls("GET")

    messages, _ = await run(ActionCheckDeductedPayment(), asking())

    assert said(messages) == ["utter_money_deducted_paid"]
    assert razorpay.calls("GET") == fetches


async def test_not_paid_explains_the_reversal_with_the_reference_and_offers_a_person(razorpay):
    order = await linked_order()
    failed = razorpay.fail_payment(order.payment_link_id, method="upi")
    body, _ = razorpay.webhook("payment.failed", order.payment_link_id, failed)
    await apply_event(get_store(), PaymentEvent.from_body("evt_failed", json.loads(body)))

    messages, events = await run(ActionCheckDeductedPayment(), asking())

    assert said(messages) == ["utter_money_deducted_not_paid"]
    assert messages[0]["reference"] == f"#{order.number} · {failed['id']}"
    assert events == [SlotSet("order_number", str(order.number))]  # the bot stays
    assert (await get_store().get(order.number)).status is not OrderStatus.PAID
    assert notices() == [] and handover_reason() is None


async def test_not_paid_without_any_attempt_gives_the_order_number(razorpay):
    order = await linked_order()
    messages, _ = await run(ActionCheckDeductedPayment(), asking())
    assert said(messages) == ["utter_money_deducted_not_paid"]
    assert messages[0]["reference"] == f"#{order.number}"


async def test_razorpay_down_is_said_plainly_and_a_person_takes_over(razorpay):
    order = await linked_order()
    razorpay.fail_next("fetch", "html_502")

    messages, events = await run(ActionCheckDeductedPayment(), asking())

    assert said(messages) == ["utter_money_deducted_unchecked", "utter_handover_started"]
    assert messages[0]["order_number"] == order.number
    assert events[-1] == ConversationPaused()
    assert handover_reason() == "money_deducted"
    assert (await get_store().get(order.number)).status is OrderStatus.PENDING_PAYMENT


async def test_no_order_of_ours_goes_to_a_person(razorpay):
    messages, events = await run(ActionCheckDeductedPayment(), asking())
    assert said(messages) == ["utter_money_deducted_no_order", "utter_handover_started"]
    assert events == [ConversationPaused()] and handover_reason() == "money_deducted"


async def test_a_payment_that_needs_checking_goes_to_a_person(razorpay):
    order = await linked_order()
    razorpay.pay(order.payment_link_id, amount=100)  # less than the order: flagged
    messages, _ = await run(ActionCheckDeductedPayment(), asking())
    assert said(messages) == ["utter_payment_under_review", "utter_handover_started"]
    assert handover_reason() == "money_deducted"
