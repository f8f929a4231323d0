"""Shopify order sync against a local GraphQL stand-in: created once, retried when throttled."""

from __future__ import annotations

import pytest

from gateways.shopify import (
    ShopifyClient,
    ShopifyRejected,
    ShopifyUnavailable,
    payment_tag,
)
from orders.reconcile import Reconciler
from orders.shopify_sync import sync_paid_order
from orders.store import OrderStatus
from sandbox.harness.razorpay_stack import TOTAL, place_order
from sandbox.harness.shopify_api import API_VERSION, DOMAIN, TOKEN, FakeShopify


@pytest.fixture
async def shopify():
    fake = await FakeShopify().start()
    fake.slow_seconds = 0.6
    yield fake
    await fake.stop()


@pytest.fixture
def client(shopify):
    return ShopifyClient(DOMAIN, TOKEN, shopify.base_url, API_VERSION, timeout=0.3)


async def paid_order(store, payment_id="pay_Shop1"):
    order = await place_order(store)
    assert await store.transition(order.number, OrderStatus.PAID, payment_id=payment_id)
    return await store.get(order.number)


async def test_paid_order_is_created_once(store, shopify, client):
    order = await paid_order(store)
    shopify_id = await sync_paid_order(store, client, order.number)
    assert shopify_id == shopify.orders[0]["id"]
    assert (await store.get(order.number)).shopify_order_id == shopify_id

    created = shopify.orders[0]
    assert created["financialStatus"] == "PAID"
    assert created["transactions"][0]["gateway"] == "razorpay"
    assert created["transactions"][0]["amountSet"]["shopMoney"] == {
        "amount": "799.00",
        "currencyCode": "INR",
    }
    assert [
        (i["sku"], i["quantity"], i["priceSet"]["shopMoney"]["amount"])
        for i in created["lineItems"]
    ] == [("masala-chai-250g", 2, "250.00"), ("ceramic-mug", 1, "299.00")]
    assert payment_tag("pay_Shop1") in created["tags"]
    assert created["phone"] == f"+{order.customer_id}"
    assert created["shippingAddress"]["zip"] == "560001"
    assert TOTAL == 79900

    assert await sync_paid_order(store, client, order.number) == shopify_id
    assert len(shopify.orders) == 1 and shopify.calls == ["orders", "orderCreate"]


async def test_a_create_that_timed_out_is_found_not_made_again(store, shopify, client):
    order = await paid_order(store)
    shopify.next(None, "slow_create")  # the lookup, then a create answered too late
    with pytest.raises(ShopifyUnavailable):
        await sync_paid_order(store, client, order.number)
    assert len(shopify.orders) == 1 and (await store.get(order.number)).shopify_order_id is None

    assert await sync_paid_order(store, client, order.number) == shopify.orders[0]["id"]
    assert len(shopify.orders) == 1


@pytest.mark.parametrize("kind", ["throttled", "down"])
async def test_throttled_or_down_is_retried_by_the_reconciler(store, shopify, client, kind):
    order = await paid_order(store)
    await store.mark_confirmation_sent(order.number)
    shopify.next(kind)
    reconciler = Reconciler(store, None, None, client, interval=0.01)
    assert (await reconciler.run_once()).shopify == 0
    assert shopify.orders == []
    for _ in range(20):  # the backoff lets it try again soon
        if (await reconciler.run_once()).shopify:
            break
    assert len(shopify.orders) == 1
    assert (await store.get(order.number)).shopify_order_id == shopify.orders[0]["id"]


async def test_unpaid_orders_are_not_synced(store, shopify, client):
    order = await place_order(store)
    assert await sync_paid_order(store, client, order.number) is None
    assert shopify.calls == []


async def test_wrong_token_is_rejected(store, shopify):
    order = await paid_order(store)
    client = ShopifyClient(DOMAIN, "wrong", shopify.base_url, API_VERSION, timeout=0.3)
    with pytest.raises(ShopifyRejected):
        await sync_paid_order(store, client, order.number)


def test_off_by_default(monkeypatch):
    monkeypatch.delenv("SHOPIFY_STORE_DOMAIN", raising=False)
    monkeypatch.delenv("SHOPIFY_ACCESS_TOKEN", raising=False)
    assert ShopifyClient.from_env() is None
    monkeypatch.setenv("SHOPIFY_STORE_DOMAIN", DOMAIN)
    monkeypatch.setenv("SHOPIFY_ACCESS_TOKEN", TOKEN)
    monkeypatch.delenv("SHOPIFY_API_BASE_URL", raising=False)
    assert ShopifyClient.from_env().url == f"https://{DOMAIN}/admin/api/2025-01/graphql.json"
