"""“Where is my order?”: answered from the order store, for this customer's latest order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.common import store
from actions.questions import answer_policy, policy_answer
from commerce.money import format_inr
from commerce.questions import Topic, policy_topic
from commerce.shop import load_shop
from orders.store import Order, OrderStatus

# The reply for each status; a flagged payment (amount or currency off) comes first.
STATUS_RESPONSES = {
    OrderStatus.PAID: "utter_status_paid",
    OrderStatus.PAYMENT_FAILED: "utter_status_payment_failed",
    OrderStatus.EXPIRED: "utter_status_link_expired",
    OrderStatus.CANCELLED: "utter_status_link_cancelled",
}


# The shop's customers are in India: a payment's day is the day it was there.
INDIA = timezone(timedelta(hours=5, minutes=30))


def format_day(moment: datetime) -> str:
    """A date in digits, day-month-year as India writes it: "05-03-2025". No month name,
    which would be English in a Hindi reply; the response words the rest."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)  # the store keeps UTC
    return moment.astimezone(INDIA).strftime("%d-%m-%Y")


def status_response(order: Order) -> tuple[str, dict[str, Any]]:
    """The response that tells the order's status, and its values."""
    values: dict[str, Any] = {
        "order_number": order.number,
        "item_count": order.item_count,
        "total": format_inr(order.total),
        "pincode": order.pincode,
    }
    if order.flag and order.status is not OrderStatus.PAID:
        return "utter_status_under_review", values
    if order.status is OrderStatus.PAID:
        values["paid_on"] = format_day(order.paid_at) if order.paid_at else "—"
    return STATUS_RESPONSES.get(order.status, "utter_status_pending"), values


class ActionOrderStatus(Action):
    def name(self) -> str:
        return "action_order_status"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        order = await store().latest_for_customer(tracker.sender_id)
        text = str((tracker.latest_message or {}).get("text") or "")
        topic = policy_topic(text) if not text.startswith("/") else None
        if order is None:
            if topic is not None:
                # "When will it be delivered?", "koi discount hai?" before any order:
                # the shop's answer, not "no orders yet".
                answer_policy(dispatcher, text)
            else:
                dispatcher.utter_message(response="utter_no_orders")
            return []
        response, values = status_response(order)
        dispatcher.utter_message(response=response, **values)
        if topic is Topic.DELIVERY and order.status is OrderStatus.PAID and order.pincode:
            # ... and how long delivery to its PIN code usually takes.
            answer, values = policy_answer(load_shop(), Topic.DELIVERY, order.pincode)
            if answer != "utter_policy_unknown":
                dispatcher.utter_message(response=answer, **values)
        return []
