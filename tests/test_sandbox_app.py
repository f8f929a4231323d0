"""The sandbox server over HTTP: the customer's messages reach the bot as signed WhatsApp
events, the checkout page's buttons as signed Razorpay webhooks, the page gets its live
stream and history, and the designer panel its turns from Rasa's tracker.

The bot here is a recorder; what it receives is checked with the product's own parsers
and signature checks, so the sandbox cannot drift from what the channels accept.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from typing import Any

import aiohttp
import pytest

from channels.razorpay import signature_is_valid as razorpay_signature_is_valid
from channels.whatsapp import signature_is_valid as whatsapp_signature_is_valid
from channels.whatsapp.models import WebhookEvent
from orders.payment_events import PaymentEvent
from sandbox import insight
from sandbox.app import RAZORPAY_PREFIX, build_app
from sandbox.harness.sandbox_bot import (
    RecordingBot,
    free_port,
    sandbox_with_bot,
    serve,
    settings,
)
from sandbox.settings import SandboxConfigError, SandboxSettings

S = settings("http://unused")
PHONE = "919800000001"


async def post(url: str, body: Any, content_type: str = "application/json") -> tuple[int, Any]:
    data = json.dumps(body) if content_type == "application/json" else str(body)
    async with aiohttp.ClientSession() as session, session.post(
        url, data=data, headers={"Content-Type": content_type}
    ) as response:
        return response.status, await response.json()


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def say(url: str, message: dict[str, Any], phone: str = PHONE):
    return post(f"{url}/sandbox/api/messages", {"phone": phone, "name": "Asha", "message": message})


# -- the customer's messages -----------------------------------------------------------


@pytest.mark.parametrize(
    "message, check",
    [
        ({"type": "text", "text": {"body": "2 masala chai"}},
         lambda m: m.text == "2 masala chai"),
        ({"type": "interactive", "interactive": {
            "type": "button_reply", "button_reply": {"id": "/checkout", "title": "Checkout"}}},
         lambda m: (m.interactive.type, m.interactive.reply_id) == ("button_reply", "/checkout")),
        ({"type": "interactive", "interactive": {"type": "list_reply", "list_reply": {
            "id": "/add_to_cart{\"product\":\"ceramic-mug\"}", "title": "Mug",
            "description": "₹299"}}},
         lambda m: m.interactive.description == "₹299"),
        ({"type": "order", "order": {"product_items": [
            {"product_retailer_id": "ceramic-mug", "quantity": 2, "item_price": 299}]}},
         lambda m: [(i.sku, i.quantity) for i in m.order.items] == [("ceramic-mug", 2)]),
        ({"type": "image", "image": {"caption": "this one?"}},
         lambda m: m.media.caption == "this one?"),
        ({"type": "location", "location": {"latitude": 12.97, "longitude": 77.59}},
         lambda m: m.location.latitude == 12.97),
    ],
)
async def test_customer_messages_reach_the_bot_signed_and_as_meta_shapes_them(message, check):
    async with sandbox_with_bot() as (url, bot, _app):
        status, entry = await say(url, message)
        assert status == 200 and entry["kind"] == "customer" and entry["data"]["status"] == 200
        [delivery] = bot.deliveries
        assert delivery.path == "/webhooks/whatsapp/webhook"
        assert whatsapp_signature_is_valid(
            delivery.body, delivery.headers["X-Hub-Signature-256"], S.app_secret
        )
        [inbound] = WebhookEvent.parse(json.loads(delivery.body)).messages()
        assert inbound.message.sender == PHONE and inbound.profile_name == "Asha"
        assert inbound.phone_number_id == S.phone_number_id
        assert inbound.message.id == entry["data"]["message"]["id"]
        assert check(inbound.message)


@pytest.mark.parametrize(
    "phone, message, words",
    [
        ("12", {"type": "text", "text": {"body": "hi"}}, "phone number"),
        (PHONE, {"type": "sticker", "sticker": {}}, "unsupported"),
        (PHONE, {"type": "text", "text": {"body": "  "}}, "text.body"),
        (PHONE, {"type": "interactive", "interactive": {"type": "nfm_reply"}}, "button_reply"),
        (PHONE, {"type": "order", "order": {"product_items": []}}, "at least one"),
    ],
)
async def test_what_a_customer_cannot_send_is_refused_and_not_delivered(phone, message, words):
    async with sandbox_with_bot() as (url, bot, _app):
        status, body = await say(url, message, phone)
        assert status == 400 and words in body["error"]
        assert bot.deliveries == []


async def test_only_json_posts_are_accepted():
    async with sandbox_with_bot() as (url, bot, _app):
        status, body = await post(f"{url}/sandbox/api/messages", "phone=1", "text/plain")
        assert status == 400 and "JSON" in body["error"]
        assert bot.deliveries == []


async def wait_until(check, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_messages_wait_while_the_bot_starts_and_go_out_in_order_once_it_is_ready():
    """The bot is not reachable yet (Rasa loading its model): messages are held, shown as
    waiting, and delivered in order, signed, once the bot answers its health check."""
    port = free_port()
    async with serve(build_app(settings(f"http://127.0.0.1:{port}"))) as url:
        _, entry = await say(url, {"type": "text", "text": {"body": "hi"}})
        assert entry["data"]["queued"] is True and entry["data"]["status"] is None
        _, later = await say(url, {"type": "text", "text": {"body": "2 masala chai"}})
        assert later["data"]["queued"] is True
        _, state = await get(f"{url}/sandbox/api/status")
        assert (state["bot_ready"], state["waiting"]) == (False, 2)

        bot = RecordingBot(consuming=False)  # up, but its inbox consumer not yet running
        async with serve(bot.app(), port=port):
            await asyncio.sleep(1.5)
            assert bot.deliveries == []
            _, state = await get(f"{url}/sandbox/api/status")
            assert state["bot_ready"] is False

            bot.consuming = True

            async def delivered() -> bool:
                return len(bot.deliveries) == 2

            await wait_until(delivered)
            texts = [WebhookEvent.parse(json.loads(d.body)).messages()[0].message.text
                     for d in bot.deliveries]
            assert texts == ["hi", "2 masala chai"]
            assert all(whatsapp_signature_is_valid(d.body, d.headers["X-Hub-Signature-256"],
                                                   S.app_secret) for d in bot.deliveries)
            _, state = await get(f"{url}/sandbox/api/status")
            assert (state["bot_ready"], state["waiting"]) == (True, 0)
            _, mine = await get(f"{url}/sandbox/api/history?phone={PHONE}")
            kinds = [(e["kind"], e["data"].get("status")) for e in mine["entries"]]
            assert kinds == [("customer", 200), ("customer", 200),
                             ("delivery", 200), ("delivery", 200)]
            assert not any(e["data"].get("queued") for e in mine["entries"])

            # Ready now: the next message goes straight out.
            _, now = await say(url, {"type": "text", "text": {"body": "checkout"}})
            assert now["data"]["status"] == 200 and "queued" not in now["data"]
            assert len(bot.deliveries) == 3


async def test_a_bot_that_goes_away_gets_the_message_when_it_is_back():
    port = free_port()
    bot = RecordingBot()
    async with serve(build_app(settings(f"http://127.0.0.1:{port}"))) as url:
        async with serve(bot.app(), port=port):
            _, entry = await say(url, {"type": "text", "text": {"body": "hi"}})
            assert entry["data"]["status"] == 200
        _, entry = await say(url, {"type": "text", "text": {"body": "still there?"}})
        assert entry["data"]["queued"] is True  # not "not reachable" for good
        async with serve(bot.app(), port=port):

            async def delivered() -> bool:
                return len(bot.deliveries) == 2

            await wait_until(delivered)
        texts = [WebhookEvent.parse(json.loads(d.body)).messages()[0].message.text
                 for d in bot.deliveries]
        assert texts == ["hi", "still there?"]


async def test_the_bot_refusing_a_message_is_shown_not_hidden():
    async with sandbox_with_bot() as (url, bot, _app):
        bot.refuse = 403
        status, entry = await say(url, {"type": "text", "text": {"body": "hi"}})
        assert status == 200 and entry["data"]["status"] == 403  # shown, not retried
        await asyncio.sleep(1.2)
        assert len(bot.deliveries) == 1


async def test_an_over_long_message_is_refused_with_the_limit_and_the_page_knows_it():
    async with sandbox_with_bot() as (url, bot, _app):
        _, state = await get(f"{url}/sandbox/api/status")
        limit = state["text_limit"]
        assert limit == 4096
        status, body = await say(url, {"type": "text", "text": {"body": "x" * (limit + 1)}})
        assert status == 400 and str(limit) in body["error"]
        assert bot.deliveries == []
        status, _ = await say(url, {"type": "text", "text": {"body": "x" * limit}})
        assert status == 200


# -- the checkout page's buttons -----------------------------------------------------


async def create_link(url: str, reference: str = "10001") -> dict[str, Any]:
    auth = base64.b64encode(f"{S.key_id}:{S.key_secret}".encode()).decode()
    body = {"amount": 79900, "reference_id": reference, "description": "Order #10001",
            "customer": {"name": "Asha Rao", "contact": "+919800000001"},
            "notes": {"order_number": "10001"}, "expire_by": int(time.time()) + 3600}
    async with aiohttp.ClientSession() as session, session.post(
        f"{url}{RAZORPAY_PREFIX}/v1/payment_links", json=body,
        headers={"Authorization": f"Basic {auth}"},
    ) as response:
        assert response.status == 200
        return await response.json()


def webhooks(bot) -> list[tuple[PaymentEvent, dict[str, Any]]]:
    """The Razorpay deliveries, each checked with the product's signature check and parser."""
    found = []
    for delivery in bot.deliveries:
        assert delivery.path == "/webhooks/razorpay/webhook"
        assert razorpay_signature_is_valid(
            delivery.body, delivery.headers["X-Razorpay-Signature"], [S.webhook_secret]
        )
        assert not razorpay_signature_is_valid(
            delivery.body, delivery.headers["X-Razorpay-Signature"], ["another secret"]
        )
        body = json.loads(delivery.body)
        found.append((PaymentEvent.from_body(delivery.headers["X-Razorpay-Event-Id"], body), body))
    return found


async def test_checkout_page_shows_the_link():
    async with sandbox_with_bot() as (url, _, _app):
        link = await create_link(url)
        status, view = await get(f"{url}/sandbox/api/links/{link['id']}")
        assert status == 200
        assert (view["amount_text"], view["description"], view["status"]) == (
            "₹799", "Order #10001", "created")
        assert view["customer_name"] == "Asha Rao" and view["shop_name"] == "Test shop"
        async with aiohttp.ClientSession() as session, session.get(
            f"{url}/pay/{link['id']}"
        ) as page:
            assert page.status == 200 and "Pay (UPI)" in await page.text()
        status, _ = await get(f"{url}/sandbox/api/links/plink_Nope")
        assert status == 404


async def test_pay_sends_razorpays_paid_events_signed_with_the_webhook_secret():
    async with sandbox_with_bot() as (url, bot, _app):
        link = await create_link(url)
        status, answer = await post(f"{url}/sandbox/api/links/{link['id']}/pay", {"method": "upi"})
        assert status == 200 and answer["link"]["status"] == "paid"
        assert [(w["event"], w["status"]) for w in answer["webhooks"]] == [
            ("payment.captured", 200), ("order.paid", 200), ("payment_link.paid", 200)]

        events = webhooks(bot)
        assert len({event.event_id for event, _ in events}) == 3  # one id per delivery
        paid, body = events[-1]
        assert body["contains"] == ["payment_link", "payment", "order"]
        assert paid.link.status == "paid" and paid.link.amount_paid == 79900
        assert paid.payment.status == "captured" and paid.payment.method == "upi"
        assert paid.payment.amount == 79900 and paid.reference == "10001"
        assert {event.payment.id for event, _ in events} == {paid.payment.id}
        assert events[0][0].noted_order_number == 10001  # payment.captured carries only notes

        status, refused = await post(f"{url}/sandbox/api/links/{link['id']}/fail", {})
        assert status == 409 and "paid" in refused["error"]
        assert len(bot.deliveries) == 3


async def test_fail_keeps_the_link_payable_and_expire_closes_it():
    async with sandbox_with_bot() as (url, bot, _app):
        link = await create_link(url)
        status, answer = await post(f"{url}/sandbox/api/links/{link['id']}/fail", {})
        assert status == 200 and answer["link"]["status"] == "created"
        [(failed, _)] = webhooks(bot)
        assert failed.name == "payment.failed" and failed.payment.status == "failed"
        assert failed.payment.error_description

        status, answer = await post(f"{url}/sandbox/api/links/{link['id']}/expire", {})
        assert status == 200 and answer["link"]["status"] == "expired"
        expired, body = webhooks(bot)[-1]
        assert expired.name == "payment_link.expired" and body["contains"] == ["payment_link"]
        assert expired.link.status == "expired"

        status, _ = await post(f"{url}/sandbox/api/links/{link['id']}/pay", {})
        assert status == 409
        status, _ = await post(f"{url}/sandbox/api/links/{link['id']}/refund", {})
        assert status == 404


# -- what the page reads ---------------------------------------------------------------


async def test_the_stream_and_the_history_carry_each_customers_chat():
    async with sandbox_with_bot() as (url, _, _app), aiohttp.ClientSession() as session:
        async with session.get(f"{url}/sandbox/api/stream") as stream:
            assert stream.headers["Content-Type"].startswith("text/event-stream")
            assert await stream.content.readline() == b": connected\n"
            await say(url, {"type": "text", "text": {"body": "hi"}})
            events = []
            while len(events) < 2:  # the webhook's request log entry, then the message
                line = await asyncio.wait_for(stream.content.readline(), 5)
                if line.startswith(b"data: "):
                    events.append(json.loads(line[6:]))
        assert [e["kind"] for e in events] == ["request", "customer"]
        assert events[0]["data"]["path"] == "/webhooks/whatsapp/webhook"

        await say(url, {"type": "text", "text": {"body": "hello"}}, phone="919800000002")
        _, mine = await get(f"{url}/sandbox/api/history?phone={PHONE}")
        assert [e["data"]["message"]["text"]["body"] for e in mine["entries"]] == ["hi"]
        _, log = await get(f"{url}/sandbox/api/log")
        assert len(log["entries"]) == 2


TRACKER = {
    "sender_id": PHONE,
    "slots": {"cart_has_items": True},
    "events": [
        {"event": "action", "name": "action_session_start"},
        {"event": "session_started"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "2 masala chai", "message_id": "wamid.A",
         "parse_data": {"intent": {"name": "add_to_cart", "confidence": 0.9731},
                        "intent_ranking": [{"name": "add_to_cart", "confidence": 0.9731},
                                           {"name": "greet", "confidence": 0.02}],
                        "entities": [{"entity": "product", "value": "masala chai",
                                      "extractor": "DIETClassifier"}]}},
        {"event": "action", "name": "action_add_to_cart", "policy": "RulePolicy",
         "confidence": 1.0},
        {"event": "slot", "name": "cart_has_items", "value": True},
        {"event": "bot", "text": "Added"},
        {"event": "action", "name": "action_listen"},
        {"event": "user", "text": "EXTERNAL: EXTERNAL_payment_received",
         "parse_data": {"intent": {"name": "EXTERNAL_payment_received", "confidence": 1.0},
                        "entities": [{"entity": "order_number", "value": "10001"}]}},
        {"event": "action", "name": "action_payment_received", "policy": "RulePolicy",
         "confidence": 1.0},
    ],
}


def test_turns_read_from_a_tracker():
    first, paid = insight.turns(TRACKER)
    assert (first.message_id, first.intent, first.confidence) == ("wamid.A", "add_to_cart", 0.973)
    assert first.ranking == [{"name": "greet", "confidence": 0.02}]
    assert first.entities == [{"entity": "product", "value": "masala chai",
                               "extractor": "DIETClassifier"}]
    assert [a["name"] for a in first.actions] == ["action_add_to_cart"]
    assert first.slots == {"cart_has_items": True} and not first.external
    assert paid.external and paid.actions[0]["name"] == "action_payment_received"
    assert insight.turns({"events": []}) == []


async def test_insight_reads_the_tracker_with_the_token():
    async with sandbox_with_bot() as (url, bot, _app):
        bot.trackers[PHONE] = TRACKER
        _, answer = await get(f"{url}/sandbox/api/insight?phone={PHONE}")
        assert answer["available"] and [t["intent"] for t in answer["turns"]] == [
            "add_to_cart", "EXTERNAL_payment_received"]
    async with sandbox_with_bot(rasa_token="wrong") as (url, bot, _app):
        bot.trackers[PHONE] = TRACKER
        _, answer = await get(f"{url}/sandbox/api/insight?phone={PHONE}")
        assert answer == {"available": False, "turns": []}


# -- settings --------------------------------------------------------------------------


def test_settings_need_the_generated_credentials_and_hide_secrets():
    with pytest.raises(SandboxConfigError, match="WHATSAPP_APP_SECRET.*make run"):
        SandboxSettings.from_env({"WHATSAPP_ACCESS_TOKEN": "t"})
    env = {name: f"secret-{name}" for name in (
        "WHATSAPP_ACCESS_TOKEN", "WHATSAPP_PHONE_NUMBER_ID", "WHATSAPP_APP_SECRET",
        "RAZORPAY_KEY_ID", "RAZORPAY_KEY_SECRET", "RAZORPAY_WEBHOOK_SECRET")}
    loaded = SandboxSettings.from_env({**env, "SANDBOX_PORT": "9000", "RASA_API_TOKEN": "tok"})
    assert (loaded.port, loaded.public_url, loaded.host) == (
        9000, "http://localhost:9000", "127.0.0.1")
    shown = repr(loaded)
    for hidden in ("WHATSAPP_ACCESS_TOKEN", "WHATSAPP_APP_SECRET", "RAZORPAY_KEY_SECRET",
                   "RAZORPAY_WEBHOOK_SECRET"):
        assert env[hidden] not in shown
    assert "tok" not in shown


# -- the customer list, the request log's filter, the pages' headers --------------------


async def test_the_customer_list_outlives_the_page_with_names():
    async with sandbox_with_bot() as (url, _, _app):
        status, answer = await post(f"{url}/sandbox/api/customers",
                                    {"phone": "919800000009", "name": "Ravi Kumar"})
        assert status == 200
        await say(url, {"type": "text", "text": {"body": "hi"}})  # as "Asha"
        await post(f"{url}/sandbox/api/customers", {"phone": PHONE, "name": "Asha Rao"})
        _, answer = await get(f"{url}/sandbox/api/customers")
        assert answer["customers"] == [{"phone": "919800000009", "name": "Ravi Kumar"},
                                       {"phone": PHONE, "name": "Asha Rao"}]
        for bad in ({"phone": "12", "name": "x"}, {"phone": PHONE, "name": "x" * 61},
                    {"phone": PHONE, "name": 5}):
            status, body = await post(f"{url}/sandbox/api/customers", bad)
            assert status == 400 and body["error"]


async def test_each_request_is_filed_under_its_customer():
    async with sandbox_with_bot() as (url, _, _app):
        await say(url, {"type": "text", "text": {"body": "hi"}})
        await say(url, {"type": "text", "text": {"body": "hello"}}, phone="919800000002")
        await create_link(url)  # for +919800000001
        _, mine = await get(f"{url}/sandbox/api/log?phone={PHONE}")
        assert [(e["data"]["service"], e["phone"]) for e in mine["entries"]] == [
            ("rasa", PHONE), ("razorpay", PHONE)]
        _, everyone = await get(f"{url}/sandbox/api/log")
        assert len(everyone["entries"]) == 3


async def test_pages_forbid_inline_script():
    async with sandbox_with_bot() as (url, _, _app), aiohttp.ClientSession() as session:
        for path in ("/", "/pay/plink_x"):
            async with session.get(url + path) as response:
                await response.read()
                policy = response.headers["Content-Security-Policy"]
                assert "script-src 'self'" in policy and "unsafe-inline" not in policy
                assert response.headers["X-Content-Type-Options"] == "nosniff"
