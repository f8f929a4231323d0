"""“Paisa kat gaya but payment failed 😡”: the payment's real state, from Razorpay.

The customer's latest order's link is fetched and what it shows is applied the way
the reconciler applies it (`orders.reconcile.link_events`, `apply_event`), with the
customer's notice in the inbox in the same transaction, as the Razorpay route does: a
payment whose webhook is late is recorded now, and the usual confirmation follows
through the outbox, once. Then the customer is told what Razorpay says:

- paid: the order is confirmed, with its payment id;
- not paid: UPI reverses a failed debit by itself (RBI: within T+1 days), the payment
  reference, and a button for a person;
- Razorpay unreachable, no link to check, or a payment our team must look at (flagged):
  said plainly, and a person takes over.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.engine import Connection

from actions.common import store
from actions.handover import MONEY_DEDUCTED, hand_over
from commerce.money import format_inr
from durable.inbox import Inbox
from durable.notices import payment_notice
from gateways.razorpay import PaymentGatewayError, get_gateway
from gateways.razorpay_payloads import PaymentLink
from orders.payment_events import Applied, PaymentEvent, apply_event
from orders.reconcile import link_events
from orders.store import Order, OrderStatus, OrderStore, PaymentStatus

logger = logging.getLogger(__name__)

_inboxes: dict[int, Inbox] = {}


async def _inbox(orders: OrderStore) -> Inbox:
    """The inbox on the order store's database (one per engine, tables made once)."""
    inbox = _inboxes.setdefault(id(orders.engine), Inbox(orders.engine))
    await inbox.prepare()
    return inbox


async def apply_link(orders: OrderStore, order: Order, link: PaymentLink) -> Order:
    """Record what the fetched link shows, with the customer's notice; the order after."""
    inbox = await _inbox(orders)
    for event in link_events(order, link):

        def queue_notice(conn: Connection, applied: Applied, event: PaymentEvent = event) -> None:
            notice = payment_notice(event.event_id, applied)
            if notice is not None:
                inbox.add_in(conn, [notice])

        await apply_event(orders, event, queue_notice)
    return await orders.get(order.number) or order


async def failed_payment_id(orders: OrderStore, order: Order, link: PaymentLink) -> str | None:
    """The latest attempt that did not capture: as the link lists it, else as a
    payment.failed webhook recorded it."""
    listed = [p.payment_id for p in link.payments if p.status != "captured"]
    recorded = [
        p.payment_id
        for p in await orders.payments_of(order.number)
        if p.status is PaymentStatus.FAILED
    ]
    return (listed or recorded or [None])[-1]


class ActionCheckDeductedPayment(Action):
    def name(self) -> str:
        return "action_check_deducted_payment"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        orders = store()
        order = await orders.latest_for_customer(tracker.sender_id)
        if order is None or not order.payment_link_id:
            dispatcher.utter_message(response="utter_money_deducted_no_order")
            return await hand_over(dispatcher, tracker, domain, MONEY_DEDUCTED)
        events = [SlotSet("order_number", str(order.number))]
        link = None
        if order.status is not OrderStatus.PAID:
            try:
                link = await get_gateway().fetch_link(order.payment_link_id)
            except PaymentGatewayError as exc:
                logger.warning("Deducted payment of order #%s not checked: %s", order.number, exc)
                dispatcher.utter_message(
                    response="utter_money_deducted_unchecked", order_number=order.number
                )
                return events + await hand_over(dispatcher, tracker, domain, MONEY_DEDUCTED)
            order = await apply_link(orders, order, link)
        if order.flag:
            # An amount that differs, a partial or a second payment: a person must look.
            dispatcher.utter_message(
                response="utter_payment_under_review", order_number=order.number
            )
            return events + await hand_over(dispatcher, tracker, domain, MONEY_DEDUCTED)
        if order.status is OrderStatus.PAID or link is None:
            dispatcher.utter_message(
                response="utter_money_deducted_paid",
                order_number=order.number,
                total=format_inr(order.total),
                payment_id=order.payment_id or "—",
            )
            return events
        payment_id = await failed_payment_id(orders, order, link)
        dispatcher.utter_message(
            response="utter_money_deducted_not_paid",
            order_number=order.number,
            total=format_inr(order.total),
            reference=f"#{order.number}" + (f" · {payment_id}" if payment_id else ""),
        )
        return events
