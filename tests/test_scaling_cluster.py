"""Two Rasa servers, one action server, shared PostgreSQL and Redis: the product past one
process, as `scripts/run_cluster.sh` runs it.

Real processes on loopback (the trained model, the project's endpoints.yml stores,
credentials.yml); a fresh PostgreSQL database for conversations and orders; the test
Redis database for locks and reply tokens. Meta and Razorpay are the local
fakes. A load balancer sends any request to any server: here each test picks the server.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa

from orders.store import orders, webhook_events
from sandbox.harness.live_stack import MODEL, LiveStack, live_stack
from sandbox.harness.services import fresh_database, scratch_redis
from sandbox.harness.whatsapp_meta import message
from tests.test_end_to_end import contains, text_of

pytestmark = pytest.mark.skipif(
    not MODEL.exists(), reason=f"no trained model at {MODEL}: run `make train` (make test does)"
)

FIRST, SECOND = 0, 1
QUIET_SECONDS = 4.0  # how long "nothing more was sent" is watched for


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> LiveStack:
    with fresh_database() as database_url, scratch_redis() as redis_url:
        with live_stack(
            tmp_path_factory.mktemp("cluster"),
            rasa_servers=2,
            project_stores=True,
            DATABASE_URL=database_url,  # orders, and conversations (TRACKER_STORE_URL unset)
            REDIS_URL=redis_url,
        ) as stack:
            yield stack


class Customer:
    """One WhatsApp customer whose messages reach whichever server the test says."""

    def __init__(self, stack: LiveStack) -> None:
        self.stack = stack
        self.wa_id = "9198" + "".join(secrets.choice("0123456789") for _ in range(8))

    def mine(self, until: Callable[[dict[str, Any]], bool]) -> Callable[[dict[str, Any]], bool]:
        return lambda sent: sent.get("to") == self.wa_id and until(sent)

    def sent_since(self, start: int) -> list[dict[str, Any]]:
        return [m for m in self.stack.graph.sent[start:] if m.get("to") == self.wa_id]

    def deliver(self, content: dict[str, Any], server: int) -> int:
        return self.stack.customer_says(content, server)

    def says(self, text: str, server: int, until) -> list[dict[str, Any]]:
        start = len(self.stack.graph.sent)
        assert self.deliver(message("text", {"body": text}, sender=self.wa_id), server) == 200
        self.stack.sent_after(start, self.mine(until))
        return self.sent_since(start)

    def taps(self, reply_id: str, title: str, server: int, until) -> list[dict[str, Any]]:
        start = len(self.stack.graph.sent)
        content = {"type": "button_reply", "button_reply": {"id": reply_id, "title": title}}
        assert self.deliver(message("interactive", content, sender=self.wa_id), server) == 200
        self.stack.sent_after(start, self.mine(until))
        return self.sent_since(start)

    def quiet_since(self, start: int) -> list[dict[str, Any]]:
        """What this customer was sent from `start`, after QUIET_SECONDS of waiting."""
        time.sleep(QUIET_SECONDS)
        return self.sent_since(start)


def user_texts(stack: LiveStack, sender: str) -> list[str]:
    """The customer's messages in the shared tracker store, in stored order."""
    engine = sa.create_engine(stack.database_url, future=True)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT data FROM events WHERE sender_id = :s AND type_name = 'user' ORDER BY id"
            ),
            {"s": sender},
        ).scalars()
        texts = [json.loads(row)["text"] for row in rows]
    engine.dispose()
    return texts


def order_of(stack: LiveStack, sender: str) -> dict[str, Any]:
    engine = sa.create_engine(stack.database_url, future=True)
    with engine.connect() as conn:
        row = conn.execute(
            sa.select(orders).where(orders.c.customer_id == sender).order_by(orders.c.id.desc())
        ).mappings().first()
    engine.dispose()
    return dict(row)


def event_rows(stack: LiveStack, event_id: str) -> int:
    engine = sa.create_engine(stack.database_url, future=True)
    with engine.connect() as conn:
        count = conn.execute(
            sa.select(sa.func.count()).where(webhook_events.c.event_id == event_id)
        ).scalar()
    engine.dispose()
    return count


def is_pay_now(sent: dict[str, Any]) -> bool:
    return sent.get("interactive", {}).get("type") == "cta_url"


def confirmations(sent: list[dict[str, Any]]) -> list[str]:
    return [text_of(m) for m in sent if "Payment successful" in text_of(m)]


def check_out(customer: Customer, servers: list[int]) -> dict[str, Any]:
    """From hello to the Pay Now button, turn i on servers[i % len(servers)]; the order."""
    turn = iter(range(100))

    def on() -> int:
        return servers[next(turn) % len(servers)]

    customer.says("hi", on(), contains("tea"))
    customer.says("2 masala chai and a mug", on(), contains("₹799"))
    customer.says("checkout", on(), contains("name"))
    customer.says("Asha Rao", on(), contains("address"))
    customer.says("12 MG Road, Shanthala Nagar, Bengaluru", on(), contains("PIN"))
    confirm = customer.says("560001", on(), contains("check your order"))
    buttons = confirm[-1]["interactive"]["action"]["buttons"]
    confirm_id = next(b["reply"]["id"] for b in buttons if "Confirm" in b["reply"]["title"])
    placed = customer.taps(confirm_id, "✅ Confirm", on(), is_pay_now)
    assert any(is_pay_now(m) for m in placed)
    return order_of(customer.stack, customer.wa_id)


def test_both_servers_share_redis_and_postgresql(cluster):
    for server in (FIRST, SECOND):
        health = cluster.rasa_urls[server] + "/webhooks/whatsapp/"
        with urllib.request.urlopen(health, timeout=10) as response:
            assert json.loads(response.read())["reply_state"] == "redis"
    assert cluster.database_url.startswith("postgresql")


def test_alternating_servers_keep_one_coherent_conversation(cluster):
    customer = Customer(cluster)
    customer.says("hi", FIRST, contains("tea"))
    customer.says("2 masala chai please", SECOND, contains("₹500"))
    added = customer.says("one more mug please", FIRST, contains("₹799"))
    assert any("Masala Chai" in text_of(m) or "Mug" in text_of(m) for m in added)
    cart = customer.says("show my cart", SECOND, contains("₹799"))
    shown = " ".join(text_of(m) for m in cart)
    assert "Masala Chai" in shown and "Mug" in shown

    assert user_texts(cluster, customer.wa_id) == [
        "hi", "2 masala chai please", "one more mug please", "show my cart"
    ]

    # and on through checkout, every turn on the other server than the one before
    customer.says("checkout", FIRST, contains("name"))
    customer.says("Asha Rao", SECOND, contains("address"))
    customer.says("12 MG Road, Shanthala Nagar, Bengaluru", FIRST, contains("PIN"))
    confirm = customer.says("560001", SECOND, contains("check your order"))
    buttons = confirm[-1]["interactive"]["action"]["buttons"]
    confirm_id = next(b["reply"]["id"] for b in buttons if "Confirm" in b["reply"]["title"])
    customer.taps(confirm_id, "✅ Confirm", FIRST, is_pay_now)
    order = order_of(cluster, customer.wa_id)
    assert order["total"] == 79900 and order["status"] == "pending_payment"
    assert order["customer_name"] == "Asha Rao" and order["pincode"] == "560001"


def test_a_redelivery_to_the_other_server_is_not_answered_again(cluster):
    customer = Customer(cluster)
    customer.says("hi", FIRST, contains("tea"))
    again = message("text", {"body": "show my cart"}, sender=customer.wa_id)
    start = len(cluster.graph.sent)
    assert customer.deliver(again, FIRST) == 200
    cluster.sent_after(start, customer.mine(lambda sent: True))
    answer = customer.quiet_since(start)
    assert answer
    assert customer.deliver(again, SECOND) == 200  # Meta retries; the balancer picks SECOND
    assert customer.quiet_since(start) == answer  # nothing more
    assert user_texts(cluster, customer.wa_id) == ["hi", "show my cart"]


def test_the_payment_webhook_on_the_other_server_confirms_once(cluster):
    customer = Customer(cluster)
    order = check_out(customer, [FIRST])  # the whole chat on FIRST
    link = cluster.razorpay.links[order["payment_link_id"]]
    payment = cluster.razorpay.pay(link["id"])
    body, headers = cluster.razorpay.webhook("payment_link.paid", link["id"], payment)

    start = len(cluster.graph.sent)
    assert cluster.post("/webhooks/razorpay/webhook", body, headers, SECOND) == 200
    cluster.sent_after(start, customer.mine(contains("Payment successful")))
    # Razorpay retries the same event on FIRST: changes nothing, tells nothing.
    assert cluster.post("/webhooks/razorpay/webhook", body, headers, FIRST) == 200
    told = confirmations(customer.quiet_since(start))
    assert len(told) == 1 and f"#{order['number']}" in told[0] and "₹799" in told[0]

    paid = order_of(cluster, customer.wa_id)
    assert paid["status"] == "paid" and paid["payment_id"] == payment["id"]
    assert paid["confirmation_sent_at"] is not None
    assert event_rows(cluster, headers["X-Razorpay-Event-Id"]) == 1
    # the conversation goes on, on either server
    customer.says("thanks", SECOND, lambda sent: True)


def test_one_payment_delivered_to_both_servers_at_once_confirms_once(cluster):
    customer = Customer(cluster)
    order = check_out(customer, [SECOND, FIRST])
    link = cluster.razorpay.links[order["payment_link_id"]]
    payment = cluster.razorpay.pay(link["id"])
    body, headers = cluster.razorpay.webhook("payment_link.paid", link["id"], payment)
    # the same payment as another event (its own id), as Razorpay also sends
    captured, captured_headers = cluster.razorpay.webhook("payment.captured", link["id"], payment)
    deliveries = [
        (body, headers, FIRST), (body, headers, SECOND),
        (captured, captured_headers, FIRST), (captured, captured_headers, SECOND),
    ] * 3
    start = len(cluster.graph.sent)
    statuses = at_once(
        [lambda d=d: cluster.post("/webhooks/razorpay/webhook", d[0], d[1], d[2])
         for d in deliveries]
    )
    assert statuses == [200] * len(deliveries)
    cluster.sent_after(start, customer.mine(contains("Payment successful")))
    told = confirmations(customer.quiet_since(start))
    assert len(told) == 1, told
    paid = order_of(cluster, customer.wa_id)
    assert paid["status"] == "paid" and paid["payment_id"] == payment["id"]
    assert event_rows(cluster, headers["X-Razorpay-Event-Id"]) == 1
    assert event_rows(cluster, captured_headers["X-Razorpay-Event-Id"]) == 1


def test_killing_a_server_mid_conversation_the_other_carries_on(cluster):
    """Last in this module: it stops the second server for good."""
    customer = Customer(cluster)
    customer.says("hi", SECOND, contains("tea"))
    customer.says("2 masala chai please", SECOND, contains("₹500"))
    cluster.kill("rasa2")  # SIGKILL: no goodbye, as when a machine dies

    # The cart built on the dead server goes on: 2 masala chai and now a mug.
    customer.says("one more mug please", FIRST, contains("₹799"))
    customer.says("checkout", FIRST, contains("name"))
    assert user_texts(cluster, customer.wa_id) == [
        "hi", "2 masala chai please", "one more mug please", "checkout"
    ]


def at_once(calls: list[Callable[[], int]]) -> list[int]:
    """Run the calls in threads released together; their results in order."""
    results: list[int] = [0] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(i: int) -> None:
        barrier.wait()
        results[i] = calls[i]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
