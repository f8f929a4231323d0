"""WhatsApp benchmark: the front door's acknowledgement while the bot is saturated, and
turn throughput (front door -> inbox -> Rasa -> outbox -> Graph API) against Rasa's
REST channel on the same Rasa process, in one run.

    .venv/bin/python bench/whatsapp_bench.py [--messages 200] [--customers 50]
        [--rounds 2] [--rate R] [--model models/checkout.tar.gz] [--graph-latency 0]
        [--postgres [SERVER_URL]] [--rasa-niceness N]

The action server, the Rasa server and the front door (`server.front_door`) run as
real processes (sandbox.harness.live_stack, `front_door=True`), with a bench-only
credentials file (`rest:` plus the project's channels) so that both channels are
served by the same Rasa process and model, with in-memory trackers; the inbox and
outbox are in the stack's SQLite order database. Only Meta's Graph API is a local fake,
in this process. Every WhatsApp message is posted to the front door, which writes it
to the inbox, answers and wakes Rasa; Rasa consumes the inbox in order per customer
and its replies reach the fake through the outbox. A WhatsApp turn is done when its
last reply has reached the fake.

1. Calibration and warm-up: one customer per channel says the script once; the number
   of messages the bot sends per step at the Graph API is noted, so that a WhatsApp
   turn counts as done when its last reply has arrived.
2. Idle: `--idle-posts` posts, 0.5 s apart, to the front door with the bot idle,
   from the load generator process (`bench/webhook_bench.py --loadgen`): the
   acknowledgement's baseline. Then a warm-up turns run per channel (half of
   `--messages`, not measured).
3. Turns: `--customers` customers at once, each saying its share of `--messages` (the
   script, in order) and waiting for the bot's answer before the next message: through
   the REST channel (the answer is the HTTP response) and through the front door (the
   answer is the last reply at the Graph API; the run ends when the inbox and the
   outbox have nothing pending). Rounds alternate the order (REST, WhatsApp, WhatsApp,
   REST, ...) to cancel drift; the CPU time each process spends per turn is read from
   /proc, which other load on the machine disturbs much less than turns per second.
4. Paced: `--messages` messages from `--customers` customers, on a fixed schedule (open
   loop, as Meta delivers) at `--rate`, by default 1.5 times the REST turn rate just
   measured, so the bot falls behind and stays saturated; posted by the load generator
   process to the front door. The acknowledgements are compared with the idle ones.

The Rasa server runs at the niceness scripts/run.sh gives it (`RASA_NICENESS`, 10);
`--rasa-niceness` sets another, to compare (bench/README.md, "A lower priority for Rasa").

`--postgres` puts the order store, and with it the inbox and the outbox, in a fresh
database on a PostgreSQL server instead of the stack's SQLite file: a comparison, to
see what SQLite's one writer at a time (shared by the front door and Rasa) costs.

Targets: while the bot is saturated (4), acknowledgement p99 under 50 ms and median
under 10 ms at the front door; WhatsApp/REST turn throughput no worse than 0.95 of the
ratio recorded for the previous design (bench/README.md: 1.02).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import sys
import tempfile
import time
from collections import Counter, defaultdict
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.webhook_bench import cpu_seconds, percentile, run_loadgen  # noqa: E402
from sandbox.harness import whatsapp_meta  # noqa: E402
from sandbox.harness.graph_api import FakeGraphApi  # noqa: E402
from sandbox.harness.live_stack import MODEL, REPO, LiveStack, live_stack  # noqa: E402

# What customers say: greeting, NLU with entities and the cart action, Hinglish, help.
SCRIPT = ["hi", "2 masala chai and a mug", "cart dikhao", "help"]
WEBHOOK = "/webhooks/whatsapp/webhook"
HEALTH = "/webhooks/whatsapp/"
IDLE_SPACING = 0.5  # seconds between idle posts: each turn is over before the next post
TURN_TIMEOUT = 120.0  # one turn, waiting behind a saturated bot
DRAIN_TIMEOUT = 600.0  # the paced run's backlog
# WhatsApp turns/s over REST turns/s, previous design (in-memory queue in the Rasa
# process), median of runs A-E in bench/README.md.
PREVIOUS_RATIO = 1.02
POSTGRES_SERVER = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                   or "postgresql://postgres@127.0.0.1:5432/postgres")


class TurnGraphApi(FakeGraphApi):
    """The Graph API stand-in, counting (and timing) the messages sent to each customer
    and timing read receipts."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.sent_to: Counter[str] = Counter()
        self.arrivals: dict[str, list[float]] = defaultdict(list)
        self.read_at: dict[str, float] = {}  # message id -> when its read receipt came
        self._waiters: dict[str, list[tuple[int, asyncio.Future[None]]]] = defaultdict(list)

    async def reached(self, customer: str, count: int, timeout: float) -> bool:
        """Wait until `count` messages have been sent to `customer`."""
        if self.sent_to[customer] >= count:
            return True
        future = asyncio.get_running_loop().create_future()
        self._waiters[customer].append((count, future))
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except asyncio.TimeoutError:
            return False

    async def _handle(self, request: Any) -> Any:
        answer = await super()._handle(request)
        now = time.perf_counter()
        last = self.requests[-1]
        if last.status != 200 or not isinstance(last.body, dict):
            return answer
        if "type" in last.body:
            customer = last.body["to"]
            self.sent_to[customer] += 1
            self.arrivals[customer].append(now)
            waiting = []
            for count, future in self._waiters.pop(customer, []):
                if self.sent_to[customer] >= count:
                    if not future.done():
                        future.set_result(None)
                else:
                    waiting.append((count, future))
            if waiting:
                self._waiters[customer] = waiting
        elif last.body.get("status") == "read":
            self.read_at.setdefault(last.body.get("message_id", ""), now)
        return answer


def customer_id(phase: int, number: int) -> str:
    return f"91{phase}{number:09d}"


def signed_text(customer: str, text: str) -> tuple[bytes, dict[str, str], str]:
    """A signed webhook event with one text message; and the message's id."""
    message = whatsapp_meta.message("text", {"body": text}, sender=customer)
    body = json.dumps(whatsapp_meta.event(message)).encode()
    headers = {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": whatsapp_meta.sign(body),
    }
    return body, headers, message["id"]


def texts_for(number: int, messages: int, customers: int) -> list[str]:
    """Customer `number`'s share of `messages`: the script from the start, repeated."""
    count = messages // customers + (number < messages % customers)
    return [SCRIPT[i % len(SCRIPT)] for i in range(count)]


def summary(latencies: list[float]) -> dict[str, float]:
    if not latencies:
        return {"p50_ms": float("nan"), "p99_ms": float("nan"), "max_ms": float("nan")}
    return {
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies) * 1000,
    }


def loadgen_summary(raw: dict[str, Any], schedule: list[float]) -> dict[str, Any]:
    latencies = raw["latencies"]
    statuses = Counter(str(status) for status in raw["statuses"])
    slowest = sorted(zip(schedule, latencies, strict=True), key=lambda pair: -pair[1])[:5]
    return {
        "requests": len(latencies),
        "statuses": dict(statuses),
        **summary(latencies),
        "client_late_p99_ms": raw.get("client_late_p99_ms"),
        # [seconds into the schedule, ack ms] of the five slowest
        "slowest": [(round(at, 2), round(ack * 1000, 1)) for at, ack in slowest],
    }


def describe(sent: dict[str, Any]) -> str:
    """A short view of one reply, to check the bot understood."""
    kind = sent.get("type")
    content = sent.get(kind) or {}
    text = content.get("body", "") if kind == "text" else ""
    if kind == "interactive":
        text = f"[{content.get('type')}] " + (content.get("body") or {}).get("text", "")
    elif kind == "image":
        text = "[image] " + content.get("caption", "")
    return " ".join(str(text).split())[:70]


class Bench:
    def __init__(self, stack: LiveStack, graph: TurnGraphApi, http: aiohttp.ClientSession,
                 customers: int, workdir: Path) -> None:
        assert stack.public_url, "the stack runs without a front door"
        self.stack = stack
        self.graph = graph
        self.http = http
        self.customers = customers
        self.workdir = workdir
        self.webhook_url = stack.public_url + WEBHOOK
        self.rest_url = stack.rasa_url + "/webhooks/rest/webhook"

    async def health(self) -> dict[str, Any]:
        """The Rasa server's view of the inbox and the outbox."""
        async with self.http.get(self.stack.rasa_url + HEALTH) as resp:
            return await resp.json()

    async def pending(self) -> int:
        report = await self.health()
        return report["inbox"]["pending"] + report["outbox"]["pending"]

    async def idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.pending() == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    async def post(self, customer: str, text: str) -> tuple[int, float, str]:
        body, headers, message_id = signed_text(customer, text)
        started = time.perf_counter()
        async with self.http.post(self.webhook_url, data=body, headers=headers) as resp:
            await resp.read()
        return resp.status, time.perf_counter() - started, message_id

    async def rest(self, customer: str, text: str) -> list[dict[str, Any]]:
        payload = {"sender": customer, "message": text}
        async with self.http.post(self.rest_url, json=payload) as resp:
            resp.raise_for_status()
            return await resp.json()

    def cpu(self) -> dict[str, float]:
        return {name: cpu_seconds(p.pid) for name, p in self.stack.processes.items()}

    # -- 1. calibration ---------------------------------------------------------

    async def calibrate(self, texts: list[str], phase: int, number: int) -> dict[str, Any]:
        """Say `texts` as one new customer on each channel; replies per step."""
        customer = customer_id(phase, number)
        counts, seen = [], []
        for text in texts:
            start = len(self.graph.sent)
            status, _, _ = await self.post(customer, text)
            assert status == 200, f"the front door answered {status} during calibration"
            if not await self.idle(TURN_TIMEOUT):
                raise RuntimeError(f"calibration turn {text!r} did not finish")
            replies = [s for s in self.graph.sent[start:] if s.get("to") == customer]
            counts.append(len(replies))
            seen.append({"text": text, "whatsapp": [describe(r) for r in replies]})
        rest_customer = customer_id(phase, number + 1)
        for step, text in zip(seen, texts, strict=True):
            replies = await self.rest(rest_customer, text)
            step["rest"] = [" ".join(str(r.get("text", "")).split())[:70] for r in replies]
        if not all(counts):
            raise RuntimeError(f"a script step got no WhatsApp reply: {seen}")
        return {"counts": counts, "turns": seen}

    # -- 2. idle acknowledgements ---------------------------------------------------

    async def idle_acks(self, posts: int, counts: list[int]) -> dict[str, Any]:
        requests, schedule, expected = [], [], Counter()
        for i in range(posts):
            customer = customer_id(2, i)
            body, headers, _ = signed_text(customer, SCRIPT[0])
            requests.append((body, headers))
            schedule.append(i * IDLE_SPACING)
            expected[customer] += counts[0]
        raw = await run_loadgen(self.workdir, self.webhook_url, requests, schedule=schedule)
        await asyncio.gather(*(self.graph.reached(c, n, TURN_TIMEOUT)
                               for c, n in expected.items()))
        await self.idle(TURN_TIMEOUT)
        return loadgen_summary(raw, schedule)

    # -- 3. turns ---------------------------------------------------------------

    async def turns(self, channel: str, phase: int, messages: int, counts: list[int],
                    round_: int) -> dict[str, Any]:
        turns: list[float] = []
        acks: list[float] = []
        statuses: Counter[int] = Counter()
        replies: list[int] = []
        failed = 0

        async def customer(number: int) -> None:
            nonlocal failed
            who, target = customer_id(phase, round_ * 10_000 + number), 0
            for step, text in enumerate(texts_for(number, messages, self.customers)):
                started = time.perf_counter()
                if channel == "rest":
                    answer = await self.rest(who, text)
                    replies.append(len(answer))
                else:
                    status, ack, _ = await self.post(who, text)
                    statuses[status] += 1
                    acks.append(ack)
                    target += counts[step]
                    if status != 200 or not await self.graph.reached(who, target, TURN_TIMEOUT):
                        failed += 1
                        return
                    replies.append(counts[step])
                turns.append(time.perf_counter() - started)

        cpu_before = self.cpu()
        began = time.perf_counter()
        await asyncio.gather(*(customer(n) for n in range(self.customers)))
        if channel == "whatsapp":
            # REST answers after the turn's last prediction (action_listen) and the
            # inbox item is marked done after it: count the WhatsApp run as done when
            # the inbox and the outbox have nothing pending.
            await self.idle(TURN_TIMEOUT)
        elapsed = time.perf_counter() - began
        cpu = {name: t - cpu_before[name] for name, t in self.cpu().items()}
        result = {
            "channel": channel,
            "turns": len(turns),
            "failed": failed,
            "seconds": elapsed,
            "turns_per_second": len(turns) / elapsed,
            "replies_per_turn": sum(replies) / max(1, len(replies)),
            # CPU the processes spent per turn: less sensitive than turns/s to other load
            "cpu_ms_per_turn": {name: 1000 * t / max(1, len(turns)) for name, t in cpu.items()},
            **{f"turn_{k}": v for k, v in summary(turns).items()},
        }
        if channel == "whatsapp":
            result["acks"] = {"requests": len(acks), "statuses": dict(statuses),
                              **summary(acks)}
        return result

    # -- 4. paced ---------------------------------------------------------------

    async def paced(self, messages: int, rate: float, counts: list[int]) -> dict[str, Any]:
        """The script from `--customers` customers on a fixed schedule, posted to the
        front door by the load generator process."""
        order = []  # (customer's message number, customer number)
        for number in range(self.customers):
            for step in range(len(texts_for(number, messages, self.customers))):
                order.append((step, number))
        order.sort()
        requests, schedule, expected = [], [], Counter()
        for i, (step, number) in enumerate(order):
            customer = customer_id(6, number)
            body, headers, _ = signed_text(customer, SCRIPT[step % len(SCRIPT)])
            requests.append((body, headers))
            schedule.append(i / rate)
            expected[customer] += counts[step]
        cpu_before = self.cpu()
        answered = asyncio.gather(
            *(self.graph.reached(c, n, DRAIN_TIMEOUT) for c, n in expected.items())
        )
        raw = await run_loadgen(self.workdir, self.webhook_url, requests, schedule=schedule)
        posted = raw["seconds"]
        backlog = (await self.health())["inbox"]
        arrived = await answered
        await self.idle(DRAIN_TIMEOUT)
        # from the load generator's first post (its process start is not counted)
        elapsed = time.time() - raw["began_epoch"]
        cpu = {name: t - cpu_before[name] for name, t in self.cpu().items()}
        return {
            "rate_asked": rate,
            "rate_sent": len(order) / posted,
            "posting_seconds": posted,
            "inbox_after_posting": backlog,
            "customers_answered": sum(arrived),
            "turns_per_second": len(order) / elapsed,
            "cpu_ms_per_message": {name: 1000 * t / len(order) for name, t in cpu.items()},
            "acks": loadgen_summary(raw, schedule),
        }


async def run(stack: LiveStack, graph: TurnGraphApi, workdir: Path, messages: int,
              customers: int, rounds: int, rate: float, idle_posts: int) -> dict[str, Any]:
    longest = max(len(texts_for(0, messages, customers)), 1)
    connector = aiohttp.TCPConnector(limit=0)  # no client-side queueing
    async with aiohttp.ClientSession(connector=connector) as http:
        bench = Bench(stack, graph, http, customers, workdir)
        script = await bench.calibrate([SCRIPT[i % len(SCRIPT)] for i in range(longest)], 1, 0)
        idle = await bench.idle_acks(idle_posts, script["counts"])
        for channel, phase in (("rest", 8), ("whatsapp", 9)):  # warm-up, not measured
            await bench.turns(channel, phase, messages // 2, script["counts"], 0)
        rows = []
        for r in range(rounds):
            order = ["rest", "whatsapp"] if r % 2 == 0 else ["whatsapp", "rest"]
            for channel in order:
                phase = 4 if channel == "rest" else 5
                row = await bench.turns(channel, phase, messages, script["counts"], r)
                row["round"] = r + 1
                rows.append(row)
        rest = [row for row in rows if row["channel"] == "rest"]
        rest_rate = sum(row["turns"] for row in rest) / sum(row["seconds"] for row in rest)
        paced = await bench.paced(messages, rate or 1.5 * rest_rate, script["counts"])
        final = await bench.health()

    def turn_rate(channel: str) -> float:
        chosen = [row for row in rows if row["channel"] == channel]
        return sum(row["turns"] for row in chosen) / sum(row["seconds"] for row in chosen)

    def cpu_per_turn(channel: str) -> dict[str, float]:
        chosen = [row for row in rows if row["channel"] == channel]
        turns = sum(row["turns"] for row in chosen)
        names = chosen[0]["cpu_ms_per_turn"]
        return {name: sum(row["turns"] * row["cpu_ms_per_turn"][name] for row in chosen) / turns
                for name in names}

    ratio = turn_rate("whatsapp") / turn_rate("rest")
    rest_cpu, whatsapp_cpu = cpu_per_turn("rest"), cpu_per_turn("whatsapp")
    return {
        "calibration": script,
        "idle": idle,
        "turns": rows,
        "paced": paced,
        "final_health": {key: final.get(key) for key in ("inbox", "outbox")},
        "rest_turns_per_second": turn_rate("rest"),
        "whatsapp_turns_per_second": turn_rate("whatsapp"),
        "ratio": ratio,
        "previous_ratio": PREVIOUS_RATIO,
        "ratio_against_previous": ratio / PREVIOUS_RATIO,
        "rest_cpu_ms_per_turn": rest_cpu,
        "whatsapp_cpu_ms_per_turn": whatsapp_cpu,
        # Rasa + actions, without the front door (which REST does not use)
        "cpu_ratio_rasa_actions": (rest_cpu["rasa"] + rest_cpu["actions"])
        / (whatsapp_cpu["rasa"] + whatsapp_cpu["actions"]),
        "cpu_ratio_all": sum(rest_cpu.values()) / sum(whatsapp_cpu.values()),
    }


def bench_credentials(workdir: Path) -> Path:
    """The project's channels plus Rasa's REST channel, for this run only. The front door
    reads the same file (so the channel's full class path, which it can load); nothing is
    posted to its REST route."""
    path = workdir / "credentials.yml"
    rest = "rasa.core.channels.rest.RestInput:\n\n"
    path.write_text(rest + (REPO / "credentials.yml").read_text())
    return path


def main(args: argparse.Namespace) -> dict[str, Any]:
    model = Path(args.model)
    if not model.exists():
        sys.exit(
            f"no model at {model}: run `make train`, or train a copy with `.venv/bin/rasa "
            "train --fixed-model-name checkout --out /tmp/benchmodel` and pass --model"
        )
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="whatsapp_bench_") as tmp, ExitStack() as scope:
        workdir = Path(tmp)
        extra_env = {}
        if args.rasa_niceness is not None:
            extra_env["RASA_NICENESS"] = str(args.rasa_niceness)
        if args.postgres:
            from sandbox.harness.services import fresh_database

            extra_env["DATABASE_URL"] = scope.enter_context(fresh_database(args.postgres))
        graph = TurnGraphApi(latency=args.graph_latency)
        started = time.perf_counter()
        with live_stack(workdir, model=model, credentials=bench_credentials(workdir),
                        graph=graph, front_door=True, **extra_env) as stack:
            startup = time.perf_counter() - started
            try:
                results = stack.fakes.run(
                    run(stack, graph, workdir, args.messages, args.customers, args.rounds,
                        args.rate, args.idle_posts),
                    timeout=3600,
                )
            except BaseException:
                for log in stack.logs:
                    print(f"--- {log.name} (tail)\n{log.read_text()[-3000:]}", file=sys.stderr)
                raise
    return {
        "machine": f"{os.cpu_count()} CPU {platform.machine()}, "
        f"Python {platform.python_version()}",
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "model": str(model),
        "startup_seconds": startup,
        "messages": args.messages,
        "customers": args.customers,
        "graph_latency_ms": args.graph_latency * 1000,
        "order_database": "PostgreSQL" if args.postgres else "SQLite",
        **results,
    }


def report(results: dict[str, Any]) -> str:
    idle, paced, rows = results["idle"], results["paced"], results["turns"]
    customers = results["customers"]
    acks = paced["acks"]

    def ack_row(name: str, a: dict[str, Any]) -> str:
        return (f"| {name} | {a['requests']} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | "
                f"{a['max_ms']:.1f} | {a['statuses']} |")

    def cpu(values: dict[str, float]) -> str:
        return " + ".join(f"{values.get(name, 0):.1f}"
                          for name in ("rasa", "actions", "front_door"))

    p50_ratio = acks["p50_ms"] / idle["p50_ms"]
    p99_ratio = acks["p99_ms"] / idle["p99_ms"]
    lines = [
        f"{results['machine']}; load average {results['load_average_before'][0]:.2f} before, "
        f"{results['load_average_after'][0]:.2f} after; {customers} concurrent customers, "
        f"{results['messages']} messages per measurement; Graph API latency "
        f"{results['graph_latency_ms']:.0f} ms; inbox and outbox on "
        f"{results['order_database']}",
        f"replies per script step at the Graph API: {results['calibration']['counts']}",
        "",
        "| acknowledgement at the front door (time to HTTP 200) | posts | p50 ms | p99 ms "
        "| max ms | statuses |",
        "| --- | ---: | ---: | ---: | ---: | --- |",
        ack_row(f"idle bot, one post every {IDLE_SPACING} s (baseline)", idle),
        ack_row(f"saturated bot, paced {paced['rate_sent']:.1f}/s", acks),
    ]
    for row in rows:
        if row["channel"] == "whatsapp":
            lines.append(ack_row(f"turns round {row['round']}, {customers} turns in flight "
                                 "(client in the bench process)", row["acks"]))
    inbox = paced["inbox_after_posting"]
    lines += [
        "",
        f"paced: inbox {inbox['pending']} pending ({inbox['in_flight']} in flight, oldest "
        f"{inbox['oldest_pending_seconds']:.1f} s) when posting ended after "
        f"{paced['posting_seconds']:.1f} s; {paced['customers_answered']}/{customers} "
        f"customers fully answered, {paced['turns_per_second']:.1f} turns/s overall; CPU ms "
        f"per message rasa + actions + front door {cpu(paced['cpu_ms_per_message'])}; "
        f"client late p99 {acks['client_late_p99_ms']:.1f} ms; slowest {acks['slowest']}",
        "",
        "| turns | round | turns | failed | turns/s | replies/turn | turn p50 ms | turn p99 ms "
        "| CPU ms/turn rasa + actions + front door |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        lines.append(
            f"| {row['channel']} | {row['round']} | {row['turns']} | {row['failed']} | "
            f"{row['turns_per_second']:.2f} | {row['replies_per_turn']:.2f} | "
            f"{row['turn_p50_ms']:.0f} | {row['turn_p99_ms']:.0f} | "
            f"{cpu(row['cpu_ms_per_turn'])} |"
        )
    against = results["ratio_against_previous"]
    lines += [
        "",
        f"acknowledgement while saturated: p50 {acks['p50_ms']:.1f} ms ({p50_ratio:.1f}x idle "
        f"{idle['p50_ms']:.1f} ms; target < 10 ms: "
        f"{'met' if acks['p50_ms'] < 10 else 'NOT met'}), p99 {acks['p99_ms']:.1f} ms "
        f"({p99_ratio:.1f}x idle {idle['p99_ms']:.1f} ms; target < 50 ms: "
        f"{'met' if acks['p99_ms'] < 50 else 'NOT met'})",
        f"throughput: WhatsApp {results['whatsapp_turns_per_second']:.2f} turns/s, REST "
        f"{results['rest_turns_per_second']:.2f} turns/s, ratio {results['ratio']:.2f}; "
        f"against the previous design's {results['previous_ratio']:.2f}: {against:.2f} "
        f"(target >= 0.95: {'met' if against >= 0.95 else 'NOT met'})",
        f"CPU per turn REST / WhatsApp: Rasa + actions {results['cpu_ratio_rasa_actions']:.2f}, "
        f"with the front door {results['cpu_ratio_all']:.2f}",
        f"after the run: inbox {results['final_health']['inbox']}, outbox "
        f"{results['final_health']['outbox']}",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="WhatsApp channel benchmark")
    parser.add_argument("--messages", type=int, default=200,
                        help="messages per measurement (each turns run, the paced run)")
    parser.add_argument("--customers", type=int, default=50, help="concurrent customers")
    parser.add_argument("--rounds", type=int, default=2,
                        help="REST/WhatsApp turn runs, alternating order (2 = ABBA)")
    parser.add_argument("--rate", type=float, default=0.0,
                        help="paced messages/s (default: 1.5 x the REST turn rate)")
    parser.add_argument("--idle-posts", type=int, default=20,
                        help="acknowledgements timed with the bot idle (the baseline)")
    parser.add_argument("--model", default=str(MODEL), help="trained model (.tar.gz)")
    parser.add_argument("--rasa-niceness", type=int, default=None,
                        help="run the Rasa server at this niceness (default: RASA_NICENESS, "
                        "as scripts/run.sh)")
    parser.add_argument("--graph-latency", type=float, default=0.0,
                        help="seconds the fake Graph API waits before answering")
    parser.add_argument("--postgres", nargs="?", const=POSTGRES_SERVER, metavar="SERVER_URL",
                        help="the order store (inbox, outbox) in a fresh database on this "
                        f"PostgreSQL server instead of SQLite (default {POSTGRES_SERVER})")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    results = main(args)
    print(report(results))
    print(json.dumps(results, indent=2))
