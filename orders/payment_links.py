"""An order's payment link: one payable link per order, re-used until it expires.

Asking again ("pay now", "send the link again") returns the stored link; after it
expired or was cancelled the order reopens with the next attempt's reference and gets
a fresh one. The link itself is created by `gateways.razorpay`.
"""

from __future__ import annotations

from gateways.razorpay import RazorpayGateway
from orders.store import Order, OrderStatus, OrderStore


class OrderAlreadyPaid(Exception):
    """The order needs no payment link: it is paid."""


def reference_for(order: Order) -> str:
    """The reference_id of the order's current link: the number, then number-attempt."""
    if order.payment_reference:
        return order.payment_reference
    return (
        str(order.number)
        if order.payment_attempt == 0
        else f"{order.number}-{order.payment_attempt}"
    )


async def ensure_link(store: OrderStore, gateway: RazorpayGateway, order: Order) -> Order:
    """Return the order with a payable link, creating one only when it has none.

    While the stored link can still be paid it is re-used as it is (asking again never
    makes a second link). After it expired or was cancelled the order reopens with the
    next attempt's reference and gets a fresh link.
    """
    if order.status is OrderStatus.PAID:
        raise OrderAlreadyPaid(f"Order #{order.number} is already paid")
    if order.status in (OrderStatus.EXPIRED, OrderStatus.CANCELLED):
        order = await _reopen(store, order)
    if order.payment_link_id and order.payment_link_url:
        return order

    reference = reference_for(order)
    link = await gateway.create_link(order, reference)
    await store.update(
        order.number,
        payment_reference=reference,
        payment_link_id=link.id,
        payment_link_url=link.short_url,
        payment_link_status=link.status,
    )
    stored = await store.get(order.number)
    assert stored is not None
    return stored


async def _reopen(store: OrderStore, order: Order) -> Order:
    attempt = order.payment_attempt + 1
    # Compare-and-set: of two taps at once one reopens the order; the other finds it
    # pending already and goes on with that attempt (same reference, so the same link).
    await store.transition(
        order.number,
        OrderStatus.PENDING_PAYMENT,
        payment_attempt=attempt,
        payment_reference=f"{order.number}-{attempt}",
        payment_link_id=None,
        payment_link_url=None,
        payment_link_status=None,
    )
    reopened = await store.get(order.number)
    assert reopened is not None
    if reopened.status is OrderStatus.PAID:
        raise OrderAlreadyPaid(f"Order #{order.number} is already paid")
    return reopened
