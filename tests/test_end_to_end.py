"""The whole flow through the real servers and the trained model.

Signed WhatsApp messages in -> cart -> checkout form -> order -> Razorpay link ->
signed `payment_link.paid` webhook -> confirmation out at the fake Graph API.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import pytest
import sqlalchemy as sa

from orders.store import orders
from sandbox.harness.live_stack import (
    DEFAULT_RASA_NICENESS,
    MODEL,
    REPO,
    LiveStack,
    live_stack,
    rasa_niceness,
)
from sandbox.harness.whatsapp_meta import message

pytestmark = pytest.mark.skipif(
    not MODEL.exists(), reason=f"no trained model at {MODEL}: run `make train` (make test does)"
)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> LiveStack:
    with live_stack(tmp_path_factory.mktemp("stack")) as running:
        yield running


def text_of(sent: dict[str, Any]) -> str:
    if sent["type"] == "text":
        return sent["text"]["body"]
    if sent["type"] == "interactive":
        return sent["interactive"].get("body", {}).get("text", "")
    if sent["type"] == "image":
        return sent["image"].get("caption", "")
    return ""


def contains(words: str):
    return lambda sent: words.lower() in text_of(sent).lower()


def say(stack: LiveStack, text: str, until, sender: str) -> list[dict[str, Any]]:
    start = len(stack.graph.sent)
    assert stack.customer_says(message("text", {"body": text}, sender=sender)) == 200
    return stack.sent_after(start, until)


def tap(stack: LiveStack, reply_id: str, title: str, until, sender: str) -> list[dict[str, Any]]:
    start = len(stack.graph.sent)
    content = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
    assert stack.customer_says(message("interactive", content, sender=sender)) == 200
    return stack.sent_after(start, until)


def order_row(stack: LiveStack, customer: str) -> dict[str, Any]:
    engine = sa.create_engine(stack.database_url, future=True)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(orders).where(orders.c.customer_id == customer).order_by(orders.c.id.desc())
        ).mappings().first()
    engine.dispose()
    return dict(row)


def checkout(stack: LiveStack, customer: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Chat from hello to the Pay Now button; returns the cta_url message and the order row."""
    say(stack, "hi", contains("tea"), customer)
    added = say(stack, "2 masala chai and a mug", contains("₹799"), customer)
    assert any("Masala Chai" in text_of(m) for m in added)

    say(stack, "checkout", contains("name"), customer)
    say(stack, "Asha Rao", contains("address"), customer)
    say(stack, "12 MG Road, Shanthala Nagar, Bengaluru", contains("PIN"), customer)
    refused = say(stack, "12", contains("6-digit"), customer)
    assert any("doesn't look like a PIN" in text_of(m) for m in refused)
    confirm = say(stack, "560001", contains("check your order"), customer)
    assert "₹799" in text_of(confirm[-1])  # the cart is shown once, in the summary
    buttons = confirm[-1]["interactive"]["action"]["buttons"]
    confirm_id = next(b["reply"]["id"] for b in buttons if "Confirm" in b["reply"]["title"])

    is_pay_now = lambda sent: sent.get("interactive", {}).get("type") == "cta_url"  # noqa: E731
    placed = tap(stack, confirm_id, "✅ Confirm", is_pay_now, customer)
    pay_now = next(m for m in placed if is_pay_now(m))
    return pay_now, order_row(stack, customer)


def test_chat_to_payment_confirmation(stack):
    customer = "919800000001"
    pay_now, order = checkout(stack, customer)

    assert order["status"] == "pending_payment" and order["total"] == 79900
    link = stack.razorpay.links[order["payment_link_id"]]
    assert link["amount"] == 79900 and link["reference_id"] == str(order["number"])
    assert pay_now["interactive"]["action"]["parameters"]["url"] == link["short_url"]
    assert f"#{order['number']}" in text_of(pay_now)

    payment = stack.razorpay.pay(link["id"])
    body, headers = stack.razorpay.webhook("payment_link.paid", link["id"], payment)
    start = len(stack.graph.sent)
    assert stack.post("/webhooks/razorpay/webhook", body, headers) == 200
    confirmed = stack.sent_after(start, contains("Payment successful"))
    confirmation = next(text_of(m) for m in confirmed if "Payment successful" in text_of(m))
    assert f"#{order['number']}" in confirmation and "₹799" in confirmation
    assert "Items: 3" in confirmation

    paid = order_row(stack, customer)
    assert paid["status"] == "paid" and paid["payment_id"] == payment["id"]
    assert paid["confirmation_sent_at"] is not None

    # Razorpay delivers again (same event id): no second confirmation.
    start = len(stack.graph.sent)
    assert stack.post("/webhooks/razorpay/webhook", body, headers) == 200
    say(stack, "thanks", lambda sent: True, customer)
    assert not any("Payment successful" in text_of(m) for m in stack.graph.sent[start:])


def test_forged_requests_change_nothing(stack):
    customer = "919800000002"
    _, order = checkout(stack, customer)
    link = stack.razorpay.links[order["payment_link_id"]]
    payment = stack.razorpay.pay(link["id"])

    body, headers = stack.razorpay.webhook("payment_link.paid", link["id"], payment, secret="wrong")
    assert stack.post("/webhooks/razorpay/webhook", body, headers) == 403

    forged = json.dumps({"object": "whatsapp_business_account", "entry": []}).encode()
    status = stack.post(
        "/webhooks/whatsapp/webhook",
        forged,
        {"Content-Type": "application/json", "X-Hub-Signature-256": "sha256=" + "0" * 64},
    )
    assert status == 403
    assert order_row(stack, customer)["status"] == "pending_payment"


def test_rasa_runs_at_a_lower_priority_than_the_rest(stack):
    """As scripts/run.sh starts it (RASA_NICENESS): inference on both cores must leave the
    front door a core, so webhooks are answered at once while the bot is busy."""
    ours = os.getpriority(os.PRIO_PROCESS, 0)
    rasa = os.getpriority(os.PRIO_PROCESS, stack.processes["rasa"].pid)
    assert rasa == min(ours + rasa_niceness(os.environ), 19)
    assert os.getpriority(os.PRIO_PROCESS, stack.processes["actions"].pid) == ours
    for script in ("run.sh", "run_cluster.sh"):
        text = (REPO / "scripts" / script).read_text()
        defaults = re.findall(r'nice -n "\$\{RASA_NICENESS:-(\d+)\}" \.venv/bin/rasa run', text)
        assert defaults == [str(DEFAULT_RASA_NICENESS)], script
