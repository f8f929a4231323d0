"""Razorpay Payment Links through the real SDK against a local Razorpay on loopback HTTP."""

from __future__ import annotations

import asyncio
import time

import pytest

from gateways.razorpay import (
    GatewayNotConfigured,
    GatewayRejected,
    GatewayUnavailable,
    RazorpayGateway,
    link_expiry_minutes,
)
from orders.payment_links import OrderAlreadyPaid, ensure_link
from orders.store import OrderStatus
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, FakeRazorpay
from sandbox.harness.razorpay_stack import CUSTOMER, TOTAL, Line, place_order


@pytest.fixture
async def razorpay():
    fake = await FakeRazorpay().start()
    fake.slow_seconds = 1.0
    yield fake
    await fake.stop()


@pytest.fixture
def gateway(razorpay):
    return RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=0.3)


async def test_link_carries_the_order(store, razorpay, gateway, monkeypatch):
    monkeypatch.delenv("RAZORPAY_LINK_EXPIRY_MINUTES", raising=False)
    order = await place_order(store)
    before = time.time()
    linked = await ensure_link(store, gateway, order)

    link = razorpay.links[linked.payment_link_id]
    assert link["amount"] == TOTAL == order.total
    assert link["currency"] == "INR"
    assert link["reference_id"] == str(order.number)
    assert link["customer"] == {"name": "Asha Rao", "contact": f"+{CUSTOMER}"}
    assert link["notes"] == {"order_number": str(order.number), "customer_id": CUSTOMER}
    assert link["reminder_enable"] is True and link["accept_partial"] is False
    assert str(order.number) in link["description"]
    assert before + 24 * 3600 - 5 <= link["expire_by"] <= time.time() + 24 * 3600
    assert (linked.payment_link_url, linked.payment_link_status) == (link["short_url"], "created")
    assert linked.payment_reference == str(order.number)


async def test_stored_link_is_reused_never_a_second(store, razorpay, gateway):
    order = await place_order(store)
    first = await ensure_link(store, gateway, order)
    again = await ensure_link(store, gateway, await store.get(order.number))
    assert again.payment_link_id == first.payment_link_id
    assert razorpay.calls("POST") == 1 and len(razorpay.links) == 1


async def test_concurrent_requests_make_one_link(store, razorpay, gateway):
    order = await place_order(store)
    results = await asyncio.gather(*(ensure_link(store, gateway, order) for _ in range(5)))
    assert len({r.payment_link_id for r in results}) == 1
    assert len(razorpay.links) == 1


async def test_timeout_after_razorpay_made_the_link_recovers_it(store, razorpay, gateway):
    order = await place_order(store)
    razorpay.fail_next("create", "timeout_after")
    linked = await ensure_link(store, gateway, order)
    assert len(razorpay.links) == 1
    assert linked.payment_link_id == razorpay.link_for(str(order.number))["id"]
    assert razorpay.calls("GET") == 1  # looked up by reference_id


async def test_duplicate_reference_recovers_the_existing_link(store, razorpay, gateway):
    order = await place_order(store)
    made = await gateway.create_link(order, str(order.number))
    again = await gateway.create_link(order, str(order.number))  # Razorpay: 400 duplicate
    assert again.id == made.id and len(razorpay.links) == 1


@pytest.mark.parametrize("kind", ["html_502", "server_error", "timeout"])
async def test_razorpay_down_is_unavailable_and_nothing_is_stored(store, razorpay, gateway, kind):
    order = await place_order(store)
    razorpay.fail_next("create", kind)
    razorpay.fail_next("list", kind)
    with pytest.raises(GatewayUnavailable):
        await ensure_link(store, gateway, order)
    assert (await store.get(order.number)).payment_link_id is None
    # Razorpay back: the retry makes exactly one link.
    linked = await ensure_link(store, gateway, order)
    assert linked.payment_link_id and len(razorpay.links) == 1


async def test_unreachable_razorpay_is_unavailable(store):
    order = await place_order(store)
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, "http://127.0.0.1:9", timeout=0.3)
    with pytest.raises(GatewayUnavailable):
        await ensure_link(store, gateway, order)


async def test_rejected_request_is_rejected(store, razorpay, gateway):
    order = await store.create_order(CUSTOMER, "Asha", "addr", "560001", [Line("x", "X", 50, 1)])
    with pytest.raises(GatewayRejected, match="amount"):
        await ensure_link(store, gateway, order)
    assert razorpay.links == {}


async def test_wrong_keys_are_rejected(store, razorpay):
    order = await place_order(store)
    gateway = RazorpayGateway(KEY_ID, "wrong", razorpay.base_url, timeout=0.3)
    with pytest.raises(GatewayRejected):
        await ensure_link(store, gateway, order)


def test_missing_keys_are_refused(monkeypatch):
    monkeypatch.delenv("RAZORPAY_KEY_ID", raising=False)
    with pytest.raises(GatewayNotConfigured):
        RazorpayGateway.from_env()


async def test_expired_order_reopens_with_a_fresh_reference(store, razorpay, gateway):
    order = await place_order(store)
    first = await ensure_link(store, gateway, order)
    assert await store.transition(order.number, OrderStatus.EXPIRED, payment_link_status="expired")

    fresh = await ensure_link(store, gateway, await store.get(order.number))
    assert fresh.status is OrderStatus.PENDING_PAYMENT
    assert fresh.payment_attempt == 1 and fresh.payment_reference == f"{order.number}-1"
    assert fresh.payment_link_id != first.payment_link_id
    assert razorpay.links[fresh.payment_link_id]["reference_id"] == f"{order.number}-1"
    # Asking again re-uses the fresh link.
    assert (await ensure_link(store, gateway, fresh)).payment_link_id == fresh.payment_link_id
    assert len(razorpay.links) == 2


async def test_paid_order_gets_no_link(store, razorpay, gateway):
    order = await place_order(store)
    await store.transition(order.number, OrderStatus.PAID, payment_id="pay_1")
    with pytest.raises(OrderAlreadyPaid):
        await ensure_link(store, gateway, await store.get(order.number))
    assert razorpay.links == {}


@pytest.mark.parametrize("value, minutes", [("", 1440), ("60", 60), ("5", 16), ("abc", 1440)])
def test_link_expiry_setting(monkeypatch, value, minutes):
    monkeypatch.setenv("RAZORPAY_LINK_EXPIRY_MINUTES", value)
    assert link_expiry_minutes() == minutes
