"""Razorpay webhook benchmark: the front door's route against a bare route, each in its
own process, with the client in a third, in one run.

    .venv/bin/python bench/webhook_bench.py [--orders 1000] [--concurrency 50]
        [--paced-orders 500] [--paced-share 0.5]

Processes (all on loopback, SQLite files under a temporary directory):

- **baseline**: a bare Sanic route (this script, `--serve-baseline`) that checks the
  same HMAC-SHA256 signature and inserts one row, on one kept-open SQLite connection in
  WAL mode with synchronous=NORMAL (the order store's settings), from a worker thread.
- **route**: the front door (`python -m server.front_door` with the project's
  credentials.yml): POST /webhooks/razorpay/webhook verifies the signature, parses the
  event and writes it to the inbox (one insert; a redelivery's insert finds its id
  there and answers "duplicate"), answers, and wakes the Rasa servers
  (INBOX_WAKE_URLS).
- **applier**: what a Rasa server does with those events, without a model
  (`--serve-applier`: the same channels, not as a front door; at the niceness
  scripts/run.sh gives a Rasa server, `RASA_NICENESS`): its inbox consumer
  applies each event (the order's transaction and the customer's notice in the
  inbox). Each route run ends when every event of it is applied, and that time, and
  the applier's CPU per event, are reported too.
- **client**: this script with `--loadgen` (raw keep-alive HTTP/1.1 on uvloop): closed loop at
  `--concurrency` (each connection sends its next delivery when the previous one was
  answered), or open loop on a fixed schedule.

Each paid order's `payment_link.paid` is delivered twice, one right after the other
(half of the deliveries are redeliveries), as before. Measured, in this order:

1. closed loop, `--concurrency` at once: baseline, route (A B);
2. open loop at `--paced-share` of the route's closed-loop rate, the same rate for
   both: route, baseline (B A). By Little's law a closed loop of 50 has p50 = 50 /
   throughput, so the closed-loop p99 mostly says how fast the server is; the open loop
   says how long one delivery waits at a given rate.

The servers' CPU time per delivery is read from /proc: other load on the machine
disturbs it less than deliveries per second. Targets: route throughput at least 0.5 of
the baseline's; p99 under 50 ms at 50 concurrent.
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
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.harness.razorpay_api import WEBHOOK_SECRET, sign  # noqa: E402

if TYPE_CHECKING:
    from orders.store import OrderStore

# The project's heavier modules (Rasa's among them) are imported where they are used:
# the load generator process (`--loadgen`) starts without them, in a fraction of a second.

ROUTE = "/webhooks/razorpay/webhook"
WARMUP = 20  # deliveries before each measurement, not measured


def percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# -- the load generator (its own process) ------------------------------------------------


class _Connection:
    """One keep-alive HTTP/1.1 connection; requests are pre-built bytes. Much cheaper per
    request than a full client, so the client takes less of the machine's two cores."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, host: str, port: int) -> _Connection:
        return cls(*await asyncio.open_connection(host, port))

    async def send(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        length = 0
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length:
            await self.reader.readexactly(length)
        return int(head[9:12])

    def close(self) -> None:
        self.writer.close()


def raw_request(url: str, body: bytes, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    lines = [f"POST {parts.path} HTTP/1.1", f"Host: {parts.netloc}",
             f"Content-Length: {len(body)}", "Connection: keep-alive"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


async def _loadgen(spec: dict[str, Any]) -> dict[str, Any]:
    """Send `spec["requests"]` ([body, headers]) to `spec["url"]`: `concurrency` at a
    time (closed loop), or each at its `schedule` offset in seconds (open loop)."""
    url = spec["url"]
    host, port = urlsplit(url).hostname, urlsplit(url).port
    requests = [raw_request(url, body.encode(), headers) for body, headers in spec["requests"]]
    schedule = spec.get("schedule")
    latencies: list[float] = [0.0] * len(requests)
    statuses: list[int] = [0] * len(requests)
    late: list[float] = []  # how far behind its schedule the client sent (open loop)
    idle: list[_Connection] = []

    async def send(index: int, connection: _Connection | None) -> _Connection | None:
        started = time.perf_counter()
        for fresh in (connection is None, True):
            try:
                if connection is None:
                    connection = await _Connection.open(host, port)
                statuses[index] = await asyncio.wait_for(connection.send(requests[index]), 60)
                break
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError):
                statuses[index] = -1
                if connection is not None:
                    connection.close()
                connection = None
                if fresh:
                    break
                # A kept-alive connection the server closed while it sat idle (Sanic's
                # keep-alive timeout): sent again on a new one, as an HTTP client would.
        latencies[index] = time.perf_counter() - started
        return connection

    if schedule is None:
        connections = [await _Connection.open(host, port) for _ in range(spec["concurrency"])]
    else:
        # Enough open connections for the schedule's bursts; more are opened if needed.
        idle = [await _Connection.open(host, port) for _ in range(8)]
        connections = []
    began = time.perf_counter()
    if schedule is None:
        queue = list(range(len(requests) - 1, -1, -1))

        async def worker(connection: _Connection | None) -> None:
            while queue:
                connection = await send(queue.pop(), connection)

        await asyncio.gather(*(worker(c) for c in connections))
    else:

        async def at(index: int) -> None:
            wait = began + schedule[index] - time.perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            late.append(time.perf_counter() - began - schedule[index])
            connection = await send(index, idle.pop() if idle else None)
            if connection is not None:
                idle.append(connection)

        await asyncio.gather(*(at(i) for i in range(len(requests))))
    elapsed = time.perf_counter() - began
    for connection in connections + idle:
        connection.close()
    return {"latencies": latencies, "statuses": statuses, "seconds": elapsed,
            "began_epoch": time.time() - (time.perf_counter() - began),
            "client_late_p99_ms": percentile(late, 0.99) * 1000 if late else None}


def loadgen_main(spec_path: str) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    spec = json.loads(Path(spec_path).read_text())
    print(json.dumps(asyncio.run(_loadgen(spec))), flush=True)


async def run_loadgen(workdir: Path, url: str, requests: list[tuple[bytes, dict]],
                      concurrency: int | None = None,
                      schedule: list[float] | None = None) -> dict[str, Any]:
    """Run the load generator in its own process; its raw results."""
    spec = workdir / f"load_{time.monotonic_ns()}.json"
    spec.write_text(json.dumps({
        "url": url, "concurrency": concurrency, "schedule": schedule,
        "requests": [[body.decode(), headers] for body, headers in requests],
    }))
    # A thread, not asyncio's subprocesses: those depend on the loop policy, which the
    # project's imports may switch (uvloop) under a running loop.
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, __file__, "--loadgen", str(spec)],
        stdout=subprocess.PIPE, timeout=3600,
    )
    if done.returncode != 0:
        raise RuntimeError(f"load generator exited with {done.returncode}")
    return json.loads(done.stdout)


def summarize(raw: dict[str, Any]) -> dict[str, Any]:
    latencies = raw["latencies"]
    statuses: dict[str, int] = {}
    for status in raw["statuses"]:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "requests": len(latencies),
        "statuses": statuses,
        "seconds": raw["seconds"],
        "per_second": len(latencies) / raw["seconds"],
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
        "client_late_p99_ms": raw.get("client_late_p99_ms"),
    }


# -- the baseline and the applier (their own processes) -----------------------------------


def serve_baseline(database: str, port: int) -> None:
    """A bare Sanic route: the same HMAC check, one INSERT, the answer."""
    from sanic import Sanic, response

    conn = sqlite3.connect(database, check_same_thread=False, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE IF NOT EXISTS events (event_id TEXT PRIMARY KEY, body TEXT)")
    conn.commit()
    lock = threading.Lock()

    def insert(event_id: str, body: bytes) -> None:
        with lock, conn:
            conn.execute("INSERT OR IGNORE INTO events VALUES (?, ?)", (event_id, body.decode()))

    app = Sanic("webhook_baseline", configure_logging=False)

    @app.get("/")
    async def health(request: Any) -> Any:
        return response.json({"status": "ok"})

    @app.post("/webhook")
    async def webhook(request: Any) -> Any:
        expected = hmac.new(WEBHOOK_SECRET.encode(), request.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, request.headers.get("X-Razorpay-Signature", "")):
            return response.json({"error": "signature"}, status=403)
        await asyncio.to_thread(insert, request.headers["X-Razorpay-Event-Id"], request.body)
        return response.json({"status": "ok"})

    app.run(host="127.0.0.1", port=port, workers=1, access_log=False)


def serve_applier(port: int, credentials: str) -> None:
    """A Rasa server's share of the payment events, without a model: the channels of
    credentials.yml in a server that is not a front door, so its inbox consumer takes
    the events (they need no model) and it answers the front door's wake-up calls."""
    from server.front_door import build_app, load_channels

    app = build_app(load_channels(credentials))
    app.ctx.role = "bench_applier"
    app.run(host="127.0.0.1", port=port, workers=1, access_log=False)


# -- deliveries --------------------------------------------------------------------------


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


def twice(orders: list[tuple[int, str, int]], prefix: str) -> list[tuple[bytes, dict]]:
    """Each order's paid event, delivered twice in a row (the second a redelivery)."""
    deliveries = []
    for number, customer, total in orders:
        delivery = signed(paid_event(number, customer, total), f"evt_{prefix}_{number}")
        deliveries += [delivery, delivery]
    return deliveries


async def create_orders(store: OrderStore, count: int, first_customer: int) -> list:
    from sandbox.harness.razorpay_stack import LINES

    created = []
    for i in range(count):
        customer = f"9190{first_customer + i:08d}"
        order = await store.create_order(customer, "Bench", "1 Bench Road", "560001", LINES)
        await store.update(order.number, payment_reference=str(order.number),
                           payment_link_id=f"plink_B{order.number}")
        created.append((order.number, customer, order.total))
    return created


async def warm_up(url: str, deliveries: list[tuple[bytes, dict]]) -> None:
    async with aiohttp.ClientSession() as http:
        for body, headers in deliveries:
            async with http.post(url, data=body, headers=headers) as resp:
                await resp.read()
                assert resp.status == 200, f"{url} answered {resp.status} in the warm-up"


async def measure(workdir: Path, name: str, url: str, pid: int,
                  warmup: list[tuple[bytes, dict]], deliveries: list[tuple[bytes, dict]],
                  concurrency: int | None = None, rate: float | None = None,
                  applied: Callable[[], int] | None = None,
                  applier_pid: int | None = None) -> dict[str, Any]:
    """One load run. `applied` counts the events applied so far: the route answers once
    an event is in the inbox and applies it just after, so its run ends when every
    event of it is applied too (`applied_seconds`, CPU included)."""
    await warm_up(url, warmup)
    schedule = [i / rate for i in range(len(deliveries))] if rate else None
    applied_before = applied() if applied else 0
    cpu = cpu_seconds(pid)
    applier_cpu = cpu_seconds(applier_pid) if applier_pid else 0.0
    started = time.monotonic()
    raw = await run_loadgen(workdir, url, deliveries, concurrency, schedule)
    drained = None
    if applied is not None:
        events = len({headers["X-Razorpay-Event-Id"] for _, headers in deliveries})
        # Another process applies them: its database is all there is to watch.
        while applied() - applied_before < events:  # noqa: ASYNC110
            await asyncio.sleep(0.005)
        drained = time.monotonic() - started
    cpu = cpu_seconds(pid) - cpu
    result = summarize(raw)
    # deliveries come in pairs: the first applies the event, the second is a redelivery
    result["first_p99_ms"] = percentile(raw["latencies"][0::2], 0.99) * 1000
    result["redelivery_p99_ms"] = percentile(raw["latencies"][1::2], 0.99) * 1000
    result["server"] = name
    result["cpu_ms_per_delivery"] = 1000 * cpu / len(deliveries)
    result["server_cores_used"] = cpu / (drained or raw["seconds"])
    if drained is not None:
        # From the first delivery until the last event was applied (the loadgen's
        # start-up counts in, so this errs on the slow side).
        result["applied_seconds"] = drained
        result["applied_per_second"] = len(deliveries) / 2 / drained
    if applier_pid:
        spent = cpu_seconds(applier_pid) - applier_cpu
        result["applier_cpu_ms_per_event"] = 1000 * spent / (len(deliveries) / 2)
    if rate:
        result["rate_asked"] = rate
    return result


def count_rows(database: Path, query: str) -> int:
    with sqlite3.connect(database) as conn:
        return conn.execute(query).fetchone()[0]


async def run(workdir: Path, orders: int, paced_orders: int, concurrency: int,
              paced_share: float) -> dict[str, Any]:
    from orders.store import OrderStore
    from sandbox.harness import whatsapp_meta
    from sandbox.harness.live_stack import REPO, Server, free_port, rasa_niceness, running

    orders_db = workdir / "orders.db"
    store = OrderStore(f"sqlite:///{orders_db}")
    try:
        closed_orders = await create_orders(store, orders, 0)
        paced = await create_orders(store, paced_orders, orders)
        warm = await create_orders(store, 2 * WARMUP, orders + paced_orders)
    finally:
        store.dispose()

    base_port, route_port, applier_port = free_port(), free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}
    env.update({
        "RASA_TELEMETRY_ENABLED": "false",
        "DATABASE_URL": f"sqlite:///{orders_db}",
        "RAZORPAY_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "WHATSAPP_APP_SECRET": whatsapp_meta.APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": whatsapp_meta.VERIFY_TOKEN,
        "INBOX_WAKE_URLS": f"http://127.0.0.1:{applier_port}",
        "RECONCILE_INTERVAL_SECONDS": "3600",
        "INBOX_CONSUMER_NAME": "bench-front-door",
    })
    me = [sys.executable, __file__]
    servers = [
        # Nice as scripts/run.sh runs a Rasa server (RASA_NICENESS).
        Server("applier",
               ["nice", "-n", str(rasa_niceness(env)), *me, "--serve-applier",
                str(applier_port), str(REPO / "credentials.yml")],
               f"http://127.0.0.1:{applier_port}/webhooks/razorpay/",
               {"INBOX_CONSUMER_NAME": "bench-applier"}),
        Server("baseline", [*me, "--serve-baseline", str(workdir / "baseline.db"),
                            str(base_port)], f"http://127.0.0.1:{base_port}/"),
        Server("front_door",
               [sys.executable, "-m", "server.front_door", "--host", "127.0.0.1",
                "--port", str(route_port), "--credentials", str(REPO / "credentials.yml")],
               f"http://127.0.0.1:{route_port}/webhooks/razorpay/"),
    ]
    processes: dict[str, subprocess.Popen] = {}
    base_url = f"http://127.0.0.1:{base_port}/webhook"

    def applied() -> int:
        return count_rows(orders_db, "SELECT count(*) FROM webhook_events")

    route_url = f"http://127.0.0.1:{route_port}{ROUTE}"
    with running(servers, env, workdir, processes) as logs:
        try:
            pids = {name: process.pid for name, process in processes.items()}
            base_warm = [signed(paid_event(n, c, t), f"evt_bw_{n}") for n, c, t in warm]
            route_warm = [signed(paid_event(n, c, t), f"evt_rw_{n}")
                          for n, c, t in warm[:WARMUP]]
            closed = {
                "baseline": await measure(workdir, "baseline", base_url, pids["baseline"],
                                          base_warm[:WARMUP], twice(closed_orders, "bc"),
                                          concurrency=concurrency),
                "route": await measure(workdir, "route", route_url, pids["front_door"],
                                       route_warm, twice(closed_orders, "rc"),
                                       concurrency=concurrency, applied=applied,
                                       applier_pid=pids["applier"]),
            }
            rate = paced_share * closed["route"]["per_second"]
            route_warm = [signed(paid_event(n, c, t), f"evt_rw_{n}")
                          for n, c, t in warm[WARMUP:]]
            open_loop = {
                "route": await measure(workdir, "route", route_url, pids["front_door"],
                                       route_warm, twice(paced, "rp"), rate=rate,
                                       applied=applied, applier_pid=pids["applier"]),
                "baseline": await measure(workdir, "baseline", base_url, pids["baseline"],
                                          base_warm[WARMUP:], twice(paced, "bp"), rate=rate),
            }
        except BaseException:
            for log in logs:
                print(f"--- {log.name} (tail)\n{log.read_text()[-3000:]}", file=sys.stderr)
            raise
    paid_orders = orders + paced_orders + WARMUP * 2
    checks = {
        "orders_paid": count_rows(orders_db, "SELECT count(*) FROM orders WHERE status='paid'"),
        "orders": paid_orders,
        "events_recorded": count_rows(orders_db, "SELECT count(*) FROM webhook_events"),
        "notices_in_inbox": count_rows(
            orders_db, "SELECT count(*) FROM inbox WHERE kind='payment'"),
        "baseline_rows": count_rows(workdir / "baseline.db", "SELECT count(*) FROM events"),
    }
    return {"closed": closed, "open": open_loop, "paced_rate": rate, "checks": checks}


def main(args: argparse.Namespace) -> dict[str, Any]:
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="webhook_bench_") as tmp:
        results = asyncio.run(run(Path(tmp), args.orders, args.paced_orders,
                                  args.concurrency, args.paced_share))
    closed = results["closed"]
    return {
        "machine": f"{os.cpu_count()} CPU {platform.machine()}, "
        f"Python {platform.python_version()}",
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "concurrency": args.concurrency,
        "ratio": closed["route"]["per_second"] / closed["baseline"]["per_second"],
        "cpu_ratio": closed["baseline"]["cpu_ms_per_delivery"]
        / closed["route"]["cpu_ms_per_delivery"],
        **results,
    }


def report(results: dict[str, Any]) -> str:
    closed, open_loop, checks = results["closed"], results["open"], results["checks"]
    route = closed["route"]

    def row(label: str, r: dict[str, Any]) -> str:
        return (f"| {label} | {r['requests']} | {r['per_second']:.0f} | {r['p50_ms']:.1f} | "
                f"{r['p99_ms']:.1f} | {r['first_p99_ms']:.1f} / {r['redelivery_p99_ms']:.1f} | "
                f"{r['max_ms']:.1f} | {r['cpu_ms_per_delivery']:.2f} | "
                f"{r['server_cores_used']:.2f} | {r['statuses']} |")

    p99_ok = route["p99_ms"] < 50
    lines = [
        f"{results['machine']}; load average {results['load_average_before'][0]:.2f} before, "
        f"{results['load_average_after'][0]:.2f} after; SQLite; client, baseline and front "
        "door in three processes",
        "",
        "| load | deliveries | per s | p50 ms | p99 ms | p99 ms first / redelivery | max ms "
        "| server CPU ms/delivery | server cores | statuses |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
        row(f"closed, {results['concurrency']} at once: baseline", closed["baseline"]),
        row(f"closed, {results['concurrency']} at once: front door route", route),
        row(f"open, {results['paced_rate']:.0f}/s: front door route", open_loop["route"]),
        row(f"open, {results['paced_rate']:.0f}/s: baseline", open_loop["baseline"]),
        "",
        f"throughput ratio route / baseline {results['ratio']:.2f} (target >= 0.5: "
        f"{'met' if results['ratio'] >= 0.5 else 'NOT met'}); CPU per delivery baseline / "
        f"route {results['cpu_ratio']:.2f}",
        f"route p99 at {results['concurrency']} concurrent {route['p99_ms']:.1f} ms, baseline "
        f"{closed['baseline']['p99_ms']:.1f} ms (target < 50 ms: "
        f"{'met' if p99_ok else 'NOT met'}); open loop p99 route "
        f"{open_loop['route']['p99_ms']:.1f} ms, baseline {open_loop['baseline']['p99_ms']:.1f} ms",
        f"route, closed loop: every event applied {route['applied_seconds']:.2f} s after the "
        f"first delivery ({route['applied_per_second']:.0f} events/s; the answers took "
        f"{route['seconds']:.2f} s; the applier's CPU {route['applier_cpu_ms_per_event']:.2f} "
        f"ms per event); open loop: {open_loop['route']['applied_seconds']:.2f} s "
        f"(answers {open_loop['route']['seconds']:.2f} s)",
        f"checks: {checks['orders_paid']}/{checks['orders']} orders paid, "
        f"{checks['events_recorded']} events recorded, {checks['notices_in_inbox']} notices "
        f"in the inbox, {checks['baseline_rows']} baseline rows",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Razorpay webhook benchmark")
    parser.add_argument("--orders", type=int, default=1000,
                        help="orders paid in the closed-loop run (2 deliveries each)")
    parser.add_argument("--paced-orders", type=int, default=500,
                        help="orders paid in the open-loop run (2 deliveries each)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--paced-share", type=float, default=0.5,
                        help="open-loop rate as a share of the route's closed-loop rate")
    parser.add_argument("--loadgen", metavar="SPEC", help=argparse.SUPPRESS)
    parser.add_argument("--serve-baseline", nargs=2, metavar=("DB", "PORT"),
                        help=argparse.SUPPRESS)
    parser.add_argument("--serve-applier", nargs=2, metavar=("PORT", "CREDENTIALS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.loadgen:
        loadgen_main(args.loadgen)
        sys.exit(0)
    if args.serve_baseline:
        serve_baseline(args.serve_baseline[0], int(args.serve_baseline[1]))
        sys.exit(0)
    if args.serve_applier:
        serve_applier(int(args.serve_applier[0]), args.serve_applier[1])
        sys.exit(0)
    logging.basicConfig(level=logging.WARNING)
    results = main(args)
    print(report(results))
    print(json.dumps(results, indent=2))
