"""Human handover: the handovers table, the merchant's notice, the inbox page's API, and
the conversation while a person has it, with a real Rasa Agent (trained model), the
real action server, the WhatsApp and merchant channels on loopback HTTP and the Graph
API stand-in.

What a turn of helper B's `action_hand_over` does (`handover.begin`, then Rasa's
`ConversationPaused`) is done here by `hand_over`, so these tests do not depend on the
NLU for "talk to a person".
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
import yaml
from rasa.shared.core.events import BotUttered, ConversationPaused

import handover
from channels.merchant import MerchantInboxInput
from channels.razorpay import RazorpayWebhookInput
from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from durable.tables import Tables, inbox, outbox
from gateways.razorpay import RazorpayGateway
from handover.conversation import PERSON, end_item
from handover.store import HandoverStore
from orders.store import OrderStore, get_store
from sandbox import meta_events
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET, WEBHOOK_SECRET
from sandbox.harness.razorpay_stack import place_order, serve
from sandbox.harness.whatsapp_meta import APP_SECRET, WABA_ID, sign

MODEL = Path(os.environ.get("CHECKOUT_MODEL", "models/checkout.tar.gz"))
DOMAIN = yaml.safe_load(Path("domain.yml").read_text(encoding="utf-8"))
CUSTOMER = "919812300001"
MERCHANT = "919800000999"
BUSINESS = "15550001111"
INBOX_TOKEN = "inbox-token-for-tests-0123456789"
SETTLE_SECONDS = 90.0  # a turn on a busy 2-core machine, with room

needs_model = pytest.mark.skipif(
    not MODEL.exists(), reason=f"{MODEL} is not trained yet (`make train`)"
)


@pytest.fixture(autouse=True)
def _merchant(monkeypatch):
    monkeypatch.setenv("MERCHANT_WHATSAPP_NUMBER", "+91 98000 00999")
    monkeypatch.delenv("MERCHANT_LANGUAGE", raising=False)
    monkeypatch.setenv("MERCHANT_INBOX_URL", "https://shop.example/webhooks/merchant/")


# -- the table and the notice, without a model ------------------------------------------


def _outbox_rows(store: OrderStore) -> list[Any]:
    with store.engine.connect() as conn:
        return list(conn.execute(sa.select(outbox).order_by(outbox.c.id)).mappings())


async def test_begin_records_one_handover_and_queues_one_notice(monkeypatch):
    monkeypatch.setenv("MERCHANT_LANGUAGE", "hi-Latn")
    assert await handover.begin(CUSTOMER, "whatsapp", "money_deducted", DOMAIN) is True
    # A retried turn, or the customer asking again: still one handover, one notice.
    assert await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN) is False

    store = HandoverStore(get_store().engine)
    [waiting] = store.waiting()
    assert (waiting.customer_id, waiting.reason, waiting.channel) == (
        CUSTOMER, "money_deducted", "whatsapp",
    )
    [notice] = _outbox_rows(get_store())
    text = json.loads(notice["message"])["text"]
    assert notice["customer_id"] == MERCHANT and notice["channel"] == "whatsapp"
    assert notice["source"] == f"handover:{waiting.id}:notice"
    assert "Ek customer ko insaan se baat karni hai" in text  # MERCHANT_LANGUAGE=hi-Latn
    assert CUSTOMER in text and "money deducted" in text
    assert "https://shop.example/webhooks/merchant/" in text

    # Ended, the customer can be handed over again: a new handover, a new notice.
    assert store.end(waiting.id, "merchant") is True
    assert store.end(waiting.id, "quiet") is False
    assert await handover.begin(CUSTOMER, "whatsapp", "refund", DOMAIN) is True
    assert [row["source"] for row in _outbox_rows(get_store())] == [
        f"handover:{waiting.id}:notice",
        f"handover:{waiting.id + 1}:notice",
    ]
    assert store.recent(CUSTOMER)[1].ended_by == "merchant"


async def test_begin_without_a_merchant_number_still_records(monkeypatch, caplog):
    monkeypatch.delenv("MERCHANT_WHATSAPP_NUMBER")
    assert await handover.begin(CUSTOMER, "whatsapp", "fallbacks", DOMAIN) is True
    assert [h.customer_id for h in HandoverStore(get_store().engine).waiting()] == [CUSTOMER]
    assert _outbox_rows(get_store()) == []


async def test_begin_in_english_by_default():
    assert await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN)
    [notice] = _outbox_rows(get_store())
    assert json.loads(notice["message"])["text"].startswith("🙋 A customer needs a person")


# -- the page and its API, without a model ----------------------------------------------


@asynccontextmanager
async def inbox_server(token: str | None) -> AsyncIterator[str]:
    merchant = MerchantInboxInput(token, store=get_store())
    async with serve([merchant], None) as base_url:
        yield base_url


async def test_the_inbox_refuses_without_the_right_token():
    # The inbox table counted below: the server's background workers make it too, but
    # whether they have by then depends on timing.
    Tables(get_store().engine).ensure()
    async with inbox_server(INBOX_TOKEN) as base_url, aiohttp.ClientSession(base_url) as http:
        for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": INBOX_TOKEN}):
            async with http.get("/webhooks/merchant/api/handovers", headers=headers) as resp:
                assert resp.status == 401
            async with http.post(
                f"/webhooks/merchant/api/conversations/{CUSTOMER}/reply",
                json={"text": "hello", "reply_id": "a1b2c3d4e5"},
                headers=headers,
            ) as resp:
                assert resp.status == 401
        with get_store().engine.connect() as conn:
            assert conn.execute(sa.select(sa.func.count()).select_from(inbox)).scalar() == 0

        good = {"Authorization": f"Bearer {INBOX_TOKEN}"}
        async with http.get("/webhooks/merchant/api/handovers", headers=good) as resp:
            assert resp.status == 200 and await resp.json() == {"handovers": []}
        # Nobody handed over: nothing to answer or hand back.
        async with http.post(
            f"/webhooks/merchant/api/conversations/{CUSTOMER}/hand-back", headers=good
        ) as resp:
            assert resp.status == 409
        async with http.get("/webhooks/merchant/") as resp:
            page = await resp.text()
            policy = resp.headers["Content-Security-Policy"]
            assert resp.status == 200 and "script-src 'self'" in policy
            assert 'id="reply"' in page and INBOX_TOKEN not in page


async def test_the_inbox_is_closed_without_a_token():
    async with inbox_server(None) as base_url, aiohttp.ClientSession(base_url) as http:
        async with http.get("/webhooks/merchant/") as resp:
            assert resp.status == 503 and "MERCHANT_INBOX_TOKEN" in await resp.text()
        headers = {"Authorization": "Bearer anything"}
        async with http.get("/webhooks/merchant/api/handovers", headers=headers) as resp:
            assert resp.status == 503 and "MERCHANT_INBOX_TOKEN" in (await resp.json())["error"]


async def test_a_reply_is_validated_before_it_is_accepted():
    await handover.begin(CUSTOMER, "whatsapp", "asked", DOMAIN)
    good = {"Authorization": f"Bearer {INBOX_TOKEN}"}
    url = f"/webhooks/merchant/api/conversations/{CUSTOMER}/reply"
    async with inbox_server(INBOX_TOKEN) as base_url, aiohttp.ClientSession(base_url) as http:
        for body in ({"text": "  ", "reply_id": "a1b2c3d4e5"}, {"text": "hi", "reply_id": "x"},
                     {"text": "x" * 5000, "reply_id": "a1b2c3d4e5"}):
            async with http.post(url, json=body, headers=good) as resp:
                assert resp.status == 400
        async with http.post(url, json={"text": "Hello!", "reply_id": "a1b2c3d4e5"},
                             headers=good) as resp:
            assert resp.status == 202
        async with http.get("/webhooks/merchant/api/handovers", headers=good) as resp:
            [waiting] = (await resp.json())["handovers"]
            assert waiting["customer_id"] == CUSTOMER and waiting["reason"] == "asked"
    with get_store().engine.connect() as conn:
        [item] = conn.execute(sa.select(inbox)).mappings()
    assert (item["kind"], item["customer_id"]) == ("handover_reply", CUSTOMER)
    assert json.loads(item["payload"]) == {"text": "Hello!"}


# -- the conversation, with the trained model -------------------------------------------


class Shop:
    """The Rasa server's channels on loopback, the agent, and the Graph API stand-in."""

    def __init__(self, agent: Any, graph: Any, base_url: str, http: aiohttp.ClientSession,
                 merchant: MerchantInboxInput, razorpay: RazorpayWebhookInput) -> None:
        self.agent = agent
        self.graph = graph
        self.base_url = base_url
        self.http = http
        self.merchant = merchant
        self.razorpay = razorpay
        self.store = get_store()
        self.handovers = HandoverStore(self.store.engine)

    async def customer_says(self, text: str) -> None:
        body = json.dumps(meta_events.envelope(
            meta_events.value([meta_events.message("text", {"body": text}, sender=CUSTOMER)],
                              None, {CUSTOMER: "Asha"}, phone_number_id=PHONE_NUMBER_ID),
            waba_id=WABA_ID,
        )).encode()
        await self._signed(body)

    async def merchant_answers_in_app(self, text: str, message_id: str) -> None:
        change = {
            "field": "smb_message_echoes",
            "value": {
                "messaging_product": "whatsapp",
                "metadata": {"display_phone_number": BUSINESS, "phone_number_id": PHONE_NUMBER_ID},
                "message_echoes": [{
                    "from": BUSINESS, "to": CUSTOMER, "id": message_id,
                    "timestamp": str(int(time.time())), "type": "text", "text": {"body": text},
                }],
            },
        }
        body = json.dumps({"object": "whatsapp_business_account",
                           "entry": [{"id": WABA_ID, "changes": [change]}]}).encode()
        await self._signed(body)

    async def _signed(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", "X-Hub-Signature-256": sign(body)}
        async with self.http.post("/webhooks/whatsapp/webhook", data=body, headers=headers) as r:
            assert r.status == 200, await r.text()

    async def api(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {INBOX_TOKEN}"}
        async with self.http.request(method, f"/webhooks/merchant/api/{path}",
                                     headers=headers, **kwargs) as resp:
            return resp.status, await resp.json()

    async def settled(self) -> None:
        """Until every inbox item is handled and every message sent."""
        deadline = time.monotonic() + SETTLE_SECONDS
        while True:
            with self.store.engine.connect() as conn:
                busy = conn.execute(sa.select(sa.func.count()).select_from(inbox)
                                    .where(inbox.c.status == "pending")).scalar()
                busy += conn.execute(sa.select(sa.func.count()).select_from(outbox)
                                     .where(outbox.c.status == "pending")).scalar()
            if not busy:
                return
            assert time.monotonic() < deadline, "the inbox or outbox did not drain"
            await asyncio.sleep(0.1)

    def to_customer(self) -> list[str]:
        return [_words(m) for m in self.graph.sent if m.get("to") == CUSTOMER]

    async def tracker(self) -> Any:
        return await self.agent.tracker_store.retrieve(CUSTOMER)

    async def hand_over(self, reason: str = "asked") -> None:
        """What `action_hand_over` does in a turn: record it, then pause."""
        assert await handover.begin(CUSTOMER, "whatsapp", reason, self.agent.domain.as_dict())
        async with self.agent.lock_store.lock(CUSTOMER):
            tracker = await self.agent.processor.get_tracker(CUSTOMER)
            tracker.update(ConversationPaused())
            await self.agent.processor.save_tracker(tracker)


def _words(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False)


@pytest.fixture
async def shop(checkout_agent, graph, razorpay, monkeypatch) -> AsyncIterator[Shop]:
    store = get_store()
    whatsapp = WhatsAppInput(
        WhatsAppSettings(APP_SECRET, "verify-token"),
        WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, api_version=API_VERSION),
        ChannelState.in_memory(),
        store=store,
    )
    merchant = MerchantInboxInput(INBOX_TOKEN, store=store)
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=5)
    payments = RazorpayWebhookInput([WEBHOOK_SECRET], store, gateway, reconcile_interval=3600)
    async with serve([whatsapp, merchant, payments], checkout_agent) as base_url:
        async with aiohttp.ClientSession(base_url) as http:
            yield Shop(checkout_agent, graph, base_url, http, merchant, payments)


@needs_model
async def test_a_person_answers_from_the_inbox_while_the_bot_stays_quiet(shop):
    await shop.customer_says("hi")
    await shop.settled()
    greeted = len(shop.to_customer())
    assert greeted >= 1

    await shop.hand_over()
    await shop.settled()
    [notice] = [m for m in shop.graph.sent if m.get("to") == MERCHANT]
    assert CUSTOMER in _words(notice) and "A customer needs a person" in _words(notice)

    # Handed over: the customer's message is recorded, the bot says nothing.
    await shop.customer_says("hello? is anyone there")
    await shop.settled()
    assert len(shop.to_customer()) == greeted
    tracker = await shop.tracker()
    assert tracker.is_paused() and tracker.latest_message.text == "hello? is anyone there"

    status, body = await shop.api("GET", "handovers")
    assert status == 200 and [h["customer_id"] for h in body["handovers"]] == [CUSTOMER]
    status, conversation = await shop.api("GET", f"conversations/{CUSTOMER}")
    assert status == 200
    last = conversation["messages"][-1]
    assert (last["from"], last["text"]) == ("customer", "hello? is anyone there")

    # The merchant's reply, sent twice (a double tap): it reaches WhatsApp once.
    reply = {"text": "Hi Asha, Meera here from the shop. Checking your order now 🙏",
             "reply_id": "reply-0001"}
    for _ in range(2):
        status, _body = await shop.api("POST", f"conversations/{CUSTOMER}/reply", json=reply)
        assert status == 202
    await shop.settled()
    sent = shop.to_customer()[greeted:]
    assert len(sent) == 1 and "Meera here from the shop" in sent[0]
    tracker = await shop.tracker()
    [said] = [e for e in tracker.events if isinstance(e, BotUttered) and e.metadata.get(PERSON)]
    assert said.text == reply["text"] and said.metadata[PERSON]["via"] == "inbox"
    assert tracker.is_paused()
    [waiting] = shop.handovers.waiting()
    assert waiting.last_human_at is not None
    status, conversation = await shop.api("GET", f"conversations/{CUSTOMER}")
    assert conversation["messages"][-1]["from"] == "person"

    # Hand back: the bot says it is back, and answers the customer again.
    status, _body = await shop.api("POST", f"conversations/{CUSTOMER}/hand-back")
    assert status == 202
    await shop.settled()
    back = shop.to_customer()[greeted + 1:]
    assert len(back) == 1 and "I'm back" in back[0]
    assert not (await shop.tracker()).is_paused()
    assert shop.handovers.waiting() == []
    assert shop.handovers.recent(CUSTOMER)[0].ended_by == "merchant"
    status, _body = await shop.api("POST", f"conversations/{CUSTOMER}/hand-back")
    assert status == 409

    await shop.customer_says("hi")
    await shop.settled()
    assert len(shop.to_customer()) > greeted + 2


@needs_model
async def test_a_quiet_handover_goes_back_to_the_bot(shop):
    await shop.customer_says("hi")
    await shop.settled()
    greeted = len(shop.to_customer())
    await shop.hand_over("fallbacks")
    await shop.customer_says("hello??")
    await shop.settled()
    sweep = shop.merchant.sweep
    assert sweep is not None and sweep.quiet == timedelta(minutes=30)

    [waiting] = shop.handovers.waiting()
    assert await sweep.run_once(waiting.last_activity + timedelta(minutes=29)) == []
    # The sweep saw the customer's message: the quiet period counts from it.
    [waiting] = shop.handovers.waiting()
    assert waiting.last_customer_at is not None and waiting.last_customer_at > waiting.started_at
    later = waiting.last_activity + timedelta(minutes=31)
    assert await sweep.run_once(later) == [waiting.id]
    await shop.settled()
    # Another server's sweep (or the merchant) asking too changes nothing: one per handover.
    assert await shop.merchant.durable.inbox.add([end_item(waiting, "merchant")]) == 0
    back = shop.to_customer()[greeted:]
    assert len(back) == 1 and "I'm back" in back[0]
    assert shop.handovers.recent(CUSTOMER)[0].ended_by == "quiet"
    assert not (await shop.tracker()).is_paused()


@needs_model
async def test_an_answer_from_the_whatsapp_business_app_counts_as_the_person(shop):
    await shop.customer_says("hi")
    await shop.settled()
    before = len(shop.graph.sent)

    await shop.merchant_answers_in_app("Namaste Asha ji, main dekh rahi hoon", "wamid.ECHO1")
    await shop.settled()
    [started] = shop.handovers.waiting()
    assert started.reason == "human_answered" and started.last_human_at is not None
    tracker = await shop.tracker()
    assert tracker.is_paused()
    [said] = [e for e in tracker.events if isinstance(e, BotUttered) and e.metadata.get(PERSON)]
    assert said.text == "Namaste Asha ji, main dekh rahi hoon"
    assert said.metadata[PERSON]["via"] == "whatsapp_business_app"
    assert len(shop.graph.sent) == before  # Meta delivered it: never sent again

    # The customer's answer gets no bot reply; a second echo refreshes the handover.
    await shop.customer_says("ok thank you")
    await shop.merchant_answers_in_app("Aapka order kal pahunchega", "wamid.ECHO2")
    await shop.merchant_answers_in_app("Aapka order kal pahunchega", "wamid.ECHO2")  # redelivered
    await shop.settled()
    assert len(shop.graph.sent) == before
    [still] = shop.handovers.waiting()
    assert still.id == started.id
    tracker = await shop.tracker()
    people = [e.text for e in tracker.events if isinstance(e, BotUttered) and PERSON in e.metadata]
    assert people == ["Namaste Asha ji, main dekh rahi hoon", "Aapka order kal pahunchega"]


@needs_model
async def test_a_payment_is_confirmed_during_a_handover(shop, razorpay):
    order = await place_order(shop.store, CUSTOMER)
    await shop.customer_says("/pay_now")
    await shop.settled()
    link = razorpay.link_for(str(order.number))
    await shop.hand_over("money_deducted")
    await shop.settled()
    before = len(shop.to_customer())

    payment = razorpay.pay(link["id"])
    body, headers = razorpay.webhook("payment_link.paid", link["id"], payment)
    async with shop.http.post("/webhooks/razorpay/webhook", data=body, headers=headers) as resp:
        assert resp.status == 200
    await shop.settled()
    confirmations = [m for m in shop.to_customer()[before:] if "Payment successful" in m]
    assert len(confirmations) == 1 and f"#{order.number}" in confirmations[0]
    assert (await shop.store.get(order.number)).confirmation_sent_at is not None
    # Still with the person: the confirmation did not end the handover.
    assert (await shop.tracker()).is_paused()
    assert [h.customer_id for h in shop.handovers.waiting()] == [CUSTOMER]
    await shop.customer_says("thanks, got it")
    await shop.settled()
    assert len(shop.to_customer()) == before + 1


async def test_make_inbox_lists_the_customers_waiting():
    await handover.begin(CUSTOMER, "whatsapp", "refund", DOMAIN)
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "server.inbox_cli"], capture_output=True,
        text=True, timeout=120, env={**os.environ, "DATABASE_URL": get_store().url},
    )
    assert done.returncode == 0, done.stderr
    [line] = [line for line in done.stdout.splitlines() if CUSTOMER in line]
    assert "refund" in line and "not yet" in line
    assert "1 customer(s) waiting for a person" in done.stdout
