"""“Where is my order?”: answered from the order store, for this customer's latest order."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import button, items_phrase, store
from commerce.money import format_inr
from orders.store import Order, OrderStatus

PAY_NOW = button("💳 Pay now", "/pay_now")
BROWSE = button("🍵 Browse products", "/browse_products")
HELP = button("🙋 Help", "/help")


def status_message(order: Order) -> tuple[str, list[dict[str, str]]]:
    heading = (
        f"Order *#{order.number}* · {items_phrase(order.item_count)} · {format_inr(order.total)}"
    )
    if order.flag and order.status is not OrderStatus.PAID:
        return (
            f"{heading}\nWe received a payment that needs a quick check by our team. "
            "We'll message you here shortly.",
            [HELP],
        )
    if order.status is OrderStatus.PAID:
        paid_on = order.paid_at.strftime("%d %b %Y") if order.paid_at else "—"
        return (f"{heading}\n✅ Paid on {paid_on}. We'll deliver to PIN {order.pincode}.", [BROWSE])
    if order.status is OrderStatus.PAYMENT_FAILED:
        return (
            f"{heading}\n⚠️ The last payment attempt failed. No money was taken; you can try again.",
            [PAY_NOW, HELP],
        )
    if order.status is OrderStatus.EXPIRED:
        return (f"{heading}\n⌛ The payment link expired. Tap below for a fresh one.", [PAY_NOW])
    if order.status is OrderStatus.CANCELLED:
        return (f"{heading}\nThe payment link was cancelled. Tap below for a fresh one.", [PAY_NOW])
    return (f"{heading}\n⏳ Waiting for payment. Tap below to pay.", [PAY_NOW, HELP])


class ActionOrderStatus(Action):
    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await store().latest_for_customer(tracker.sender_id)
        if order is None:
            dispatcher.utter_message(text="You don't have any orders yet.", buttons=[BROWSE])
            return []
        text, buttons = status_message(order)
        dispatcher.utter_message(text=text, buttons=buttons)
        return []
