"""The reconciler: a missed webhook, a crash before the confirmation, a failed WhatsApp send.

Real database, the local Razorpay and Graph API, the payment actions run for real behind
`StubAgent`; the CLI runs as a real subprocess.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta

import aiohttp
import pytest

from channels.delivery import channel_outputs
from channels.notifier import ConversationNotifier
from channels.razorpay import RazorpayWebhookInput
from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from durable.outbox import Outbox
from durable.sender import OutboxSender
from gateways.razorpay import RazorpayGateway
from orders.payment_events import Outcome, PaymentEvent, apply_event
from orders.payment_links import ensure_link
from orders.reconcile import Reconciler
from orders.store import OrderStatus, orders, utcnow
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN, FakeGraphApi
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, sign
from sandbox.harness.razorpay_stack import CUSTOMER, StubAgent, place_order, serve
from server.reconcile_cli import RECONCILE_PATH, request_headers


@pytest.fixture
def whatsapp(graph):
    client = WhatsAppClient(
        TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, api_version=API_VERSION, max_attempts=1
    )
    return WhatsAppInput(
        WhatsAppSettings("app-secret", "verify-token"), client, ChannelState.in_memory()
    )


@pytest.fixture
def gateway(razorpay):
    return RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=2)


@pytest.fixture
async def reconciler(store, gateway, whatsapp, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", store.url)  # the actions' store
    agent = StubAgent()
    await agent.seed(CUSTOMER, "whatsapp")
    outbox = Outbox(store.engine)
    sender = OutboxSender(outbox, channel_outputs(lambda: [whatsapp]), store, "test-sender")
    notifier = ConversationNotifier(lambda: agent, outbox, sender, store)
    return Reconciler(store, gateway, notifier.notify, None, interval=0.01)


@pytest.fixture
async def linked(store, gateway):
    return await ensure_link(store, gateway, await place_order(store))


async def age(store, number: int, minutes: int) -> None:
    """Pretend the order was last touched (and paid) `minutes` ago."""
    past = utcnow() - timedelta(minutes=minutes)
    await asyncio.to_thread(_set, store, number, updated_at=past, paid_at=past)


def _set(store, number, **values):
    with store.engine.begin() as conn:
        conn.execute(orders.update().where(orders.c.number == number).values(**values))


def confirmations(graph: FakeGraphApi) -> list[dict]:
    return [m for m in graph.sent if "Payment successful" in json.dumps(m)]


async def test_missed_webhook_is_caught_up_and_confirmed_once(
    store, razorpay, graph, reconciler, linked
):
    payment = razorpay.pay(linked.payment_link_id)  # Razorpay's webhook never arrives
    assert (await reconciler.run_once()).fetched == 0  # too recent to fetch yet
    await age(store, linked.number, 10)

    report = await reconciler.run_once()
    assert report.fetched == 1 and report.applied == {"paid": 1}
    order = await store.get(linked.number)
    assert order.status is OrderStatus.PAID and order.confirmation_sent_at is not None
    assert len(confirmations(graph)) == 1

    await age(store, linked.number, 10)
    await reconciler.run_once()
    assert len(confirmations(graph)) == 1 and len(graph.sent) == 1
    # The late webhook changes nothing.
    body, headers = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    late = PaymentEvent.from_body(headers["X-Razorpay-Event-Id"], json.loads(body))
    assert (await apply_event(store, late)).outcome is Outcome.UNCHANGED


async def test_crash_between_commit_and_confirmation_is_confirmed_once(
    store, razorpay, graph, reconciler, linked
):
    payment = razorpay.pay(linked.payment_link_id)
    body, headers = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    applied = await apply_event(
        store, PaymentEvent.from_body(headers["X-Razorpay-Event-Id"], json.loads(body))
    )
    assert applied.outcome is Outcome.PAID  # committed; then the process died

    assert (await reconciler.run_once()).confirmations == 0  # the webhook's own turn first
    await age(store, linked.number, 2)
    assert (await reconciler.run_once()).confirmations == 1
    assert (await reconciler.run_once()).confirmations == 0
    assert len(confirmations(graph)) == 1


async def test_failed_whatsapp_send_is_not_recorded_and_is_sent_again(
    store, razorpay, graph, reconciler, linked
):
    payment = razorpay.pay(linked.payment_link_id)
    body, headers = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    await apply_event(
        store, PaymentEvent.from_body(headers["X-Razorpay-Event-Id"], json.loads(body))
    )
    await age(store, linked.number, 2)

    graph.fail_next(1, 500, 2, "Service temporarily unavailable")
    report = await reconciler.run_once()
    assert report.confirmations == 0
    assert (await store.get(linked.number)).confirmation_sent_at is None  # not recorded

    for _ in range(40):  # after the outbox's retry delay, the next pass sends it
        await asyncio.sleep(0.1)
        if (await reconciler.run_once()).confirmations:
            break
    assert len(confirmations(graph)) == 1
    assert (await store.get(linked.number)).confirmation_sent_at is not None


async def test_expired_link_found_by_the_reconciler_is_told(
    store, razorpay, graph, reconciler, linked
):
    razorpay.expire(linked.payment_link_id)
    await age(store, linked.number, 10)
    report = await reconciler.run_once()
    assert report.applied == {"expired": 1}
    assert (await store.get(linked.number)).status is OrderStatus.EXPIRED
    [message] = graph.sent
    assert "expired" in json.dumps(message)


async def test_unpaid_link_stays_pending_and_is_asked_less_often(
    store, razorpay, reconciler, linked
):
    reconciler._fetch_backoff.base = 60.0  # not 10 ms: a loaded machine is slower than that
    await age(store, linked.number, 10)
    assert (await reconciler.run_once()).fetched == 1
    assert (await reconciler.run_once()).fetched == 0  # backing off
    assert (await store.get(linked.number)).status is OrderStatus.PENDING_PAYMENT


async def test_server_pass_on_request_and_refusals(
    store, gateway, graph, whatsapp, razorpay, linked, monkeypatch
):
    monkeypatch.setenv("DATABASE_URL", store.url)
    agent = StubAgent()
    await agent.seed(CUSTOMER, "whatsapp")
    razorpay.pay(linked.payment_link_id)
    await age(store, linked.number, 10)
    channel = RazorpayWebhookInput(
        [WEBHOOK_SECRET], store, gateway, reconcile_interval=3600, reconcile_token="ops-token"
    )
    # No gateway: this second server must not catch the payment up itself.
    closed = RazorpayWebhookInput([WEBHOOK_SECRET], store, None, reconcile_interval=3600)
    async with (
        serve([whatsapp, channel], agent) as base_url,
        serve([closed], agent) as closed_url,
        aiohttp.ClientSession() as http,
    ):
        await asyncio.sleep(0.3)  # the periodic pass at start-up may take it first
        url = base_url + RECONCILE_PATH
        async with http.post(url, headers=request_headers("ops-token")) as resp:
            assert resp.status == 200
        for headers in (request_headers("wrong"), {}, {"Authorization": "ops-token"}):
            async with http.post(url, headers=headers) as resp:
                assert resp.status == 403
        # The webhook secret is not a reconcile credential.
        body = b'{"reconcile": true}'
        signed = {"X-Razorpay-Signature": sign(body, WEBHOOK_SECRET)}
        async with http.post(url, data=body, headers=signed) as resp:
            assert resp.status == 403
        # Without RECONCILE_TOKEN the route is closed to everyone.
        closed_request = closed_url + RECONCILE_PATH
        async with http.post(closed_request, headers=request_headers("")) as resp:
            assert resp.status == 503
    assert (await store.get(linked.number)).status is OrderStatus.PAID
    assert len(confirmations(graph)) == 1


async def test_cli_once_locally_catches_up(store, razorpay, linked):
    razorpay.pay(linked.payment_link_id)
    await age(store, linked.number, 10)
    env = {
        **os.environ,
        "DATABASE_URL": store.url,
        "RAZORPAY_KEY_ID": KEY_ID,
        "RAZORPAY_KEY_SECRET": KEY_SECRET,
        "RAZORPAY_API_BASE_URL": razorpay.base_url,
        "RAZORPAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "RASA_SERVER_URL": "http://127.0.0.1:9",
        "SHOPIFY_STORE_DOMAIN": "",
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "server.reconcile_cli",
        "--once",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, err.decode()
    report = json.loads(out)
    assert report["where"] == "local" and report["applied"] == {"paid": 1}
    assert report["awaiting_confirmation"] == 0  # paid just now: the server's grace period
    assert (await store.get(linked.number)).status is OrderStatus.PAID
