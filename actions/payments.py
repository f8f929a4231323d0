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

from actions.common import button, item_lines, items_phrase, store
from commerce.money import format_inr
from gateways.razorpay import GatewayUnavailable, PaymentGatewayError, get_gateway
from orders.payment_links import OrderAlreadyPaid, ensure_link
from orders.store import Order, OrderStatus

logger = logging.getLogger(__name__)

PAY_NOW = button("💳 Pay now", "/pay_now")
TRY_AGAIN = button("🔁 Try again", "/pay_now")
HELP = button("🙋 Help", "/help")
BROWSE = button("🍵 Browse products", "/browse_products")
WHATSAPP_BODY_LIMIT = 1024  # an interactive message's body


def order_summary(order: Order, limit: int = WHATSAPP_BODY_LIMIT - 200) -> str:
    """Order number, items and total; long carts are cut to fit one WhatsApp message."""
    lines = item_lines(order.items)
    shown: list[str] = []
    for index, line in enumerate(lines):
        if sum(len(s) + 1 for s in shown) + len(line) > limit:
            shown.append(f"…and {len(lines) - index} more")
            break
        shown.append(line)
    return "\n".join([f"🧾 *Order #{order.number}*", *shown, f"*Total: {format_inr(order.total)}*"])


def payment_message(order: Order, channel: str | None) -> dict[str, Any]:
    """The link as a one-tap WhatsApp "Pay Now" button, or as text elsewhere."""
    body = f"{order_summary(order)}\n\nPay securely with UPI, cards or net banking."
    if channel == "whatsapp":
        interactive = {
            "type": "cta_url",
            "body": {"text": body[:WHATSAPP_BODY_LIMIT]},
            # A cta_url message holds one button, so help is offered in the footer.
            "footer": {"text": "Need help? Just reply “help”."},
            "action": {
                "name": "cta_url",
                "parameters": {"display_text": "Pay Now", "url": order.payment_link_url},
            },
        }
        return {"json_message": {"whatsapp": {"type": "interactive", "interactive": interactive}}}
    return {"text": f"{body}\n💳 Pay Now: {order.payment_link_url}", "buttons": [HELP]}


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
            dispatcher.utter_message(
                text="You have no order waiting for payment.", buttons=[BROWSE]
            )
            return []
        events = [SlotSet("order_number", str(order.number))]
        try:
            order = await ensure_link(store(), get_gateway(), order)
        except OrderAlreadyPaid:
            dispatcher.utter_message(
                text=f"Order *#{order.number}* is already paid ✅", buttons=[BROWSE]
            )
            return events
        except GatewayUnavailable as exc:
            logger.warning("Payment link for order #%s not available: %s", order.number, exc)
            dispatcher.utter_message(
                text=f"Sorry, our payment partner (Razorpay) isn't responding right now 😕 "
                f"Your order *#{order.number}* is saved. Please try again in a minute.",
                buttons=[TRY_AGAIN, HELP],
            )
            return events
        except PaymentGatewayError as exc:
            logger.error("Payment link for order #%s refused: %s", order.number, exc)
            dispatcher.utter_message(
                text=f"Sorry, I couldn't create a payment link for order *#{order.number}*. "
                "Our team has been told; tap Help and we'll sort it out.",
                buttons=[HELP],
            )
            return events
        dispatcher.utter_message(**payment_message(order, tracker.get_latest_input_channel()))
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
        dispatcher.utter_message(
            text=f"✅ *Payment successful!*\nOrder *#{order.number}* · "
            f"{items_phrase(order.item_count)} · {format_inr(order.total)} paid.\n"
            f"We'll deliver to PIN {order.pincode}. "
            "Thank you for shopping with us 🙏",
            buttons=[BROWSE],
        )
        events = [SlotSet("order_number", str(order.number))]
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
        if order.flag:
            dispatcher.utter_message(
                text=f"We received a payment for order *#{order.number}* that needs a quick "
                "check by our team 🔍 We'll message you here shortly; please don't pay again.",
                buttons=[HELP],
            )
            return []
        dispatcher.utter_message(
            text=f"⚠️ Your payment for order *#{order.number}* didn't go through. If money was "
            "deducted, your bank returns it automatically. Your link still works: tap Pay now "
            "to try again.",
            buttons=[PAY_NOW, HELP],
        )
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
        what = "expired ⌛" if order.status is OrderStatus.EXPIRED else "was cancelled"
        dispatcher.utter_message(
            text=f"The payment link for order *#{order.number}* {what}. Your order is saved: "
            "tap Pay now for a fresh link.",
            buttons=[PAY_NOW, HELP],
        )
        return []
