"""Cost of durability: what the inbox and the outbox cost per message, in CPU and in the
latency of a turn at idle, in one run.

    .venv/bin/python bench/durability_bench.py [--operations 500] [--history 0,20000]
        [--samples 20] [--payments 5] [--cpu-only] [--model models/checkout.tar.gz]

1. CPU per operation, in this process, on real tables (durable.inbox, durable.outbox,
   orders.store.make_engine) in a SQLite file under a temporary directory: for each of
   `--operations` messages, one after the other as at idle, the inbox's add (what the
   front door does before answering) and claim, the turn finished (the item done, its
   one response into the outbox and claimed for sending, one transaction), the inbox
   claim that comes back empty (the consumer looks again when a slot frees), and the
   outbox's sent. time.process_time counts the worker threads the calls run in; wall time per
   operation is noted too. Once on empty tables, and once per `--history` count of
   done inbox items and sent outbox messages written first: the inbox keeps done items
   8 days (its de-duplication record) and the outbox sent messages 30 days, so in
   production the tables are never empty.
   Baseline: the same three transactions per message (insert a row, update it twice)
   with the sqlite3 module on one kept-open connection (WAL, synchronous=NORMAL, as
   the order store), the floor of any durable queue on SQLite.
2. Latency at idle (needs the trained model): the action server, Rasa and the front door
   as real processes (sandbox.harness.live_stack, `front_door=True`), with a bench-only
   credentials file that adds Rasa's REST channel. `--samples` times, alternating which
   goes first, with the bot idle: a new customer says "hi" through the front door (post,
   inbox, wake-up, claim, turn, outbox, send; done when the last reply reached the fake
   Graph API), and another says "hi" through the REST channel of the same Rasa process
   (the baseline: the same turn, without inbox, outbox or Graph API). The WhatsApp
   time is split at the fake Graph API: post to acknowledgement, acknowledgement to the
   read receipt (wake-up, claim, parse: the turn starts), read receipt to the last
   reply (the turn, its outbox rows, the sender's claim and the send). The CPU each
   process spends per turn is read from /proc.
   Then `--payments` paid orders, one at a time: time from posting Razorpay's
   payment_link.paid to the front door until "Payment successful" reaches the fake
   (event transaction and inbox notice, wake-up, the notifier's turn, outbox, send).

Target: the inbox and outbox add under 5 ms to a turn's latency at idle.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.webhook_bench import cpu_seconds, paid_event, percentile, signed  # noqa: E402
from bench.whatsapp_bench import (  # noqa: E402
    HEALTH,
    WEBHOOK,
    TurnGraphApi,
    bench_credentials,
    signed_text,
)
from channels.whatsapp.models import WebhookEvent  # noqa: E402
from durable.inbox import Inbox, NewItem  # noqa: E402
from durable.outbox import Outbox  # noqa: E402
from durable.tables import inbox as inbox_table  # noqa: E402
from durable.tables import outbox as outbox_table  # noqa: E402
from orders.store import OrderStore, make_engine, utcnow  # noqa: E402
from sandbox.harness import whatsapp_meta  # noqa: E402
from sandbox.harness.live_stack import MODEL, LiveStack, live_stack  # noqa: E402
from sandbox.harness.razorpay_stack import LINES  # noqa: E402

TURN_TIMEOUT = 60.0
# A response as Rasa hands it to the outbox: text and buttons (rendered when sent).
RESPONSE = {
    "text": "Namaste! 🙏 What would you like today? Masala Chai, Assam Gold or a mug?",
    "buttons": [
        {"title": "Browse teas", "payload": "/browse"},
        {"title": "My cart", "payload": "/show_cart"},
        {"title": "Help", "payload": "/help"},
    ],
}


# -- 1. CPU per operation -----------------------------------------------------------------


class Meter:
    """CPU (process-wide, all threads) and wall time per named operation."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, list[float]] = {}

    async def time(self, name: str, call: Callable[[], Awaitable[Any]]) -> Any:
        cpu, wall = time.process_time(), time.perf_counter()
        result = await call()
        wall = time.perf_counter() - wall
        self.cpu[name] = self.cpu.get(name, 0.0) + time.process_time() - cpu
        self.wall.setdefault(name, []).append(wall)
        return result

    def report(self, count: int) -> dict[str, dict[str, float]]:
        return {
            name: {
                "cpu_us": 1e6 * self.cpu[name] / count,
                "wall_p50_us": 1e6 * percentile(self.wall[name], 0.5),
                "wall_p99_us": 1e6 * percentile(self.wall[name], 0.99),
            }
            for name in self.cpu
        }


def stored_message(customer: str, number: int) -> dict[str, Any]:
    """What the front door stores for one text message (the channel's own format)."""
    message = whatsapp_meta.message("text", {"body": "2 masala chai and a mug"},
                                    sender=customer, message_id=f"wamid.bench{number}")
    return WebhookEvent.parse(whatsapp_meta.event(message)).messages()[0].to_stored()


async def write_history(engine: sa.engine.Engine, inbox: Inbox, outbox: Outbox,
                        rows: int) -> None:
    """`rows` done inbox items and as many sent outbox messages of earlier customers: the
    inbox keeps done items 8 days (its de-duplication record), the outbox sent ones 30.
    One of each is written through the API, then copied (so the copies follow the
    tables' columns, whatever they are)."""
    if not rows:
        return
    await inbox.add([NewItem("whatsapp", "918000000000", "whatsapp:wamid.history",
                             stored_message("918000000000", 0))])
    await outbox.add("918000000000", "whatsapp", "inbox:history", [RESPONSE])

    def copy() -> None:
        now = utcnow()
        with engine.begin() as conn:
            for table, unique, done in ((inbox_table, "dedupe_key", "done"),
                                        (outbox_table, "source", "sent")):
                template = dict(conn.execute(sa.select(table)).mappings().one())
                template.pop("id")
                conn.execute(table.delete())
                conn.execute(table.insert(), [
                    {**template, "customer_id": f"9180{i % 2000:08d}",
                     unique: f"{template[unique]}{i}", "status": done}
                    for i in range(rows)
                ])
            conn.execute(inbox_table.update().values(finished_at=now))
            conn.execute(outbox_table.update().values(sent_at=now))

    await asyncio.to_thread(copy)


async def durable_operations(workdir: Path, operations: int, history: int) -> dict[str, Any]:
    engine = make_engine(f"sqlite:///{workdir / f'durable_{history}.db'}")
    inbox, outbox = Inbox(engine), Outbox(engine)
    await inbox.prepare()
    await write_history(engine, inbox, outbox, history)
    meter = Meter()
    payloads = [stored_message(f"9170{i:08d}", i) for i in range(operations + 20)]
    try:
        for i in range(operations + 20):
            if i == 20:  # the first 20 warm up (pool, statement cache), not measured
                meter = Meter()
            customer = f"9170{i:08d}"
            item = NewItem("whatsapp", customer, f"whatsapp:wamid.bench{i}", payloads[i])
            await meter.time("inbox add", lambda item=item: inbox.add([item]))
            claimed = await meter.time("inbox claim", lambda: inbox.claim("bench", 16))
            assert len(claimed) == 1, claimed
            lease = Outbox.lease_for("bench")

            def queue(conn, customer=customer, i=i, lease=lease):
                return outbox.queue_in(
                    conn, customer, "whatsapp", f"inbox:{i}", [RESPONSE], lease, 32)

            held, rows = await meter.time(
                "turn finished", lambda c=claimed[0], queue=queue: inbox.done_with(c, queue))
            assert held and len(rows) == 1, rows
            assert not await meter.time("inbox claim, empty", lambda: inbox.claim("bench", 16))
            await meter.time("outbox sent", lambda r=rows[0], i=i: outbox.sent(
                r, [f"wamid.reply{i}"]))
    finally:
        engine.dispose()
    ops = meter.report(operations)
    return {
        "operations": operations,
        "history_rows": history,
        "per_operation": ops,
        "inbox_cpu_us": ops["inbox add"]["cpu_us"] + ops["inbox claim"]["cpu_us"],
        "turn_finished_cpu_us": ops["turn finished"]["cpu_us"],
        "outbox_cpu_us": ops["outbox sent"]["cpu_us"],
        "with_empty_claims_cpu_us": sum(op["cpu_us"] for op in ops.values()),
        # what lies on the path of a reply at idle: add, claim, the turn's finish
        "on_reply_path_wall_p50_us": sum(
            ops[name]["wall_p50_us"] for name in ("inbox add", "inbox claim", "turn finished")
        ),
    }


async def bare_sqlite(workdir: Path, operations: int) -> dict[str, Any]:
    """The floor: insert a row, update it twice, three transactions per message, with the
    sqlite3 module from a worker thread (as the inbox calls run)."""
    conn = sqlite3.connect(workdir / "bare.db", check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE queue (id INTEGER PRIMARY KEY, customer TEXT, key TEXT UNIQUE,"
                 " payload TEXT, status TEXT, lease TEXT)")
    lock = threading.Lock()
    payload = json.dumps(stored_message("919000000000", 0))

    def insert(i: int) -> int:
        with lock, conn:
            return conn.execute("INSERT INTO queue (customer, key, payload, status) VALUES "
                                "(?, ?, ?, 'pending')", (str(i), f"k{i}", payload)).lastrowid

    def update(row: int, status: str) -> None:
        with lock, conn:
            conn.execute("UPDATE queue SET status = ?, lease = ? WHERE id = ?",
                         (status, "bench", row))

    meter = Meter()
    for i in range(operations + 20):
        if i == 20:
            meter = Meter()
        row = await meter.time("insert", lambda i=i: asyncio.to_thread(insert, i))
        await meter.time("update (claim)", lambda r=row: asyncio.to_thread(update, r, "leased"))
        await meter.time("update (done)", lambda r=row: asyncio.to_thread(update, r, "done"))
    conn.close()
    ops = meter.report(operations)
    return {"per_operation": ops, "cpu_us": sum(op["cpu_us"] for op in ops.values())}


# -- 2. latency at idle ---------------------------------------------------------------------


class Idle:
    def __init__(self, stack: LiveStack, graph: TurnGraphApi, http: aiohttp.ClientSession):
        assert stack.public_url
        self.stack = stack
        self.graph = graph
        self.http = http

    async def pending(self) -> int:
        async with self.http.get(self.stack.rasa_url + HEALTH) as resp:
            report = await resp.json()
        return report["inbox"]["pending"] + report["outbox"]["pending"]

    async def settle(self) -> None:
        """Until the inbox and outbox are empty (done and sent marked). Asked after a
        pause, so that both channels' turns usually cost Rasa one health request."""
        deadline = time.monotonic() + TURN_TIMEOUT
        await asyncio.sleep(0.3)
        while time.monotonic() < deadline:
            if not await self.pending():
                return
            await asyncio.sleep(0.1)

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(p.pid) for name, p in self.stack.processes.items()}

    async def rest(self, customer: str) -> float:
        started = time.perf_counter()
        async with self.http.post(self.stack.rasa_url + "/webhooks/rest/webhook",
                                  json={"sender": customer, "message": "hi"}) as resp:
            assert resp.status == 200, resp.status
            assert await resp.json(), "the REST channel answered with no message"
        return time.perf_counter() - started

    async def whatsapp(self, customer: str, replies: int) -> dict[str, float]:
        body, headers, message_id = signed_text(customer, "hi")
        started = time.perf_counter()
        async with self.http.post(self.stack.public_url + WEBHOOK, data=body,
                                  headers=headers) as resp:
            await resp.read()
            assert resp.status == 200, resp.status
        acknowledged = time.perf_counter()
        assert await self.graph.reached(customer, replies, TURN_TIMEOUT), "no reply"
        last = self.graph.arrivals[customer][replies - 1]
        read = self.graph.read_at.get(message_id, float("nan"))
        return {
            "end_to_end": last - started,
            "ack": acknowledged - started,
            "ack_to_read_receipt": read - acknowledged,
            "read_receipt_to_last_reply": last - read,
        }

    async def payment(self, store: OrderStore, customer: str) -> float:
        order = await store.create_order(customer, "Bench", "1 Bench Road", "560001", LINES)
        await store.update(order.number, payment_reference=str(order.number),
                           payment_link_id=f"plink_B{order.number}")
        body, headers = signed(paid_event(order.number, customer, order.total),
                               f"evt_idle_{order.number}")
        count = self.graph.sent_to[customer] + 1
        started = time.perf_counter()
        async with self.http.post(self.stack.public_url + "/webhooks/razorpay/webhook",
                                  data=body, headers=headers) as resp:
            assert resp.status == 200, resp.status
        assert await self.graph.reached(customer, count, TURN_TIMEOUT), "no confirmation"
        sent = self.graph.sent
        mine = [m for m in sent if m.get("to") == customer]
        assert "Payment successful" in json.dumps(mine[-1], ensure_ascii=False), mine[-1]
        return self.graph.arrivals[customer][count - 1] - started


async def idle_latency(stack: LiveStack, graph: TurnGraphApi, samples: int,
                       payments: int) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http:
        idle = Idle(stack, graph, http)
        # Warm-up, and how many messages a "hi" gets on WhatsApp.
        for i in range(3):
            await idle.rest(f"9160{i:08d}")
            body, headers, _ = signed_text(f"9161{i:08d}", "hi")
            async with http.post(stack.public_url + WEBHOOK, data=body, headers=headers) as r:
                assert r.status == 200
            await idle.settle()
        replies = graph.sent_to["916100000002"]
        assert replies, "no WhatsApp reply to the warm-up"
        rest: list[float] = []
        whatsapp: list[dict[str, float]] = []
        cpu: dict[str, dict[str, float]] = {"rest": {}, "whatsapp": {}}

        async def one(channel: str, number: int) -> None:
            before = idle.cpu()
            if channel == "rest":
                rest.append(await idle.rest(f"9162{number:08d}"))
            else:
                whatsapp.append(await idle.whatsapp(f"9163{number:08d}", replies))
            await idle.settle()
            for name, seconds in idle.cpu().items():
                cpu[channel][name] = cpu[channel].get(name, 0.0) + seconds - before[name]

        for i in range(samples):
            for channel in (("rest", "whatsapp") if i % 2 == 0 else ("whatsapp", "rest")):
                await one(channel, i)
        confirmations = []
        if payments:
            store = OrderStore(stack.database_url)
            try:
                for i in range(payments):
                    confirmations.append(await idle.payment(store, f"9163{i:08d}"))
                    await idle.settle()
            finally:
                store.dispose()

    def stats(values: list[float]) -> dict[str, float]:
        return {"p50_ms": 1000 * statistics.median(values),
                "p95_ms": 1000 * percentile(values, 0.95),
                "mean_ms": 1000 * statistics.fmean(values)}

    parts = {key: stats([w[key] for w in whatsapp]) for key in whatsapp[0]}
    rest_stats = stats(rest)
    return {
        "samples": samples,
        "replies_per_hi": replies,
        "rest": rest_stats,
        "whatsapp": parts,
        "added_p50_ms": parts["end_to_end"]["p50_ms"] - rest_stats["p50_ms"],
        "added_mean_ms": parts["end_to_end"]["mean_ms"] - rest_stats["mean_ms"],
        "ratio_p50": parts["end_to_end"]["p50_ms"] / rest_stats["p50_ms"],
        "cpu_ms_per_turn": {channel: {name: 1000 * s / samples for name, s in per.items()}
                            for channel, per in cpu.items()},
        "confirmation": stats(confirmations) if confirmations else None,
        "confirmations": len(confirmations),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="durability_bench_") as tmp:
        workdir = Path(tmp)
        results["bare_sqlite"] = asyncio.run(bare_sqlite(workdir, args.operations))
        results["durable"] = [
            asyncio.run(durable_operations(workdir, args.operations, history))
            for history in args.history
        ]
        # a message's three transactions (add, claim, finish) against the same three, bare
        first = results["durable"][0]
        results["cpu_ratio_to_bare"] = (
            (first["inbox_cpu_us"] + first["turn_finished_cpu_us"])
            / results["bare_sqlite"]["cpu_us"])
        if not args.cpu_only:
            model = Path(args.model)
            if not model.exists():
                sys.exit(f"no model at {model}: run `make train` (or pass --cpu-only)")
            graph = TurnGraphApi()
            with live_stack(workdir, model=model, credentials=bench_credentials(workdir),
                            graph=graph, front_door=True) as stack:
                try:
                    results["idle"] = stack.fakes.run(
                        idle_latency(stack, graph, args.samples, args.payments), timeout=1800)
                except BaseException:
                    for log in stack.logs:
                        print(f"--- {log.name} (tail)\n{log.read_text()[-3000:]}",
                              file=sys.stderr)
                    raise
    return {
        "machine": f"{os.cpu_count()} CPU {platform.machine()}, "
        f"Python {platform.python_version()}",
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        **results,
    }


def report(results: dict[str, Any]) -> str:
    runs, bare = results["durable"], results["bare_sqlite"]
    first = runs[0]
    histories = " | ".join(f"{run['history_rows']} rows: CPU us | wall p50 us" for run in runs)
    lines = [
        f"{results['machine']}; load average {results['load_average_before'][0]:.2f} before, "
        f"{results['load_average_after'][0]:.2f} after",
        "",
        f"CPU per operation, SQLite, {first['operations']} messages one at a time; tables "
        "holding that many done inbox items and sent outbox messages already:",
        "",
        f"| operation | {histories} |",
        "| --- |" + " ---: | ---: |" * len(runs),
    ]
    for name in first["per_operation"]:
        cells = " | ".join(f"{run['per_operation'][name]['cpu_us']:.0f} | "
                           f"{run['per_operation'][name]['wall_p50_us']:.0f}" for run in runs)
        lines.append(f"| {name} | {cells} |")
    for name, op in bare["per_operation"].items():
        lines.append(f"| bare sqlite3: {name} | {op['cpu_us']:.0f} | {op['wall_p50_us']:.0f} |"
                     + " | |" * (len(runs) - 1))
    for run in runs:
        lines.append(
            f"\n{run['history_rows']} rows: per message, inbox (add, claim) "
            f"{run['inbox_cpu_us']:.0f} us, the turn finished (inbox done, outbox add and "
            f"claim, one transaction) {run['turn_finished_cpu_us']:.0f} us, outbox sent "
            f"{run['outbox_cpu_us']:.0f} us, all with the empty claim "
            f"{run['with_empty_claims_cpu_us']:.0f} us; on the reply's path (inbox add, "
            f"claim, the turn finished) wall p50 {run['on_reply_path_wall_p50_us'] / 1000:.2f}"
            " ms"
        )
    lines.append(
        f"\nbare sqlite3 insert + 2 updates {bare['cpu_us']:.0f} us per message; the inbox's "
        f"add + claim + the turn finished cost {results['cpu_ratio_to_bare']:.1f}x that "
        f"({first['history_rows']} rows)"
    )
    idle = results.get("idle")
    if idle:
        wa, rest = idle["whatsapp"], idle["rest"]
        cpu = idle["cpu_ms_per_turn"]

        def cpu_row(channel: str) -> str:
            per = cpu[channel]
            return (f"| {channel} | {per.get('rasa', 0):.1f} | {per.get('actions', 0):.1f} | "
                    f"{per.get('front_door', 0):.1f} | {sum(per.values()):.1f} |")

        turn_cpu = cpu["rest"].get("rasa", 0) + cpu["rest"].get("actions", 0)
        share = (first["with_empty_claims_cpu_us"] / 1000) / turn_cpu if turn_cpu else 0
        lines += [
            "",
            f"latency at idle, {idle['samples']} samples per channel, 'hi' from a new "
            f"customer ({idle['replies_per_hi']} reply on WhatsApp):",
            "",
            "| path | p50 ms | p95 ms | mean ms |",
            "| --- | ---: | ---: | ---: |",
            f"| REST turn (baseline) | {rest['p50_ms']:.1f} | {rest['p95_ms']:.1f} | "
            f"{rest['mean_ms']:.1f} |",
        ]
        for key, label in (("end_to_end", "WhatsApp via front door, post to last reply"),
                           ("ack", "  post to acknowledgement"),
                           ("ack_to_read_receipt", "  acknowledgement to read receipt"),
                           ("read_receipt_to_last_reply", "  read receipt to last reply")):
            lines.append(f"| {label} | {wa[key]['p50_ms']:.1f} | {wa[key]['p95_ms']:.1f} | "
                         f"{wa[key]['mean_ms']:.1f} |")
        if idle["confirmation"]:
            c = idle["confirmation"]
            lines.append(f"| payment_link.paid to 'Payment successful' ({idle['confirmations']})"
                         f" | {c['p50_ms']:.1f} | {c['p95_ms']:.1f} | {c['mean_ms']:.1f} |")
        lines += [
            "",
            "| CPU ms per turn at idle | rasa | actions | front door | all |",
            "| --- | ---: | ---: | ---: | ---: |",
            cpu_row("rest"),
            cpu_row("whatsapp"),
            "",
            f"added at idle: p50 {idle['added_p50_ms']:.1f} ms, mean {idle['added_mean_ms']:.1f}"
            f" ms (WhatsApp / REST p50 {idle['ratio_p50']:.2f}; target < 5 ms: "
            f"{'met' if idle['added_p50_ms'] < 5 else 'NOT met'}); the inbox and outbox "
            f"operations' CPU is {100 * share:.0f} % of a REST turn's (Rasa + actions)",
        ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Cost of the durable inbox and outbox")
    parser.add_argument("--operations", type=int, default=500,
                        help="messages through the inbox and outbox in process")
    parser.add_argument("--history", default="0,20000",
                        type=lambda text: [int(part) for part in text.split(",")],
                        help="done inbox items and sent outbox messages in the tables before "
                        "the measurement, one measurement per comma-separated count")
    parser.add_argument("--samples", type=int, default=20,
                        help="turns per channel at idle")
    parser.add_argument("--payments", type=int, default=5,
                        help="paid orders, one at a time, until the confirmation")
    parser.add_argument("--cpu-only", action="store_true",
                        help="only the in-process CPU figures (no model, no servers)")
    parser.add_argument("--model", default=str(MODEL), help="trained model (.tar.gz)")
    args = parser.parse_args()
    if args.payments > args.samples:
        parser.error("--payments: at most --samples (the customers who said hi on WhatsApp)")
    logging.basicConfig(level=logging.WARNING)
    results = main(args)
    print(report(results))
    print(json.dumps(results, indent=2))
