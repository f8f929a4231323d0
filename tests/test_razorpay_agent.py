"""The paid path with a real Rasa Agent (trained model), the real action server and channels.

"pay now" over WhatsApp -> the Pay Now button at the fake Graph API -> the customer pays
at the local Razorpay -> signed webhooks, ten at once -> one "Payment successful" in the
chat. Everything runs on loopback HTTP: the action server (rasa-sdk), the Rasa routes,
Razorpay and the Graph API stand-ins.
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import aiohttp
import pytest
from rasa.core.channels.channel import UserMessage
from rasa.core.utils import AvailableEndpoints
from rasa.utils.endpoints import EndpointConfig
from rasa_sdk.endpoint import create_app as create_action_server

import gateways.razorpay
from channels.razorpay import RazorpayWebhookInput
from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from gateways.razorpay import RazorpayGateway
from orders.store import OrderStatus
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET, FakeRazorpay
from sandbox.harness.razorpay_stack import CUSTOMER, place_order, run_app, serve

MODEL = Path(os.environ.get("CHECKOUT_MODEL", "models/checkout.tar.gz"))

pytestmark = pytest.mark.skipif(
    not MODEL.exists(),
    reason=f"{MODEL} is not trained yet (`make train`): the real-Agent payment test needs it",
)


@pytest.fixture
async def razorpay(monkeypatch, sqlite_store):
    fake = await FakeRazorpay().start()
    monkeypatch.setenv("DATABASE_URL", sqlite_store.url)
    monkeypatch.setenv("RAZORPAY_KEY_ID", KEY_ID)
    monkeypatch.setenv("RAZORPAY_KEY_SECRET", KEY_SECRET)
    monkeypatch.setenv("RAZORPAY_API_BASE_URL", fake.base_url)
    monkeypatch.setattr(gateways.razorpay, "_gateway", None)
    yield fake
    await fake.stop()


async def test_paid_webhooks_confirm_once_through_the_real_agent(
    sqlite_store, razorpay, graph, load_checkout_agent
):
    store = sqlite_store
    order = await place_order(store)
    whatsapp = WhatsAppInput(
        WhatsAppSettings("app-secret", "verify-token"),
        WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, api_version=API_VERSION),
        ChannelState.in_memory(),
    )
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=5)
    channel = RazorpayWebhookInput([WEBHOOK_SECRET], store, gateway, reconcile_interval=3600)

    async with run_app(create_action_server("actions")) as actions_url:
        endpoints = AvailableEndpoints(action=EndpointConfig(url=f"{actions_url}/webhook"))
        agent = await load_checkout_agent(endpoints)
        async with serve([whatsapp, channel], agent) as base_url:
            await agent.handle_message(
                UserMessage(
                    "/pay_now", whatsapp.get_output_channel(), CUSTOMER, input_channel="whatsapp"
                )
            )
            [pay_message] = await graph.wait_for_sent(1)
            assert pay_message["interactive"]["type"] == "cta_url"
            link = razorpay.link_for(str(order.number))
            assert pay_message["interactive"]["action"]["parameters"]["url"] == link["short_url"]

            payment = razorpay.pay(link["id"])
            body, headers = razorpay.webhook("payment_link.paid", link["id"], payment)
            async with aiohttp.ClientSession(base_url) as http:

                async def deliver() -> int:
                    async with http.post(
                        "/webhooks/razorpay/webhook", data=body, headers=headers
                    ) as resp:
                        return resp.status

                assert set(await asyncio.gather(*(deliver() for _ in range(10)))) == {200}
            sent = await graph.wait_for_sent(2, timeout=30)
            await asyncio.sleep(1.0)  # room for a duplicate to show up

    confirmations = [m for m in graph.sent if "Payment successful" in json.dumps(m)]
    assert len(confirmations) == 1 and len(graph.sent) == len(sent) == 2
    assert f"#{order.number}" in json.dumps(confirmations[0], ensure_ascii=False)
    paid = await store.get(order.number)
    assert paid.status is OrderStatus.PAID and paid.confirmation_sent_at is not None
    tracker = await agent.tracker_store.retrieve(CUSTOMER)
    assert tracker.get_slot("order_number") == str(order.number)
    assert tracker.get_slot("cart") == []
