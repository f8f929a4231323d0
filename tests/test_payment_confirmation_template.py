"""A payment confirmation outside the customer's 24-hour window: WhatsApp refuses it as
free-form text (131047), and it goes out once as PAYMENT_CONFIRMATION_TEMPLATE, filled
from the order, in the customer's language where one is configured; without the
setting it is given up on with advice that names it. The other payment notices carry
no template.

Real database, the local Razorpay and Graph API on loopback, the payment actions run
for real behind `StubAgent` (its tracker knows the `language` slot), no model."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet

from channels.delivery import channel_outputs
from channels.notifier import ConversationNotifier
from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from durable.outbox import FALLBACK_KEY, FallbackTemplate, Outbox
from durable.sender import OutboxSender
from durable.tables import outbox
from gateways.razorpay import RazorpayGateway
from orders import confirmation_template
from orders.payment_events import Applied, Outcome, PaymentEvent, apply_event
from orders.payment_links import ensure_link
from orders.store import OrderStatus
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN
from sandbox.harness.razorpay_api import KEY_ID, KEY_SECRET
from sandbox.harness.razorpay_stack import CUSTOMER, StubAgent, place_order

TEMPLATE = "payment_received"
SETTINGS = (
    "PAYMENT_CONFIRMATION_TEMPLATE",
    "PAYMENT_CONFIRMATION_TEMPLATE_LANGUAGE",
    "PAYMENT_CONFIRMATION_TEMPLATE_LANGUAGE_HI",
)
# A conversation that knows the slot the responses and the template's language follow.
LANGUAGE_SLOT = Domain.from_dict(
    {"slots": {"language": {"type": "text", "mappings": [{"type": "custom"}]}}}
)


@pytest.fixture(autouse=True)
def _no_template(monkeypatch):
    for setting in SETTINGS:
        monkeypatch.delenv(setting, raising=False)


@pytest.fixture
async def stack(store, razorpay, graph, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", store.url)  # the actions' store
    client = WhatsAppClient(
        TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, api_version=API_VERSION,
        max_attempts=1,
    )
    whatsapp = WhatsAppInput(
        WhatsAppSettings("app-secret", "verify-token"), client, ChannelState.in_memory()
    )
    agent = StubAgent()
    agent.tracker_store = InMemoryTrackerStore(LANGUAGE_SLOT)
    sender = OutboxSender(
        Outbox(store.engine), channel_outputs(lambda: [whatsapp]), store, "test-sender"
    )
    notifier = ConversationNotifier(lambda: agent, Outbox(store.engine), sender, store)
    yield agent, notifier, sender
    await client.close()


async def customer_speaks(agent: StubAgent, language: str) -> None:
    await agent.seed(CUSTOMER, "whatsapp")
    tracker = await agent.get_tracker(CUSTOMER)
    tracker.update(SlotSet("language", language))
    await agent.tracker_store.save(tracker)


async def paid(store, razorpay) -> Applied:
    """An order paid through its link (the webhook's event applied)."""
    gateway = RazorpayGateway(KEY_ID, KEY_SECRET, razorpay.base_url, timeout=2)
    linked = await ensure_link(store, gateway, await place_order(store))
    payment = razorpay.pay(linked.payment_link_id)
    body, headers = razorpay.webhook("payment_link.paid", linked.payment_link_id, payment)
    event = PaymentEvent.from_body(headers["X-Razorpay-Event-Id"], json.loads(body))
    applied = await apply_event(store, event)
    assert applied.outcome is Outcome.PAID
    return applied


def rows(store) -> list[dict[str, Any]]:
    with store.engine.connect() as conn:
        query = sa.select(outbox).order_by(outbox.c.id)
        return [dict(r) for r in conn.execute(query).mappings()]


def template_message(number: int, language: str) -> dict[str, Any]:
    """The Graph API's template message, after the Cloud API's documentation."""
    return {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": CUSTOMER,
        "type": "template",
        "template": {
            "name": TEMPLATE,
            "language": {"code": language},
            "components": [{"type": "body", "parameters": [
                {"type": "text", "text": f"#{number}"},
                {"type": "text", "text": "₹799"},  # 2 × ₹250 + ₹299
            ]}],
        },
    }


@pytest.mark.parametrize(
    ("language", "code", "words"),
    [("en", "en_US", "Payment successful"), ("hi-Latn", "en_US", "Payment ho gaya"),
     ("hi", "hi", "पेमेंट सफल रहा")],
)
async def test_a_refused_confirmation_goes_out_once_as_the_template(
    store, razorpay, graph, stack, monkeypatch, caplog, language, code, words
):
    agent, notifier, sender = stack
    monkeypatch.setenv("PAYMENT_CONFIRMATION_TEMPLATE", TEMPLATE)
    monkeypatch.setenv("PAYMENT_CONFIRMATION_TEMPLATE_LANGUAGE", "en_US")
    monkeypatch.setenv("PAYMENT_CONFIRMATION_TEMPLATE_LANGUAGE_HI", "hi")
    await customer_speaks(agent, language)
    graph.close_window(CUSTOMER)  # they last wrote more than a day ago
    applied = await paid(store, razorpay)

    with caplog.at_level(logging.INFO):
        assert await notifier.notify(applied, "inbox:1")
        # Told again (a redelivered notice, a reconciler pass): nothing more goes out.
        assert await notifier.notify(applied, "inbox:1")
        assert await notifier.notify(applied, "reconcile:1")
        await sender.flush()

    refused, accepted = graph.requests
    assert refused.status == 400 and refused.body["type"] == "interactive"
    assert words in json.dumps(refused.body, ensure_ascii=False)
    assert accepted.status == 200
    assert graph.sent == [template_message(applied.order_number, code)]
    [row] = rows(store)
    assert (row["status"], row["attempts"], row["confirms_order"]) == (
        "sent", 0, applied.order_number
    )
    assert json.loads(row["message_ids"]) == ["wamid.SANDBOX00000001"]
    order = await store.get(applied.order_number)
    assert order.status is OrderStatus.PAID and order.confirmation_sent_at is not None
    assert f"sent as template '{TEMPLATE}'" in caplog.text


async def test_without_the_setting_the_confirmation_is_given_up_naming_it(
    store, razorpay, graph, stack, monkeypatch, caplog
):
    agent, notifier, sender = stack
    await customer_speaks(agent, "en")
    graph.close_window(CUSTOMER)
    applied = await paid(store, razorpay)

    with caplog.at_level(logging.INFO):
        assert await notifier.notify(applied, "inbox:1")
        await sender.flush()

    assert graph.sent == [] and len(graph.requests) == 1  # refused once, not retried
    [row] = rows(store)
    assert row["status"] == "failed" and row["confirms_order"] == applied.order_number
    assert "code=131047" in row["last_error"]
    assert "set PAYMENT_CONFIRMATION_TEMPLATE" in row["last_error"]
    [given_up] = [r for r in caplog.records if "given up" in r.getMessage()]
    assert given_up.levelno == logging.ERROR
    assert "PAYMENT_CONFIRMATION_TEMPLATE" in given_up.getMessage()
    assert (await store.get(applied.order_number)).confirmation_sent_at is None
    assert TOKEN not in caplog.text

    # Once the template is set, the reconciler's next try (a new notice) carries it.
    monkeypatch.setenv("PAYMENT_CONFIRMATION_TEMPLATE", TEMPLATE)
    assert await notifier.notify(applied)
    await sender.flush()
    assert graph.sent == [template_message(applied.order_number, "en")]
    assert [row["status"] for row in rows(store)] == ["failed", "sent"]
    assert (await store.get(applied.order_number)).confirmation_sent_at is not None


async def test_within_the_window_the_confirmation_is_free_form_and_carries_the_template(
    store, razorpay, graph, stack, monkeypatch
):
    agent, notifier, sender = stack
    monkeypatch.setenv("PAYMENT_CONFIRMATION_TEMPLATE", TEMPLATE)
    await customer_speaks(agent, "hi")  # no Hindi code configured: the default, en
    applied = await paid(store, razorpay)

    assert await notifier.notify(applied, "inbox:1")
    await sender.flush()

    [message] = graph.sent
    assert message["type"] == "interactive" and FALLBACK_KEY not in json.dumps(message)
    [row] = rows(store)
    stored = json.loads(row["message"])
    assert stored[FALLBACK_KEY] == {
        "setting": "PAYMENT_CONFIRMATION_TEMPLATE",
        "name": TEMPLATE,
        "language": "en",
        "parameters": [f"#{applied.order_number}", "₹799"],
    }
    assert (await store.get(applied.order_number)).confirmation_sent_at is not None


async def test_other_payment_notices_carry_no_template(
    store, razorpay, graph, stack, monkeypatch
):
    agent, notifier, sender = stack
    monkeypatch.setenv("PAYMENT_CONFIRMATION_TEMPLATE", TEMPLATE)
    await customer_speaks(agent, "en")
    order = await place_order(store)
    failed = Applied(Outcome.FAILED, order.number, CUSTOMER)

    assert await notifier.notify(failed, "inbox:1")
    await sender.flush()

    [row] = rows(store)
    assert FALLBACK_KEY not in json.loads(row["message"]) and row["confirms_order"] is None


def test_only_the_confirmation_among_a_turns_messages_carries_it():
    fallback = FallbackTemplate("PAYMENT_CONFIRMATION_TEMPLATE", TEMPLATE)
    confirmation = {"text": "paid", "utter_action": confirmation_template.RESPONSE}
    question = {"text": "Your PIN code?", "utter_action": "utter_ask_pincode"}
    attached = confirmation_template.attach([confirmation, question], fallback)
    assert attached == [fallback.attach(confirmation), question]
