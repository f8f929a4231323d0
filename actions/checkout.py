"""Checkout: the delivery form, confirmation, corrections and placing the order."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import cart_of, cart_values, store
from commerce.cart import Cart
from commerce.delivery import (
    ADDRESS_LENGTH,
    AddressProblem,
    address_problem,
    clean_address,
    clean_name,
    find_pincode,
    pincode_from_answer,
)
from orders.store import Order, OrderError, utcnow

logger = logging.getLogger(__name__)

DETAIL_SLOTS = {"customer_name", "delivery_address", "pincode"}
# What customers (or an NLU synonym that did not fire) call each detail.
DETAIL_WORDS = {
    "name": "customer_name",
    "naam": "customer_name",
    "address": "delivery_address",
    "pata": "delivery_address",
    "pin": "pincode",
    "pin code": "pincode",
    "pincode": "pincode",
    "zip": "pincode",
}
# A second tap on "Confirm" within this window re-uses the order it placed.
REPEAT_WINDOW = timedelta(minutes=30)
ADDRESS_ASKS = {
    AddressProblem.TOO_SHORT: "utter_address_too_short",
    AddressProblem.TOO_LONG: "utter_address_too_long",
    AddressProblem.NOT_TEXT: "utter_address_not_text",
}


class ValidateCheckoutForm(FormValidationAction):
    def name(self) -> str:
        return "validate_checkout_form"

    async def validate_customer_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        name = clean_name(str(value or ""))
        if name is None:
            dispatcher.utter_message(response="utter_invalid_name")
        return {"customer_name": name}

    async def validate_delivery_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        address = clean_address(text)
        if address is None:
            problem = address_problem(text) or AddressProblem.TOO_SHORT
            dispatcher.utter_message(response=ADDRESS_ASKS[problem], limit=ADDRESS_LENGTH[1])
            return {"delivery_address": None}
        slots: dict[str, Any] = {"delivery_address": address}
        pincode = find_pincode(address)
        if pincode and not tracker.get_slot("pincode"):
            slots["pincode"] = pincode  # no need to ask for what the address already says
        return slots

    async def validate_pincode(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        pincode = pincode_from_answer(str(value or ""))
        if pincode is None:
            dispatcher.utter_message(response="utter_invalid_pincode")
        return {"pincode": pincode}


class ActionAskOrderConfirmation(Action):
    def name(self) -> str:
        return "action_ask_order_confirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The response shows the delivery details from their slots.
        dispatcher.utter_message(response="utter_confirm_order", **cart_values(cart_of(tracker)))
        return []


class ActionResetDetail(Action):
    """Forget one delivery detail so that the form asks for it again."""

    def name(self) -> str:
        return "action_reset_detail"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        words = [str(value).lower() for value in tracker.get_latest_entity_values("detail")]
        slots = [w if w in DETAIL_SLOTS else DETAIL_WORDS.get(w) for w in words]
        chosen = next((slot for slot in slots if slot), None)
        if chosen is None:
            dispatcher.utter_message(response="utter_ask_which_detail")
            return []
        return [SlotSet(chosen, None)]


def same_order(order: Order, cart: Cart, tracker: Tracker) -> bool:
    return (
        order.is_payable
        and utcnow() - order.created_at < REPEAT_WINDOW
        and [(i.sku, i.quantity, i.unit_price) for i in order.items]
        == [(line.sku, line.quantity, line.unit_price) for line in cart.lines]
        and (order.customer_name, order.delivery_address, order.pincode)
        == tuple(tracker.get_slot(s) for s in ("customer_name", "delivery_address", "pincode"))
    )


class ActionPlaceOrder(Action):
    def name(self) -> str:
        return "action_place_order"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        cart = cart_of(tracker)
        if cart.is_empty:
            dispatcher.utter_message(response="utter_cart_empty_checkout")
            return []
        orders = store()
        latest = await orders.latest_for_customer(tracker.sender_id)
        if latest and same_order(latest, cart, tracker):
            return [SlotSet("order_number", str(latest.number))]
        try:
            order = await orders.create_order(
                customer_id=tracker.sender_id,
                customer_name=tracker.get_slot("customer_name"),
                delivery_address=tracker.get_slot("delivery_address"),
                pincode=tracker.get_slot("pincode"),
                lines=cart.lines,
            )
        except OrderError as error:
            logger.warning("Order for %s not placed: %s", tracker.sender_id, error)
            dispatcher.utter_message(response="utter_order_not_placed")
            return []
        # The payment message that follows shows the items and the total.
        dispatcher.utter_message(response="utter_order_placed", order_number=order.number)
        return [SlotSet("order_number", str(order.number))]
