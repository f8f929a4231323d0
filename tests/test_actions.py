"""Custom actions run with real trackers, the shipped catalog and a real SQLite store."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.browse import ActionShowCatalog
from actions.cart import (
    ActionAddToCart,
    ActionChangeQuantity,
    ActionClearCart,
    ActionRemoveFromCart,
    ActionShowCart,
)
from actions.checkout import ActionPlaceOrder, ActionResetDetail, ValidateCheckoutForm
from actions.order_status import ActionOrderStatus, format_day, status_response
from orders.store import Order, OrderStatus, get_store

FIXTURES = Path(__file__).parent / "fixtures"
CUSTOMER = "919812345678"


@pytest.fixture(autouse=True)
def order_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'orders.db'}")
    yield
    get_store().dispose()


def tracker(
    text: str,
    intent: str = "add_to_cart",
    entities: list[dict[str, Any]] | None = None,
    cart: list[dict[str, Any]] | None = None,
    channel: str = "rest",
    metadata: dict[str, Any] | None = None,
    **slots: Any,
) -> Tracker:
    message = {
        "text": text,
        "intent": {"name": intent, "confidence": 0.99},
        "entities": entities or [],
        "metadata": metadata or {},
    }
    return Tracker(
        CUSTOMER,
        {"cart": cart or [], "cart_has_items": bool(cart), **slots},
        message,
        [{"event": "user", "text": text, "input_channel": channel, "parse_data": message}],
        False,
        None,
        {},
        "action_listen",
    )


def fixture_tracker(name: str) -> Tracker:
    return Tracker.from_dict(json.loads((FIXTURES / name).read_text()))


async def run(action, tracker: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


def slots_of(events: list[dict]) -> dict[str, Any]:
    return {e["name"]: e["value"] for e in events if e["event"] == "slot"}


def said(messages: list[dict]) -> list[str]:
    """The responses the actions chose (the words are in domain.yml, in every language)."""
    return [m.get("response") for m in messages]


def said_with(messages: list[dict], response: str) -> dict:
    """The values passed to `response`, which the actions must have chosen."""
    return next(m for m in messages if m.get("response") == response)


async def test_add_several_products_typed_in_one_message():
    messages, events = await run(ActionAddToCart(), tracker("2 masala chai and a mug"))
    slots = slots_of(events)
    assert slots["cart"] == [
        {"sku": "masala-chai-250g", "quantity": 2},
        {"sku": "ceramic-mug", "quantity": 1},
    ]
    assert slots["cart_has_items"] is True
    added = said_with(messages, "utter_added")
    assert added["added"] == "2 × Masala Chai 250 g, 1 × Ceramic Tea Mug"
    assert added["total"] == "₹799" and "1 × Ceramic Tea Mug — ₹299" in added["items"]


async def test_add_hinglish_and_typos():
    _, events = await run(ActionAddToCart(), tracker("ek kulhad set bhi daal do aur do darjeling"))
    assert slots_of(events)["cart"] == [
        {"sku": "kulhad-set-6", "quantity": 1},
        {"sku": "darjeeling-tea-100g", "quantity": 2},
    ]


async def test_add_from_a_button_payload_adds_to_the_existing_line():
    entities = [
        {"entity": "product", "value": "green-tea-100g"},
        {"entity": "quantity", "value": 2},
    ]
    _, events = await run(
        ActionAddToCart(),
        tracker(
            '/add_to_cart{"product":"green-tea-100g","quantity":2}',
            entities=entities,
            cart=[{"sku": "green-tea-100g", "quantity": 1}],
        ),
    )
    assert slots_of(events)["cart"] == [{"sku": "green-tea-100g", "quantity": 3}]


async def test_ambiguous_product_asks_with_choices_and_keeps_the_quantity():
    messages, events = await run(ActionAddToCart(), tracker("2 tea please"))
    assert said(messages) == ["utter_which_product"] and messages[0]["words"] == "“tea”"
    buttons = [b for m in messages for b in m.get("buttons") or []]
    assert len(buttons) >= 2
    assert all(
        b["payload"].startswith("/add_to_cart{") and '"quantity":2' in b["payload"] for b in buttons
    )
    assert "green-tea-100g" in " ".join(b["payload"] for b in buttons)
    assert slots_of(events)["cart"] == []


async def test_unknown_product_is_refused_and_cart_unchanged():
    laptop = [{"entity": "product", "value": "laptop", "start": 6, "end": 12}]
    messages, events = await run(
        ActionAddToCart(),
        tracker("add a laptop", entities=laptop, cart=[{"sku": "ceramic-mug", "quantity": 1}]),
    )
    assert said(messages) == ["utter_product_not_found"] and messages[0]["words"] == "“laptop”"
    assert slots_of(events)["cart"] == [{"sku": "ceramic-mug", "quantity": 1}]


async def test_quantity_limit_is_explained_and_cart_unchanged():
    messages, events = await run(
        ActionAddToCart(), tracker("5 mugs", cart=[{"sku": "ceramic-mug", "quantity": 18}])
    )
    refused = said_with(messages, "utter_quantity_over_limit")
    assert refused["limit"] == 20 and refused["product"] == "Ceramic Tea Mug"
    assert slots_of(events)["cart"] == [{"sku": "ceramic-mug", "quantity": 18}]


async def test_whatsapp_catalog_order_uses_our_prices():
    order = [{"sku": "wild-honey-250g", "quantity": 2}, {"sku": "tea-strainer", "quantity": 1}]
    messages, events = await run(
        ActionAddToCart(),
        tracker("/add_to_cart", channel="whatsapp", metadata={"whatsapp_order": order}),
    )
    assert slots_of(events)["cart"] == order
    # 2 × 275 + 99 from catalog.yml, whatever the catalog message said
    assert said_with(messages, "utter_added")["total"] == "₹649"


async def test_remove_and_change_quantity():
    cart = [{"sku": "masala-chai-250g", "quantity": 2}, {"sku": "ceramic-mug", "quantity": 1}]
    messages, events = await run(
        ActionRemoveFromCart(), tracker("mug hata do", intent="remove_from_cart", cart=cart)
    )
    assert slots_of(events)["cart"] == [{"sku": "masala-chai-250g", "quantity": 2}]
    removed = said_with(messages, "utter_removed")
    assert removed["removed"] == "Ceramic Tea Mug" and removed["total"] == "₹500"

    messages, events = await run(
        ActionChangeQuantity(),
        tracker("make it 5 masala chai", intent="change_quantity", cart=cart),
    )
    assert slots_of(events)["cart"][0] == {"sku": "masala-chai-250g", "quantity": 5}
    assert said(messages) == ["utter_updated"]


async def test_remove_something_not_in_the_cart():
    cart = [{"sku": "ceramic-mug", "quantity": 1}]
    messages, events = await run(
        ActionRemoveFromCart(), tracker("remove honey", intent="remove_from_cart", cart=cart)
    )
    assert said(messages) == ["utter_not_in_cart", "utter_cart"]
    assert messages[0]["words"] == "“honey”"
    assert slots_of(events)["cart"] == cart


async def test_show_and_clear_cart():
    messages, _ = await run(ActionShowCart(), tracker("cart dikhao", intent="view_cart"))
    assert messages[0]["response"] == "utter_cart_empty"

    cart = [{"sku": "festive-gift-box", "quantity": 2}]
    messages, _ = await run(ActionShowCart(), tracker("cart dikhao", intent="view_cart", cart=cart))
    assert said(messages) == ["utter_cart"] and messages[0]["total"] == "₹1,998"

    messages, events = await run(
        ActionClearCart(), tracker("clear", intent="clear_cart", cart=cart)
    )
    assert said(messages) == ["utter_cart_cleared"]
    assert slots_of(events) == {"cart": [], "cart_has_items": False}


async def test_catalog_is_one_button_per_product_with_price_and_category():
    messages, _ = await run(ActionShowCatalog(), tracker("menu", intent="browse_products"))
    [menu] = messages
    assert menu["response"] == "utter_menu"
    assert len(menu["buttons"]) == 12
    assert {
        "title": "Kulhad Set of 6",
        "payload": '/add_to_cart{"product":"kulhad-set-6"}',
        "description": "₹349",
        "section": "Teaware",
    } in menu["buttons"]


@pytest.mark.parametrize(
    "answer, expected",
    [
        ("560001", "560001"),
        ("560 001", "560001"),
        ("12", None),
        ("abcdef", None),
        ("012345", None),
        ("5600011", None),
    ],
)
async def test_pincode_validation(answer, expected):
    dispatcher = CollectingDispatcher()
    result = await ValidateCheckoutForm().validate_pincode(answer, dispatcher, tracker(answer), {})
    assert result["pincode"] == expected
    # A wrong PIN is one message: action_ask_pincode says it is wrong and asks again.
    assert result.get("invalid_detail") == (None if expected else "pincode")
    assert dispatcher.messages == []


async def test_address_with_a_pincode_fills_both():
    dispatcher = CollectingDispatcher()
    result = await ValidateCheckoutForm().validate_delivery_address(
        "Flat 4B, 12 MG Road, Bengaluru 560001", dispatcher, tracker("x"), {}
    )
    assert result == {
        "delivery_address": "Flat 4B, 12 MG Road, Bengaluru 560001",
        "pincode": "560001",
    }


@pytest.mark.parametrize(
    "name, ok", [("Asha Rao", True), ("  Ravi   Kumar ", True), ("12345", False), ("a", False)]
)
async def test_name_validation(name, ok):
    result = await ValidateCheckoutForm().validate_customer_name(
        name, CollectingDispatcher(), tracker(name), {}
    )
    assert (result["customer_name"] is not None) is ok


async def test_reset_detail_by_entity_or_word():
    _, events = await run(
        ActionResetDetail(),
        tracker(
            "pin galat hai",
            intent="change_details",
            entities=[{"entity": "detail", "value": "pincode"}],
        ),
    )
    assert events == [
        {"event": "slot", "timestamp": None, "name": "pincode", "value": None},
        # the summary shown before no longer holds: "Confirm" waits for the new one
        {"event": "slot", "timestamp": None, "name": "awaiting_confirmation", "value": False},
    ]
    messages, events = await run(
        ActionResetDetail(), tracker("change something", intent="change_details")
    )
    assert events == [] and messages[0]["response"] == "utter_ask_which_detail"


async def test_place_order_writes_pending_order_once():
    confirmed = fixture_tracker("tracker_details_confirmed.json")
    messages, events = await run(ActionPlaceOrder(), confirmed)
    number = int(slots_of(events)["order_number"])
    order = await get_store().get(number)
    assert order.status is OrderStatus.PENDING_PAYMENT
    assert order.total == 2 * 25000 + 29900 and order.customer_id == CUSTOMER
    assert order.pincode == "560001" and order.item_count == 3
    assert said(messages) == ["utter_order_placed"] and messages[0]["order_number"] == number

    # A second tap on Confirm re-uses the order instead of placing another.
    _, again = await run(ActionPlaceOrder(), confirmed)
    assert slots_of(again)["order_number"] == str(number)
    assert (await get_store().latest_for_customer(CUSTOMER)).number == number


async def test_place_order_with_empty_cart_writes_nothing():
    messages, events = await run(ActionPlaceOrder(), tracker("/affirm", intent="affirm"))
    assert events == [] and messages[0]["response"] == "utter_cart_empty_checkout"
    assert await get_store().latest_for_customer(CUSTOMER) is None


async def test_order_status_from_the_store():
    messages, _ = await run(
        ActionOrderStatus(), tracker("mera order kahan hai", intent="order_status")
    )
    assert said(messages) == ["utter_no_orders"]

    _, events = await run(ActionPlaceOrder(), fixture_tracker("tracker_details_confirmed.json"))
    number = slots_of(events)["order_number"]
    messages, _ = await run(ActionOrderStatus(), tracker("status?", intent="order_status"))
    [status] = messages
    assert status["response"] == "utter_status_pending" and str(status["order_number"]) == number
    assert status["item_count"] == 3 and status["total"] == "₹799"


def test_a_paid_order_s_date_is_digits_in_india_s_day():
    """No English month name in a Hindi reply: the date is digits, day-month-year, in
    India's time (a payment at 00:30 IST is that day, not UTC's day before)."""
    paid_at = datetime(2025, 3, 4, 19, 0, tzinfo=timezone.utc)  # 05-03-2025 00:30 IST
    order = Order(
        number=10001, customer_id=CUSTOMER, customer_name="Asha", delivery_address="MG Road",
        pincode="560001", items=(), total=79900, currency="INR", status=OrderStatus.PAID,
        created_at=paid_at, paid_at=paid_at,
    )
    response, values = status_response(order)
    assert response == "utter_status_paid" and values["paid_on"] == "05-03-2025"
    assert format_day(datetime(2025, 12, 31, 12, 0)) == "31-12-2025"  # naive: UTC
