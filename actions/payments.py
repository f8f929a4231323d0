"""Payment actions: send the Razorpay link, and tell the customer what the webhook learnt.

action_send_payment_link runs after action_place_order and on "pay now"; the other
three run on the EXTERNAL_ intents that `channels.notifier` injects, with the order
number as an entity, and only word the message: the notifier sends it.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.common import item_lines, store
from commerce.money import format_inr
from gateways.razorpay import GatewayUnavailable, PaymentGatewayError, get_gateway
from orders import confirmation_template
from orders.payment_links import OrderAlreadyPaid, ensure_link
from orders.store import Order, OrderStatus

logger = logging.getLogger(__name__)

# Room for the item lines in one message (WhatsApp's interactive body holds 1024
# characters; the response's own words take the rest).
ITEM_LINES_LIMIT = 800


def order_values(order: Order) -> dict[str, Any]:
    """The values the payment responses show: number, items, count and total."""
    return {
        "order_number": order.number,
        "items": cut_lines(item_lines(order.items), ITEM_LINES_LIMIT),
        "item_count": order.item_count,
        "total": format_inr(order.total),
        "pincode": order.pincode,
    }


def cut_lines(lines: list[str], limit: int) -> str:
    """The lines that fit in `limit` characters; "… +3" stands for the rest."""
    shown: list[str] = []
    for index, line in enumerate(lines):
        if sum(len(s) + 1 for s in shown) + len(line) > limit:
            shown.append(f"… +{len(lines) - index}")
            break
        shown.append(line)
    return "\n".join(shown)


def order_number_of(tracker: Tracker) -> int | None:
    """The order an external event is about: its entity, else the slot."""
    value = next(tracker.get_latest_entity_values("order_number"), None) or tracker.get_slot(
        "order_number"
    )
    return int(value) if str(value or "").isdigit() else None


async def customers_order(tracker: Tracker) -> Order | None:
    """The event's order, only if it belongs to this conversation."""
    number = order_number_of(tracker)
    order = await store().get(number) if number is not None else None
    if order is None or order.customer_id != tracker.sender_id:
        logger.warning(
            "Payment event for order %s does not belong to %s", number, tracker.sender_id
        )
        return None
    return order


class ActionSendPaymentLink(Action):
    def name(self) -> str:
        return "action_send_payment_link"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await store().latest_for_customer(tracker.sender_id)
        if order is None:
            dispatcher.utter_message(response="utter_no_order_to_pay")
            return []
        events = [SlotSet("order_number", str(order.number))]
        try:
            order = await ensure_link(store(), get_gateway(), order)
        except OrderAlreadyPaid:
            dispatcher.utter_message(
                response="utter_order_already_paid", order_number=order.number
            )
            return events
        except GatewayUnavailable as exc:
            logger.warning("Payment link for order #%s not available: %s", order.number, exc)
            dispatcher.utter_message(
                response="utter_gateway_unavailable", order_number=order.number
            )
            return events
        except PaymentGatewayError as exc:
            logger.error("Payment link for order #%s refused: %s", order.number, exc)
            dispatcher.utter_message(
                response="utter_payment_link_error", order_number=order.number
            )
            return events
        # The response carries a neutral `pay` payload; each channel shows it its way
        # (WhatsApp: a one-tap URL button, see channels/whatsapp/render.py).
        dispatcher.utter_message(
            response="utter_payment_link",
            payment_url=order.payment_link_url,
            **order_values(order),
        )
        return events


class ActionPaymentReceived(Action):
    def name(self) -> str:
        return "action_payment_received"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await customers_order(tracker)
        # Words only: the notifier that triggered this turn sends the message and
        # records it as sent once WhatsApp accepted it.
        if order is None or order.status is not OrderStatus.PAID:
            return []
        if order.confirmation_sent_at is not None:
            return []
        # The notifier finds the confirmation among the turn's messages by its response.
        response = confirmation_template.RESPONSE
        dispatcher.utter_message(response=response, **order_values(order))
        events = [SlotSet("order_number", str(order.number))]
        events.append(SlotSet("order_pending", False))
        if _cart_is_this_order(tracker.get_slot("cart"), order):
            events += [SlotSet("cart", []), SlotSet("cart_has_items", False)]
        return events


def _cart_is_this_order(cart: Any, order: Order) -> bool:
    # A cart started for a next order while this one was being paid is kept.
    lines = cart if isinstance(cart, list) else []
    in_cart = sorted(
        (str(line.get("sku")), int(line.get("quantity") or 0))
        for line in lines
        if isinstance(line, dict)
    )
    return not in_cart or in_cart == sorted((item.sku, item.quantity) for item in order.items)


class ActionPaymentFailed(Action):
    def name(self) -> str:
        return "action_payment_failed"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await customers_order(tracker)
        if order is None or order.status is OrderStatus.PAID:
            return []  # a late failure of an attempt before the one that paid
        response = "utter_payment_under_review" if order.flag else "utter_payment_failed"
        dispatcher.utter_message(response=response, order_number=order.number)
        return []


class ActionPaymentLinkExpired(Action):
    def name(self) -> str:
        return "action_payment_link_expired"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await customers_order(tracker)
        if order is None or order.status not in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
            return []  # paid meanwhile, or already reopened with a fresh link
        response = (
            "utter_payment_link_expired"
            if order.status is OrderStatus.EXPIRED
            else "utter_payment_link_cancelled"
        )
        dispatcher.utter_message(response=response, order_number=order.number)
        return []
