"""Checkout: the delivery form, confirmation, corrections and placing the order."""

from __future__ import annotations

import logging
import re
from datetime import timedelta
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.common import cart_of, cart_values, store
from actions.questions import answer_question
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
from commerce.questions import looks_like_question
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
# After an order is placed nothing waits for confirmation, and an order waits for payment.
PLACED = [SlotSet("awaiting_confirmation", False), SlotSet("order_pending", True)]
# A second tap on "Confirm" within this window re-uses the order it placed.
REPEAT_WINDOW = timedelta(minutes=30)
ADDRESS_ASKS = {
    AddressProblem.TOO_SHORT: "utter_address_too_short",
    AddressProblem.TOO_LONG: "utter_address_too_long",
    AddressProblem.NOT_TEXT: "utter_address_not_text",
}


def asked_instead(
    slot: str, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker
) -> dict[str, Any] | None:
    """A question typed at a form prompt ("do u deliver in pune??" for the address) is
    answered and never stored; the form then asks for the detail again."""
    text = str(value or "")
    if not looks_like_question(text):
        return None
    answer_question(dispatcher, tracker, text)
    return {slot: None, "invalid_detail": None}


class ValidateCheckoutForm(FormValidationAction):
    def name(self) -> str:
        return "validate_checkout_form"

    async def validate_customer_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        question = asked_instead("customer_name", value, dispatcher, tracker)
        if question is not None:
            return question
        name = clean_name(str(value or ""))
        if name is None:
            dispatcher.utter_message(response="utter_invalid_name")
        return {"customer_name": name}

    async def validate_delivery_address(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        question = asked_instead("delivery_address", value, dispatcher, tracker)
        if question is not None:
            return question
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
        question = asked_instead("pincode", value, dispatcher, tracker)
        if question is not None:
            return question
        pincode = pincode_from_answer(str(value or ""))
        if pincode is None:
            # action_ask_pincode words the question again as this one message.
            return {"pincode": None, "invalid_detail": "pincode"}
        slots: dict[str, Any] = {"pincode": pincode}
        if tracker.get_slot("invalid_detail"):
            slots["invalid_detail"] = None
        return slots


class ActionAskPincode(Action):
    """The form's PIN question; after a wrong PIN, one message that says so and asks
    again (not the error and then the question)."""

    def name(self) -> str:
        return "action_ask_pincode"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        if tracker.get_slot("invalid_detail") == "pincode":
            dispatcher.utter_message(response="utter_invalid_pincode")
            return [SlotSet("invalid_detail", None)]
        dispatcher.utter_message(response="utter_ask_pincode")
        return []


class ActionAskOrderConfirmation(Action):
    def name(self) -> str:
        return "action_ask_order_confirmation"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        # The response shows the delivery details from their slots.
        dispatcher.utter_message(response="utter_confirm_order", **cart_values(cart_of(tracker)))
        # Set until the order is placed or the details change, so "Confirm" tapped after
        # a question or help still places it.
        return [SlotSet("awaiting_confirmation", True)]


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
        return [SlotSet(chosen, None), SlotSet("awaiting_confirmation", False)]


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
            return [SlotSet("order_number", str(latest.number)), *PLACED]
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
        return [SlotSet("order_number", str(order.number)), *PLACED]


class ActionStopCheckout(Action):
    """ "Cancel" on the summary or "stop" in the form: the cart stays, nothing waits."""

    def name(self) -> str:
        return "action_stop_checkout"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        text = str((tracker.latest_message or {}).get("text") or "")
        checking_out = tracker.active_loop.get("name") or tracker.get_slot("awaiting_confirmation")
        if not checking_out and mentions_order(text):
            # "cancel my order" outside checkout: a person decides, not "checkout stopped".
            dispatcher.utter_message(response="utter_cancel_request")
            dispatcher.utter_message(response="utter_offer_person")
            return []
        dispatcher.utter_message(response="utter_checkout_stopped")
        return [SlotSet("awaiting_confirmation", False)]


def mentions_order(text: str) -> bool:
    return bool(re.search(r"\border\b|ऑर्डर", text or "", re.IGNORECASE))
