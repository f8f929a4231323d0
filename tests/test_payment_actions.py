"""The payment actions with real rasa-sdk trackers, a real SQLite store and the local Razorpay."""

from __future__ import annotations

from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

import gateways.razorpay
from actions.payments import (
    ITEM_LINES_LIMIT,
    ActionPaymentFailed,
    ActionPaymentLinkExpired,
    ActionPaymentReceived,
    ActionSendPaymentLink,
    cut_lines,
)
from orders.store import OrderStatus, get_store
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, FakeRazorpay
from sandbox.harness.razorpay_stack import CUSTOMER, place_order


@pytest.fixture
async def razorpay(tmp_path, monkeypatch):
    fake = await FakeRazorpay().start()
    fake.slow_seconds = 1.0
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    monkeypatch.setenv("RAZORPAY_KEY_ID", KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("RAZORPAY_API_BASE_URL", fake.base_url)
    monkeypatch.setenv("RAZORPAY_TIMEOUT_SECONDS", "0.3")
    monkeypatch.setattr(gateways.razorpay, "_gateway", None)
    yield fake
    await fake.stop()
    get_store().dispose()


def tracker(
    intent: str = "pay_now",
    channel: str = "whatsapp",
    order_number: str | None = None,
    cart: list[dict[str, Any]] | None = None,
    sender: str = CUSTOMER,
) -> Tracker:
    entities = [{"entity": "order_number", "value": order_number}] if order_number else []
    message = {
        "text": f"/{intent}",
        "intent": {"name": intent, "confidence": 1.0},
        "entities": entities,
    }
    return Tracker(
        sender,
        {"order_number": order_number, "cart": cart or [], "cart_has_items": bool(cart)},
        message,
        [
            {
                "event": "user",
                "text": message["text"],
                "input_channel": channel,
                "parse_data": message,
            }
        ],
        False,
        None,
        {},
        "action_listen",
    )


async def run(action, t: Tracker) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, t, {})
    return dispatcher.messages, events


async def test_link_is_the_payment_response_with_the_order_values(razorpay):
    order = await place_order(get_store())
    messages, events = await run(ActionSendPaymentLink(), tracker())

    [message] = messages
    link = razorpay.link_for(str(order.number))
    assert message["response"] == "utter_payment_link"
    assert message["payment_url"] == link["short_url"]
    assert message["order_number"] == order.number and message["total"] == "₹799"
    assert "2 × Masala Chai 250 g — ₹500" in message["items"]
    assert "custom" not in message or not message["custom"]  # the response holds `pay`
    assert events == [SlotSet("order_number", str(order.number))]


async def test_the_link_message_is_the_same_on_every_channel(razorpay):
    await place_order(get_store())
    [whatsapp], _ = await run(ActionSendPaymentLink(), tracker())
    [rest], _ = await run(ActionSendPaymentLink(), tracker(channel="rest"))
    assert whatsapp == rest


def test_long_carts_are_cut_to_fit_one_message():
    lines = [f"1 × Product {n} — ₹100" for n in range(100)]
    text = cut_lines(lines, ITEM_LINES_LIMIT)
    assert len(text) <= ITEM_LINES_LIMIT + 10 and text.endswith(f"… +{100 - text.count(chr(10))}")


async def test_asking_again_resends_the_same_link(razorpay):
    await place_order(get_store())
    first, _ = await run(ActionSendPaymentLink(), tracker())
    again, _ = await run(ActionSendPaymentLink(), tracker())
    assert first == again and len(razorpay.links) == 1


async def test_razorpay_down_is_said_plainly_with_a_retry(razorpay):
    order = await place_order(get_store())
    razorpay.fail_next("create", "html_502")
    razorpay.fail_next("list", "html_502")
    [message], events = await run(ActionSendPaymentLink(), tracker())
    assert message["response"] == "utter_gateway_unavailable"
    assert message["order_number"] == order.number
    assert events == [SlotSet("order_number", str(order.number))]
    # The retry works and makes one link.
    [retry], _ = await run(ActionSendPaymentLink(), tracker())
    assert retry["response"] == "utter_payment_link" and len(razorpay.links) == 1


async def test_missing_keys_are_not_shown_to_the_customer(razorpay, monkeypatch):
    monkeypatch.delenv("RAZORPAY_KEY_SECRET")
    await place_order(get_store())
    [message], _ = await run(ActionSendPaymentLink(), tracker())
    assert message["response"] == "utter_payment_link_error"
    assert "RAZORPAY" not in str(message)


async def test_no_order_and_paid_order(razorpay):
    [message], events = await run(ActionSendPaymentLink(), tracker())
    assert message["response"] == "utter_no_order_to_pay" and events == []
    order = await place_order(get_store())
    await get_store().transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    [message], _ = await run(ActionSendPaymentLink(), tracker())
    assert message["response"] == "utter_order_already_paid" and razorpay.links == {}


async def test_expired_link_gets_a_fresh_one(razorpay):
    order = await place_order(get_store())
    await run(ActionSendPaymentLink(), tracker())
    await get_store().transition(order.number, OrderStatus.EXPIRED)
    [message], _ = await run(ActionSendPaymentLink(), tracker())
    fresh = razorpay.link_for(f"{order.number}-1")
    assert message["payment_url"] == fresh["short_url"]


async def test_confirmation_is_sent_once_and_clears_the_cart(razorpay):
    store = get_store()
    order = await place_order(store)
    await store.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    cart = [{"sku": "ceramic-mug", "quantity": 1}, {"sku": "masala-chai-250g", "quantity": 2}]
    event = tracker("EXTERNAL_payment_received", order_number=str(order.number), cart=cart)

    [message], events = await run(ActionPaymentReceived(), event)
    assert message["response"] == "utter_payment_received"
    assert message["order_number"] == order.number and message["total"] == "₹799"
    assert message["item_count"] == 3 and message["pincode"] == order.pincode
    assert SlotSet("cart", []) in events and SlotSet("cart_has_items", False) in events
    # The action only words it: the notifier records it once WhatsApp accepted it.
    assert (await store.get(order.number)).confirmation_sent_at is None

    await store.mark_confirmation_sent(order.number)
    assert await run(ActionPaymentReceived(), event) == ([], [])


async def test_a_new_cart_survives_the_confirmation_of_the_last_order(razorpay):
    store = get_store()
    order = await place_order(store)
    await store.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    event = tracker(
        "EXTERNAL_payment_received",
        order_number=str(order.number),
        cart=[{"sku": "kulhad-set", "quantity": 1}],
    )
    [_], events = await run(ActionPaymentReceived(), event)
    assert events == [SlotSet("order_number", str(order.number)), SlotSet("order_pending", False)]


@pytest.mark.parametrize("case", ["unpaid", "someone else's", "no number"])
async def test_no_confirmation_without_a_paid_order_of_this_customer(razorpay, case):
    store = get_store()
    order = await place_order(
        store, customer="919800000000" if case == "someone else's" else CUSTOMER
    )
    if case != "unpaid":
        await store.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    number = None if case == "no number" else str(order.number)
    assert await run(
        ActionPaymentReceived(), tracker("EXTERNAL_payment_received", order_number=number)
    ) == ([], [])
    assert (await store.get(order.number)).confirmation_sent_at is None


async def test_failed_payment_offers_pay_now(razorpay):
    store = get_store()
    order = await place_order(store)
    await store.transition(order.number, OrderStatus.PAYMENT_FAILED)
    [message], _ = await run(
        ActionPaymentFailed(), tracker("EXTERNAL_payment_failed", order_number=str(order.number))
    )
    assert message["response"] == "utter_payment_failed"
    assert message["order_number"] == order.number


async def test_flagged_payment_says_we_are_checking(razorpay):
    store = get_store()
    order = await place_order(store)
    await store.update(order.number, flag="payment pay_1 of 100 INR does not match")
    [message], _ = await run(
        ActionPaymentFailed(), tracker("EXTERNAL_payment_failed", order_number=str(order.number))
    )
    assert message["response"] == "utter_payment_under_review"


async def test_expired_link_offers_a_fresh_one(razorpay):
    store = get_store()
    order = await place_order(store)
    await store.transition(order.number, OrderStatus.EXPIRED)
    [message], _ = await run(
        ActionPaymentLinkExpired(),
        tracker("EXTERNAL_payment_link_expired", order_number=str(order.number)),
    )
    assert message["response"] == "utter_payment_link_expired"
    assert message["order_number"] == order.number
    # Already reopened with a fresh link: nothing stale is said.
    await store.transition(order.number, OrderStatus.PENDING_PAYMENT)
    assert await run(
        ActionPaymentLinkExpired(),
        tracker("EXTERNAL_payment_link_expired", order_number=str(order.number)),
    ) == ([], [])
