"""POST /webhooks/razorpay/webhook on a real loopback server, with a real database, the
local Razorpay and Graph API stand-ins, and the payment actions run for real.

The conversation side is `StubAgent` (Rasa's lock and tracker stores, the rules of
data/rules/payment.yml in place of a trained policy); test_razorpay_agent.py repeats
the paid path with a real Agent when a trained model is present.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging

import aiohttp
import pytest
import sqlalchemy as sa

import channels.razorpay
from channels.razorpay import RazorpayWebhookInput
from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from durable.tables import inbox
from gateways.razorpay import RazorpayGateway
from orders.payment_links import ensure_link
from orders.store import OrderStatus, OrderStore, webhook_events
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN, FakeGraphApi
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, sign
from sandbox.harness.razorpay_stack import CUSTOMER, StubAgent, place_order, serve

WEBHOOK = "/webhooks/razorpay/webhook"


@pytest.fixture
def whatsapp(graph):
    client = WhatsAppClient(
        TOKEN,
        PHONE_NUMBER_ID,
        base_url=graph.base_url,
        api_version=API_VERSION,
        max_attempts=2,
        backoff_base=0.01,
    )
    return WhatsAppInput(
        WhatsAppSettings("app-secret", "verify-token"), client, ChannelState.in_memory()
    )


@pytest.fixture
def gateway(razorpay):
    return RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=2)


@pytest.fixture
async def agent():
    stub = StubAgent()
    await stub.seed(CUSTOMER, "whatsapp")
    return stub


@pytest.fixture
async def server(store, monkeypatch, whatsapp, gateway, agent):
    monkeypatch.setenv("DATABASE_URL", store.url)  # the actions' store
    channel = RazorpayWebhookInput([WEBHOOK_SECRET], store, gateway, reconcile_interval=3600)
    async with serve([whatsapp, channel], agent) as base_url:
        async with aiohttp.ClientSession(base_url) as http:
            yield http


@pytest.fixture
async def linked(store, gateway):
    return await ensure_link(store, gateway, await place_order(store))


async def deliver(http, body: bytes, headers: dict) -> tuple[int, dict]:
    async with http.post(WEBHOOK, data=body, headers=headers) as resp:
        return resp.status, await resp.json()


async def outcome(store: OrderStore, body: bytes, headers: dict) -> str:
    """How the server's inbox consumer applied a delivered event (just after the answer)."""
    event_id = headers.get("X-Razorpay-Event-Id") or "body:" + hashlib.sha256(body).hexdigest()
    for _ in range(200):
        found = await store.event_outcome(event_id)
        if found is not None:
            return found
        await asyncio.sleep(0.025)
    raise AssertionError(f"event {event_id} was never applied")


async def outcomes(store: OrderStore, count: int) -> list[str]:
    """Every recorded event's outcome, once `count` are recorded."""
    for _ in range(200):
        with store.engine.connect() as conn:
            found = conn.execute(sa.select(webhook_events.c.outcome)).scalars().all()
        if len(found) >= count:
            return found
        await asyncio.sleep(0.025)
    raise AssertionError(f"{len(found)} of {count} events applied")


def inbox_statuses(store: OrderStore, kind: str) -> list[str]:
    query = sa.select(inbox.c.status).where(inbox.c.kind == kind).order_by(inbox.c.id)
    with store.engine.connect() as conn:
        return list(conn.execute(query).scalars())


def recorded_events(store: OrderStore) -> int:
    with store.engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(webhook_events)).scalar()


async def settle(graph: FakeGraphApi, count: int) -> list[dict]:
    """The messages sent to WhatsApp, after giving stray extra ones time to show up."""
    await graph.wait_for_sent(count)
    await asyncio.sleep(0.3)
    return graph.sent


async def test_paid_webhook_confirms_in_the_whatsapp_chat(store, server, razorpay, graph, linked):
    payment = razorpay.pay(linked.payment_link_id)
    delivery = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    status, answer = await deliver(server, *delivery)
    assert (status, answer) == (200, {"status": "accepted"})
    assert await outcome(store, *delivery) == "paid"

    [message] = await settle(graph, 1)
    assert message["to"] == CUSTOMER
    text = json.dumps(message, ensure_ascii=False)
    assert "Payment successful" in text and f"#{linked.number}" in text
    assert "₹799" in text and "Items: 3" in text
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PAID and order.confirmation_sent_at is not None


async def test_fifty_concurrent_deliveries_one_transition_one_confirmation(
    store, server, razorpay, graph, agent, linked
):
    payment = razorpay.pay(linked.payment_link_id)
    body, headers = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    answers = await asyncio.gather(*(deliver(server, body, headers) for _ in range(50)))

    assert {status for status, _ in answers} == {200}
    # Recorded once: every other delivery is answered as a duplicate at the door.
    answered = [answer["status"] for _, answer in answers]
    assert answered.count("accepted") == 1 and answered.count("duplicate") == 49
    assert await outcome(store, body, headers) == "paid"
    assert len(await settle(graph, 1)) == 1
    assert [intent for _, intent, _ in agent.triggered] == ["EXTERNAL_payment_received"]
    assert recorded_events(store) == 1


async def test_every_paid_event_type_at_once_confirms_once(
    store, server, razorpay, graph, agent, linked
):
    payment = razorpay.pay(linked.payment_link_id)
    deliveries = [
        razorpay.webhook(name, linked.payment_link_id, payment)
        for name in ("payment.captured", "order.paid", "payment_link.paid")
        for _ in range(10)
    ]
    answers = await asyncio.gather(*(deliver(server, *d) for d in deliveries))
    assert {status for status, _ in answers} == {200}
    assert (await outcomes(store, len(deliveries))).count("paid") == 1
    assert len(await settle(graph, 1)) == 1
    assert agent.max_concurrent == 1  # the tracker lock serialises the conversation


async def test_an_event_the_route_fails_to_apply_is_applied_by_the_inbox_consumer(
    store, server, razorpay, graph, linked, monkeypatch
):
    real = channels.razorpay.apply_event
    calls = []

    async def fails_once(*args, **kwargs):
        calls.append(args)
        if len(calls) == 1:
            raise sa.exc.OperationalError("UPDATE orders", {}, Exception("database is locked"))
        return await real(*args, **kwargs)

    monkeypatch.setattr(channels.razorpay, "apply_event", fails_once)
    payment = razorpay.pay(linked.payment_link_id)
    delivery = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    assert await deliver(server, *delivery) == (200, {"status": "accepted"})
    assert await outcome(store, *delivery) == "paid"
    assert len(calls) == 2
    assert len(await settle(graph, 1)) == 1
    assert inbox_statuses(store, "razorpay_event") == ["done"]


async def test_events_beyond_those_in_hand_wait_in_the_inbox_for_its_consumer(
    store, server, razorpay, graph, linked, monkeypatch
):
    monkeypatch.setattr(channels.razorpay, "MAX_APPLYING", 0)
    payment = razorpay.pay(linked.payment_link_id)
    delivery = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    assert await deliver(server, *delivery) == (200, {"status": "accepted"})
    assert await outcome(store, *delivery) == "paid"
    assert len(await settle(graph, 1)) == 1
    assert inbox_statuses(store, "razorpay_event") == ["done"]


@pytest.mark.parametrize(
    "tamper", ["wrong secret", "modified body", "missing header", "empty header", "not hex"]
)
async def test_unverified_deliveries_are_refused_and_nothing_written(
    store, server, razorpay, graph, linked, tamper
):
    payment = razorpay.pay(linked.payment_link_id)
    body, headers = razorpay.webhook(
        "payment_link.paid",
        linked.payment_link_id,
        payment,
        secret="not-the-secret" if tamper == "wrong secret" else WEBHOOK_SECRET,
    )
    if tamper == "modified body":
        body = body.replace(b'"amount": 79900', b'"amount": 79901', 1)
    elif tamper == "missing header":
        del headers["X-Razorpay-Signature"]
    elif tamper == "empty header":
        headers["X-Razorpay-Signature"] = ""
    elif tamper == "not hex":
        headers["X-Razorpay-Signature"] = "z" * 64

    status, answer = await deliver(server, body, headers)
    assert status == 403 and "X-Razorpay-Signature" in answer["error"]
    assert recorded_events(store) == 0
    assert (await store.get(linked.number)).status is OrderStatus.PENDING_PAYMENT
    await asyncio.sleep(0.2)
    assert graph.sent == []


async def test_uppercase_hex_signature_is_accepted(server, razorpay, linked):
    payment = razorpay.pay(linked.payment_link_id)
    body, headers = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    headers["X-Razorpay-Signature"] = headers["X-Razorpay-Signature"].upper()
    assert (await deliver(server, body, headers))[0] == 200


async def test_invalid_json_with_a_valid_signature_is_400(store, server):
    body = b'{"event": "payment_link.paid", '
    status, answer = await deliver(server, body, {"X-Razorpay-Signature": sign(body)})
    assert (status, answer["error"]) == (400, "invalid JSON")
    assert recorded_events(store) == 0


async def test_unknown_events_and_orders_are_acknowledged(store, server, razorpay, linked):
    for event in (
        {"event": "refund.processed", "payload": {}},
        {
            "event": "payment_link.paid",
            "payload": {
                "payment_link": {
                    "entity": {"id": "plink_x", "reference_id": "someone-else", "notes": []}
                }
            },
        },
    ):
        body = json.dumps(event).encode()
        headers = {"X-Razorpay-Signature": sign(body)}
        status, answer = await deliver(server, body, headers)
        assert (status, answer) == (200, {"status": "accepted"})
        assert await outcome(store, body, headers) in ("ignored", "unknown_order")
    assert recorded_events(store) == 2


async def test_amount_mismatch_is_never_confirmed(store, server, razorpay, graph, linked):
    payment = razorpay.pay(linked.payment_link_id, amount=100)
    delivery = razorpay.webhook("payment.captured", linked.payment_link_id, payment)
    assert (await deliver(server, *delivery))[0] == 200
    assert await outcome(store, *delivery) == "flagged"

    [message] = await settle(graph, 1)
    text = json.dumps(message, ensure_ascii=False)
    assert "quick check" in text and "Payment successful" not in text
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PENDING_PAYMENT and order.flag
    assert order.confirmation_sent_at is None


async def test_failed_payment_is_told_with_a_way_forward(store, server, razorpay, graph, linked):
    payment = razorpay.fail_payment(linked.payment_link_id)
    delivery = razorpay.webhook("payment.failed", linked.payment_link_id, payment)
    assert (await deliver(server, *delivery))[0] == 200
    assert await outcome(store, *delivery) == "failed"
    [message] = await settle(graph, 1)
    assert "didn't go through" in message["interactive"]["body"]["text"]
    assert "/pay_now" in json.dumps(message)
    assert (await store.get(linked.number)).status is OrderStatus.PAYMENT_FAILED


@pytest.mark.parametrize(
    "event, status, words",
    [
        ("payment_link.expired", OrderStatus.EXPIRED, "expired"),
        ("payment_link.cancelled", OrderStatus.CANCELLED, "was cancelled"),
    ],
)
async def test_closed_link_is_told_with_pay_now(
    store, server, razorpay, graph, linked, event, status, words
):
    razorpay.links[linked.payment_link_id]["status"] = event.split(".")[1]
    code, answer = await deliver(server, *razorpay.webhook(event, linked.payment_link_id))
    assert code == 200
    [message] = await settle(graph, 1)
    assert words in message["interactive"]["body"]["text"] and "/pay_now" in json.dumps(message)
    assert (await store.get(linked.number)).status is status


async def test_out_of_order_delivery_keeps_the_order_paid(store, server, razorpay, graph, linked):
    failed = razorpay.fail_payment(linked.payment_link_id)
    payment = razorpay.pay(linked.payment_link_id)
    await deliver(server, *razorpay.webhook("payment_link.paid", linked.payment_link_id, payment))
    await graph.wait_for_sent(1)
    razorpay.links[linked.payment_link_id]["status"] = "expired"
    for late in (
        razorpay.webhook("payment.failed", linked.payment_link_id, failed),
        razorpay.webhook("payment_link.expired", linked.payment_link_id),
    ):
        assert (await deliver(server, *late))[0] == 200
        assert await outcome(store, *late) == "unchanged"
    assert len(await settle(graph, 1)) == 1  # only the confirmation
    assert (await store.get(linked.number)).status is OrderStatus.PAID


async def test_conversation_outside_whatsapp_is_confirmed_without_pushing(
    store, server, razorpay, graph, agent, linked
):
    agent.tracker_store.store.clear()
    await agent.seed(CUSTOMER, "rest")
    payment = razorpay.pay(linked.payment_link_id)
    await deliver(server, *razorpay.webhook("payment_link.paid", linked.payment_link_id, payment))
    for _ in range(50):
        if (await store.get(linked.number)).confirmation_sent_at:
            break
        await asyncio.sleep(0.05)
    assert (await store.get(linked.number)).confirmation_sent_at is not None
    assert graph.sent == []


async def test_database_down_is_503_so_razorpay_retries(tmp_path, razorpay, gateway, agent, linked):
    store = OrderStore(f"sqlite:///{tmp_path / 'down.db'}")
    store.engine = sa.create_engine("postgresql://nobody@127.0.0.1:1/none", future=True)
    channel = RazorpayWebhookInput([WEBHOOK_SECRET], store, gateway, reconcile_interval=3600)
    async with serve([channel], agent) as base_url, aiohttp.ClientSession(base_url) as http:
        payment = razorpay.pay(linked.payment_link_id)
        status, answer = await deliver(
            http, *razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
        )
    assert status == 503 and "retry" in answer["error"]


async def test_without_a_secret_webhooks_are_refused_loudly(
    store, razorpay, gateway, agent, linked, caplog
):
    with caplog.at_level(logging.ERROR, logger="channels.razorpay"):
        channel = RazorpayWebhookInput([""], store, gateway, reconcile_interval=3600)
    assert "RAZORPAY_WEBHOOK_SECRET is not set" in caplog.text
    async with serve([channel], agent) as base_url, aiohttp.ClientSession(base_url) as http:
        payment = razorpay.pay(linked.payment_link_id)
        status, answer = await deliver(
            http, *razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
        )
        assert status == 503 and "RAZORPAY_WEBHOOK_SECRET" in answer["error"]
        async with http.get("/webhooks/razorpay/") as resp:
            assert (await resp.json())["signature_check"] == "refusing webhooks"
    assert recorded_events(store) == 0


async def test_previous_secret_is_accepted_during_a_rotation(
    store, razorpay, gateway, agent, linked
):
    channel = RazorpayWebhookInput(
        ["new-secret", WEBHOOK_SECRET], store, gateway, reconcile_interval=3600
    )
    async with serve([channel], agent) as base_url, aiohttp.ClientSession(base_url) as http:
        payment = razorpay.pay(linked.payment_link_id)
        status, _ = await deliver(
            http, *razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
        )
    assert status == 200


async def test_health(server):
    async with server.get("/webhooks/razorpay/") as resp:
        health = await resp.json()
    assert resp.status == 200
    assert health == {
        "status": "ok",
        "signature_check": "on",
        "link_fetching": True,
        "shopify_sync": False,
        "reconciler_running": True,
    }
