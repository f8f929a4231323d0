"""Razorpay webhook benchmark: the real route against a bare baseline, in one run.

    .venv/bin/python bench/webhook_bench.py [--orders 1000] [--concurrency 50]

1. Baseline: a bare Sanic route that checks the HMAC and inserts one row into SQLite.
2. The product's route (channels.razorpay, mounted by Rasa's `register`): signature,
   event-id de-duplication, the payment transaction on SQLite, the 2xx answer.
   Each order's `payment_link.paid` is delivered twice (a redelivery), so half of the
   deliveries take the duplicate path, as they do in production.
3. Webhook to confirmation: the time from sending a paid webhook until the
   "Payment successful" message reaches the (local) WhatsApp Graph API, with the real
   confirmation action behind the tests' StubAgent (no trained model needed).

Everything runs in this process on loopback HTTP, client included, so both routes get
the same share of the CPU. Targets: throughput >= 0.5 of the baseline, p99
under 50 ms, confirmation p95 under 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import logging
import os
import platform
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp
from sanic import Sanic, response

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from channels.razorpay import RazorpayWebhookInput  # noqa: E402
from channels.whatsapp import WhatsAppInput, WhatsAppSettings  # noqa: E402
from channels.whatsapp.client import WhatsAppClient  # noqa: E402
from channels.whatsapp.store import ChannelState  # noqa: E402
from orders.store import OrderStore  # noqa: E402
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN, FakeGraphApi  # noqa: E402
from sandbox.harness.razorpay_api import WEBHOOK_SECRET, sign  # noqa: E402
from sandbox.harness.razorpay_stack import LINES, StubAgent, run_app, serve  # noqa: E402


class TimedGraphApi(FakeGraphApi):
    """The Graph API stand-in, noting when each customer's confirmation arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.confirmed_at: dict[str, float] = {}
        self._arrival = asyncio.Event()

    async def until(self, done: Callable[[], bool], timeout: float) -> None:
        """Wait until `done()` holds after some arrival, or `timeout` passes."""
        deadline = time.monotonic() + timeout
        while not done() and time.monotonic() < deadline:
            self._arrival.clear()
            try:
                await asyncio.wait_for(self._arrival.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                return

    async def _handle(self, request: Any) -> Any:
        answer = await super()._handle(request)
        last = self.requests[-1]
        if last.status == 200 and "Payment successful" in json.dumps(last.body):
            self.confirmed_at.setdefault(last.body["to"], time.perf_counter())
            self._arrival.set()
        return answer


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def load(url: str, deliveries: list[tuple[bytes, dict]], concurrency: int) -> dict:
    """Send every delivery, `concurrency` at a time; latency per request, total rate."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    queue = list(reversed(deliveries))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def worker() -> None:
            while queue:
                body, headers = queue.pop()
                started = time.perf_counter()
                async with http.post(url, data=body, headers=headers) as resp:
                    await resp.read()
                latencies.append(time.perf_counter() - started)
                statuses[resp.status] = statuses.get(resp.status, 0) + 1

        began = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - began
    return {
        "requests": len(latencies),
        "statuses": statuses,
        "per_second": len(latencies) / elapsed,
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
    }


def paid_event(number: int, customer: str, total: int) -> bytes:
    link = {
        "id": f"plink_B{number}",
        "status": "paid",
        "reference_id": str(number),
        "amount": total,
        "amount_paid": total,
        "currency": "INR",
        "notes": {"order_number": str(number), "customer_id": customer},
    }
    payment = {
        "id": f"pay_B{number}",
        "amount": total,
        "currency": "INR",
        "status": "captured",
        "method": "upi",
        "notes": link["notes"],
        "created_at": int(time.time()),
    }
    return json.dumps(
        {
            "entity": "event",
            "account_id": "acc_bench",
            "event": "payment_link.paid",
            "contains": ["payment_link", "payment"],
            "created_at": int(time.time()),
            "payload": {"payment_link": {"entity": link}, "payment": {"entity": payment}},
        }
    ).encode()


def signed(body: bytes, event_id: str) -> tuple[bytes, dict]:
    return body, {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": sign(body),
        "X-Razorpay-Event-Id": event_id,
    }


async def baseline(workdir: Path, orders: int, concurrency: int) -> dict:
    database = workdir / "baseline.db"
    with sqlite3.connect(database) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE events (event_id TEXT PRIMARY KEY, body TEXT)")

    def insert(event_id: str, body: bytes) -> None:
        with sqlite3.connect(database, timeout=30) as conn:
            conn.execute("INSERT OR IGNORE INTO events VALUES (?, ?)", (event_id, body))

    Sanic.test_mode = True
    app = Sanic(f"baseline_{uuid.uuid4().hex[:8]}")

    @app.post("/webhook")
    async def webhook(request: Any) -> Any:
        expected = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Razorpay-Signature", "")):
            return response.json({"error": "signature"}, status=403)
        await asyncio.to_thread(insert, request.headers["X-Razorpay-Event-Id"], request.body)
        return response.json({"status": "ok"})

    deliveries = [
        signed(paid_event(10001 + i, f"9190{i:08d}", 79900), f"evt_base_{i % orders}")
        for i in range(2 * orders)
    ]
    async with run_app(app) as base_url:
        return await load(f"{base_url}/webhook", deliveries, concurrency)


async def product_route(workdir: Path, orders: int, concurrency: int) -> tuple[dict, dict]:
    store = OrderStore(f"sqlite:///{workdir / 'orders.db'}")
    os.environ["DATABASE_URL"] = store.url  # the confirmation action's store
    graph = await TimedGraphApi().start()
    arrivals = graph.confirmed_at
    agent = StubAgent()
    created = []
    for i in range(orders):
        customer = f"9190{i:08d}"
        order = await store.create_order(customer, "Bench", "1 Bench Road", "560001", LINES)
        await store.update(
            order.number,
            payment_reference=str(order.number),
            payment_link_id=f"plink_B{order.number}",
        )
        await agent.seed(customer, "whatsapp")
        created.append(order)

    whatsapp = WhatsAppInput(
        WhatsAppSettings("app-secret", "verify-token"),
        WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, api_version=API_VERSION),
        ChannelState.in_memory(),
    )
    channel = RazorpayWebhookInput([WEBHOOK_SECRET], store, None, reconcile_interval=3600)
    deliveries = []
    for order in created:
        body = paid_event(order.number, order.customer_id, order.total)
        deliveries += [signed(body, f"evt_{order.number}")] * 2
    sent_at = {}
    try:
        async with serve([whatsapp, channel], agent) as base_url:
            # Throughput and latency of the acknowledgement.
            route = await load(f"{base_url}/webhooks/razorpay/webhook", deliveries, concurrency)
            await graph.until(lambda: len(arrivals) >= orders, timeout=60)

            # Webhook to confirmation, one paid order at a time (no queueing behind others).
            latency_orders = []
            for i in range(int(os.environ.get("BENCH_LATENCY_ORDERS", "100"))):
                customer = f"9191{i:08d}"
                order = await store.create_order(customer, "Bench", "1 Bench Road", "560001", LINES)
                await store.update(order.number, payment_reference=str(order.number))
                await agent.seed(customer, "whatsapp")
                latency_orders.append(order)
            async with aiohttp.ClientSession() as http:
                for order in latency_orders:
                    body, headers = signed(
                        paid_event(order.number, order.customer_id, order.total),
                        f"evt_c_{order.number}",
                    )
                    sent_at[order.customer_id] = time.perf_counter()
                    async with http.post(
                        f"{base_url}/webhooks/razorpay/webhook", data=body, headers=headers
                    ) as resp:
                        assert resp.status == 200
                    customer = order.customer_id
                    await graph.until(lambda c=customer: c in arrivals, timeout=5)
    finally:
        await graph.stop()
        store.dispose()
    confirm = [arrivals[c] - t for c, t in sent_at.items() if c in arrivals]
    confirmations = sum(
        1 for r in graph.requests if r.status == 200 and "Payment successful" in json.dumps(r.body)
    )
    route["confirmations_sent"] = confirmations - len(confirm)
    route["orders"] = orders
    return route, {
        "samples": len(confirm),
        "missing": len(sent_at) - len(confirm),
        "p50_ms": percentile(confirm, 0.50) * 1000,
        "p95_ms": percentile(confirm, 0.95) * 1000,
    }


async def main(orders: int, concurrency: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        base = await baseline(Path(tmp), orders, concurrency)
        route, confirm = await product_route(Path(tmp), orders, concurrency)
    return {
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "load_average": os.getloadavg(),
        "concurrency": concurrency,
        "baseline": base,
        "route": route,
        "ratio": route["per_second"] / base["per_second"],
        "confirmation": confirm,
    }


def report(results: dict) -> str:
    base, route, confirm = results["baseline"], results["route"], results["confirmation"]
    return "\n".join(
        [
            f"{route['requests']} deliveries ({route['orders']} orders, each delivered twice), "
            f"{results['concurrency']} concurrent, SQLite",
            "",
            "| route | deliveries/s | p50 ms | p99 ms |",
            "| --- | ---: | ---: | ---: |",
            f"| bare HMAC + 1 insert | {base['per_second']:.0f} | {base['p50_ms']:.1f} | "
            f"{base['p99_ms']:.1f} |",
            f"| /webhooks/razorpay/webhook | {route['per_second']:.0f} | {route['p50_ms']:.1f} | "
            f"{route['p99_ms']:.1f} |",
            "",
            f"ratio {results['ratio']:.2f} (target >= 0.5); statuses {route['statuses']}; "
            f"confirmations sent {route['confirmations_sent']} for {route['orders']} orders",
            f"webhook -> confirmation at the Graph API: p50 {confirm['p50_ms']:.1f} ms, "
            f"p95 {confirm['p95_ms']:.1f} ms over {confirm['samples']} orders "
            "(target p95 < 500 ms)",
        ]
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Razorpay webhook benchmark")
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("sanic.root").setLevel(logging.WARNING)
    results = asyncio.run(main(args.orders, args.concurrency))
    print(report(results))
    print(json.dumps(results, indent=2))
