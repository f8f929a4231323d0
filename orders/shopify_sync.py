"""Paid orders into Shopify, once each: found by the payment's tag before creating."""

from __future__ import annotations

import asyncio
import logging
import weakref

from gateways.shopify import ShopifyClient, payment_tag
from orders.store import OrderStatus, OrderStore

logger = logging.getLogger(__name__)

# One sync per order at a time in this process: the webhook's follow-up and the
# reconciler can reach the same order together.
_locks: weakref.WeakValueDictionary[int, asyncio.Lock] = weakref.WeakValueDictionary()


async def sync_paid_order(store: OrderStore, client: ShopifyClient, number: int) -> str | None:
    """Make sure the paid order exists in Shopify once; returns its Shopify id."""
    lock = _locks.setdefault(number, asyncio.Lock())
    async with lock:
        order = await store.get(number)
        if order is None or order.status is not OrderStatus.PAID or not order.payment_id:
            return None
        if order.shopify_order_id:
            return order.shopify_order_id
        shopify_id = await client.find_order(payment_tag(order.payment_id))
        if shopify_id is None:
            shopify_id = await client.create_order(order)
            logger.info("Order #%s created in Shopify as %s", number, shopify_id)
        await store.update(number, shopify_order_id=shopify_id)
        return shopify_id
