"""The inbox item that has a Rasa server tell a customer about an applied payment event.

Written in the event's own transaction (so an applied event is never left without its
notice) by the Razorpay route and by the action that checks a payment a customer asks
about (actions/money_deducted.py); a Rasa server's consumer hands it to
`channels.notifier`, which words and sends it. The key is the event's id: a notice is
queued once, whoever applied the event.
"""

from __future__ import annotations

from durable.inbox import NewItem
from orders.payment_events import Applied

NOTICE_KIND = "payment"  # the customer is told of an applied event


def payment_notice(event_id: str, applied: Applied) -> NewItem | None:
    """The customer's notice of `applied`, or None when there is nothing to tell."""
    if applied.notify_intent is None or not applied.customer_id:
        return None
    return NewItem(
        NOTICE_KIND,
        applied.customer_id,
        f"razorpay:{event_id}",
        {"outcome": applied.outcome.value, "order_number": applied.order_number},
    )
