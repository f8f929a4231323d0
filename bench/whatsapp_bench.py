"""WhatsApp channel benchmark: webhook acknowledgement while the bot is saturated, and
turn throughput against Rasa's REST channel, on the real servers with the same model,
in one run.

    .venv/bin/python bench/whatsapp_bench.py [--messages 200] [--customers 50]
        [--rounds 2] [--rate R] [--model models/checkout.tar.gz] [--graph-latency 0]
        [--max-turns-in-flight N]

The action server and the Rasa server run as real processes (sandbox.harness.live_stack),
with a bench-only credentials file (`rest:` plus the project's channels) so both
channels are served by the same Rasa process and model, with in-memory trackers. Only
Meta's Graph API is the local fake. The client runs in this process, on the fakes'
event loop. A second process (this script with `--serve-front`) serves the same
WhatsApp channel with an agent that only takes the messages: what an acknowledging
front process, with the model elsewhere, would answer.

1. Calibration and warm-up: one customer per channel says the script once; the number
   of messages the bot sends per step at the Graph API is noted, so that a WhatsApp
   turn counts as done when its last reply has arrived.
2. Idle floor: 20 posts one at a time, the bot idle, to the Rasa server and the front.
   Then a warm-up turns run per channel (half of `--messages`, not measured).
3. Turns: `--customers` customers at once, each saying its share of `--messages` (the
   script, in order) and waiting for the bot's answer before the next message: through
   the REST channel (the answer is the HTTP response) and through the WhatsApp webhook
   (the answer is the last reply at the Graph API; the run ends when the channel has
   nothing pending). Rounds alternate the order (REST, WhatsApp, WhatsApp, REST, ...)
   to cancel drift; the CPU time the two servers spend per turn is noted too, which
   other load on the machine disturbs much less than turns per second. The webhook's
   acknowledgements are timed here too: 50 turns in flight keep the bot saturated, and
   messages arrive as fast as it answers.
4. Paced: `--messages` messages from `--customers` customers, sent on a fixed schedule
   (open loop, like Meta's deliveries) at `--rate`, by default 1.5 times the REST turn
   rate just measured, so the bot falls behind and stays saturated. The same schedule
   goes at the same moment to the front process.

Arrivals are paced rather than posted back to back: 50 posters that send again as soon
as they are acknowledged measure the client and the acknowledging path's own capacity
(latency = 50 / acknowledgements per second), not the effect of a busy bot.

`--max-turns-in-flight N` is an experiment: the channel of bench/limited_whatsapp.py,
which lets at most N WhatsApp turns run at once, in place of the project's.

Targets: acknowledgement p99 under 50 ms while the bot is saturated; WhatsApp
turn throughput at least 0.9 of the REST channel's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.webhook_bench import percentile  # noqa: E402
from channels.whatsapp import WhatsAppInput, WhatsAppSettings  # noqa: E402
from channels.whatsapp.client import WhatsAppClient  # noqa: E402
from channels.whatsapp.store import ChannelState  # noqa: E402
from sandbox.harness import whatsapp_meta  # noqa: E402
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN, FakeGraphApi  # noqa: E402
from sandbox.harness.live_stack import MODEL, REPO, LiveStack, live_stack  # noqa: E402

# What customers say: greeting, NLU with entities and the cart action, Hinglish, help.
SCRIPT = ["hi", "2 masala chai and a mug", "cart dikhao", "help"]
WEBHOOK = "/webhooks/whatsapp/webhook"
IDLE_POSTS = 20
TURN_TIMEOUT = 120.0  # one turn, waiting behind a saturated bot
DRAIN_TIMEOUT = 600.0  # the paced run's backlog


class TurnGraphApi(FakeGraphApi):
    """The Graph API stand-in, counting the messages sent to each customer."""

    def __init__(self, latency: float = 0.0) -> None:
        super().__init__(latency=latency)
        self.sent_to: Counter[str] = Counter()
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
        last = self.requests[-1]
        if last.status == 200 and isinstance(last.body, dict) and "type" in last.body:
            customer = last.body["to"]
            self.sent_to[customer] += 1
            waiting = []
            for count, future in self._waiters.pop(customer, []):
                if self.sent_to[customer] >= count:
                    if not future.done():
                        future.set_result(None)
                else:
                    waiting.append((count, future))
            if waiting:
                self._waiters[customer] = waiting
        return answer


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def customer_id(phase: int, number: int) -> str:
    return f"91{phase}{number:09d}"


def signed_text(customer: str, text: str) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(
        whatsapp_meta.event(whatsapp_meta.message("text", {"body": text}, sender=customer))
    ).encode()
    return body, {
        "Content-Type": "application/json",
        "X-Hub-Signature-256": whatsapp_meta.sign(body),
    }


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
                 customers: int) -> None:
        self.stack = stack
        self.graph = graph
        self.http = http
        self.customers = customers
        self.webhook_url = stack.rasa_url + WEBHOOK
        self.front_url = ""
        self.front_pid = 0
        self.rest_url = stack.rasa_url + "/webhooks/rest/webhook"

    async def pending(self) -> int:
        async with self.http.get(self.stack.rasa_url + "/webhooks/whatsapp/") as resp:
            return (await resp.json())["pending_messages"]

    async def idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if await self.pending() == 0:
                return True
            await asyncio.sleep(0.05)
        return False

    async def post(self, customer: str, text: str, url: str = "") -> tuple[int, float]:
        body, headers = signed_text(customer, text)
        started = time.perf_counter()
        async with self.http.post(url or self.webhook_url, data=body, headers=headers) as resp:
            await resp.read()
        return resp.status, time.perf_counter() - started

    async def rest(self, customer: str, text: str) -> list[dict[str, Any]]:
        payload = {"sender": customer, "message": text}
        async with self.http.post(self.rest_url, json=payload) as resp:
            resp.raise_for_status()
            return await resp.json()

    # -- 1. calibration ---------------------------------------------------------

    async def calibrate(self, texts: list[str], phase: int, number: int) -> dict[str, Any]:
        """Say `texts` as one new customer on each channel; replies per step."""
        customer = customer_id(phase, number)
        counts, seen = [], []
        for text in texts:
            start = len(self.graph.sent)
            status, _ = await self.post(customer, text)
            assert status == 200, f"webhook answered {status} during calibration"
            if not await self.idle(TURN_TIMEOUT):
                raise RuntimeError(f"calibration turn {text!r} did not finish")
            replies = [s for s in self.graph.sent[start:] if s.get("to") == customer]
            counts.append(len(replies))
            seen.append({"text": text, "whatsapp": [describe(r) for r in replies]})
        rest_customer = customer_id(phase, number + 1)
        for step, text in zip(seen, texts, strict=True):
            replies = await self.rest(rest_customer, text)
            step["rest"] = [" ".join(str(r.get("text", "")).split())[:70] for r in replies]
        return {"counts": counts, "turns": seen}

    # -- 2. idle floor ----------------------------------------------------------

    async def idle_floor(self) -> dict[str, Any]:
        rasa, front = [], []
        for i in range(IDLE_POSTS):
            status, ack = await self.post(customer_id(2, i), SCRIPT[i % len(SCRIPT)])
            assert status == 200, f"webhook answered {status}"
            rasa.append(ack)
            await self.idle(TURN_TIMEOUT)
            status, ack = await self.post(customer_id(3, i), SCRIPT[i % len(SCRIPT)],
                                          self.front_url + WEBHOOK)
            assert status == 200, f"front answered {status}"
            front.append(ack)
        return {"rasa": {"requests": len(rasa), **summary(rasa)},
                "front": {"requests": len(front), **summary(front)}}

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
                    status, ack = await self.post(who, text)
                    statuses[status] += 1
                    acks.append(ack)
                    target += counts[step]
                    if status != 200 or not await self.graph.reached(who, target, TURN_TIMEOUT):
                        failed += 1
                        return
                    replies.append(counts[step])
                turns.append(time.perf_counter() - started)

        servers = {name: process.pid for name, process in self.stack.processes.items()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in servers.items()}
        began = time.perf_counter()
        await asyncio.gather(*(customer(n) for n in range(self.customers)))
        if channel == "whatsapp":
            # REST answers after the turn's last prediction (action_listen); so count
            # the WhatsApp run as done when the channel has nothing pending.
            await self.idle(TURN_TIMEOUT)
        elapsed = time.perf_counter() - began
        cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in servers.items()}
        result = {
            "channel": channel,
            "turns": len(turns),
            "failed": failed,
            "seconds": elapsed,
            "turns_per_second": len(turns) / elapsed,
            "replies_per_turn": sum(replies) / max(1, len(replies)),
            # CPU the servers spent per turn: less sensitive than turns/s to other load
            "cpu_ms_per_turn": {name: 1000 * t / max(1, len(turns)) for name, t in cpu.items()},
            **{f"turn_{k}": v for k, v in summary(turns).items()},
        }
        if channel == "whatsapp":
            result["acks"] = {"requests": len(acks), "statuses": dict(statuses),
                              **summary(acks)}
        return result

    # -- 4. paced ---------------------------------------------------------------

    async def paced(self, messages: int, rate: float, counts: list[int]) -> dict[str, Any]:
        """The script from `--customers` customers on a fixed schedule, to the Rasa
        server and, at the same moments, to the front process."""
        schedule = []  # (customer's message number, customer number)
        for number in range(self.customers):
            for step in range(len(texts_for(number, messages, self.customers))):
                schedule.append((step, number))
        schedule.sort()
        acks: dict[str, list[float]] = {"rasa": [], "front": []}
        timeline: dict[str, list[tuple[float, float]]] = {"rasa": [], "front": []}
        statuses: dict[str, Counter[int]] = {"rasa": Counter(), "front": Counter()}
        expected: Counter[str] = Counter()
        sent_at: list[float] = []

        async def deliver(at: float, target: str, customer: str, text: str) -> None:
            await asyncio.sleep(max(0.0, at - time.perf_counter()))
            if target == "rasa":
                sent_at.append(time.perf_counter())
            url = self.webhook_url if target == "rasa" else self.front_url + WEBHOOK
            status, ack = await self.post(customer, text, url)
            acks[target].append(ack)
            timeline[target].append((round(at - began, 2), round(ack * 1000, 1)))
            statuses[target][status] += 1

        front_cpu = cpu_seconds(self.front_pid)
        began = time.perf_counter() + 0.2
        posts = []
        for i, (step, number) in enumerate(schedule):
            at, text = began + i / rate, SCRIPT[step % len(SCRIPT)]
            customer = customer_id(6, number)
            expected[customer] += counts[step]
            posts.append(deliver(at, "rasa", customer, text))
            posts.append(deliver(at, "front", customer_id(7, number), text))
        await asyncio.gather(*posts)
        front_cpu = cpu_seconds(self.front_pid) - front_cpu
        backlog = await self.pending()
        arrived = await asyncio.gather(
            *(self.graph.reached(c, n, DRAIN_TIMEOUT) for c, n in expected.items())
        )
        await self.idle(DRAIN_TIMEOUT)
        elapsed = time.perf_counter() - began
        return {
            "rate_asked": rate,
            "rate_sent": (len(sent_at) - 1) / (max(sent_at) - min(sent_at)),
            "backlog_after_posting": backlog,
            "customers_answered": sum(arrived),
            "turns_per_second": len(schedule) / elapsed,
            # the channel's own work per message: verify, parse, queue, mark as read
            "front_cpu_ms_per_message": 1000 * front_cpu / len(schedule),
            **{target: {"requests": len(acks[target]), "statuses": dict(statuses[target]),
                        **summary(acks[target]),
                        # [seconds into the schedule, ack ms] of the five slowest
                        "slowest": sorted(timeline[target], key=lambda t: -t[1])[:5]}
               for target in acks},
        }


async def run(stack: LiveStack, graph: TurnGraphApi, front: subprocess.Popen[str],
              messages: int, customers: int, rounds: int, rate: float) -> dict[str, Any]:
    longest = max(len(texts_for(0, messages, customers)), 1)
    connector = aiohttp.TCPConnector(limit=0)  # no client-side queueing
    async with aiohttp.ClientSession(connector=connector) as http:
        bench = Bench(stack, graph, http, customers)
        bench.front_url = (await asyncio.to_thread(front.stdout.readline)).strip()
        bench.front_pid = front.pid
        script = await bench.calibrate([SCRIPT[i % len(SCRIPT)] for i in range(longest)], 1, 0)
        idle = await bench.idle_floor()
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
    handed, _ = await asyncio.to_thread(front.communicate, "", 60)

    def turn_rate(channel: str) -> float:
        chosen = [row for row in rows if row["channel"] == channel]
        return sum(row["turns"] for row in chosen) / sum(row["seconds"] for row in chosen)

    def cpu_per_turn(channel: str) -> float:
        chosen = [row for row in rows if row["channel"] == channel]
        total = sum(row["turns"] * sum(row["cpu_ms_per_turn"].values()) for row in chosen)
        return total / sum(row["turns"] for row in chosen)

    return {
        "calibration": script,
        "idle": idle,
        "turns": rows,
        "paced": paced,
        "front_messages_taken": int(handed.strip() or 0),
        "rest_turns_per_second": turn_rate("rest"),
        "whatsapp_turns_per_second": turn_rate("whatsapp"),
        "ratio": turn_rate("whatsapp") / turn_rate("rest"),
        "rest_cpu_ms_per_turn": cpu_per_turn("rest"),
        "whatsapp_cpu_ms_per_turn": cpu_per_turn("whatsapp"),
        "cpu_ratio": cpu_per_turn("rest") / cpu_per_turn("whatsapp"),
    }


async def serve_front(graph_url: str) -> None:
    """The WhatsApp channel alone, answering webhooks for an agent that only takes the
    messages. Prints its URL, serves until stdin closes, then prints the count taken."""
    channel = WhatsAppInput(
        WhatsAppSettings(whatsapp_meta.APP_SECRET, "verify"),
        WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph_url, api_version=API_VERSION),
        ChannelState.in_memory(),
    )
    agent = whatsapp_meta.RecordingAgent()
    async with whatsapp_meta.serve([channel], agent) as webhook:
        print(webhook.base_url, flush=True)
        await asyncio.to_thread(sys.stdin.read)
    print(len(agent.messages), flush=True)


def bench_credentials(workdir: Path, limited: bool) -> Path:
    """The project's channels plus Rasa's REST channel, for this run only; with
    `limited`, the WhatsApp channel of bench/limited_whatsapp.py instead."""
    text = (REPO / "credentials.yml").read_text()
    if limited:
        project = "channels.whatsapp.WhatsAppInput:"
        assert project in text, "credentials.yml no longer registers the WhatsApp channel"
        text = text.replace(project, "bench.limited_whatsapp.LimitedWhatsAppInput:")
    path = workdir / "credentials.yml"
    path.write_text("rest:\n\n" + text)
    return path


def main(args: argparse.Namespace) -> dict[str, Any]:
    model = Path(args.model)
    if not model.exists():
        sys.exit(
            f"no model at {model}: run `make train`, or train a copy with `.venv/bin/rasa "
            "train --fixed-model-name checkout --out /tmp/benchmodel` and pass --model"
        )
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="whatsapp_bench_") as tmp:
        workdir = Path(tmp)
        graph = TurnGraphApi(latency=args.graph_latency)
        started = time.perf_counter()
        limit = args.max_turns_in_flight
        extra_env = {"BENCH_MAX_TURNS_IN_FLIGHT": str(limit)} if limit else {}
        with live_stack(workdir, model=model, credentials=bench_credentials(workdir, limit > 0),
                        graph=graph, **extra_env) as stack:
            startup = time.perf_counter() - started
            front = subprocess.Popen(
                [sys.executable, __file__, "--serve-front", graph.base_url],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            )
            try:
                results = stack.fakes.run(
                    run(stack, graph, front, args.messages, args.customers, args.rounds,
                        args.rate),
                    timeout=3600,
                )
            except BaseException:
                for log in stack.logs:
                    print(f"--- {log.name} (tail)\n{log.read_text()[-3000:]}", file=sys.stderr)
                raise
            finally:
                if front.poll() is None:
                    front.kill()
                    front.wait()
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
        "max_turns_in_flight": args.max_turns_in_flight or None,
        **results,
    }


def report(results: dict[str, Any]) -> str:
    idle, paced, rows = results["idle"], results["paced"], results["turns"]
    customers = results["customers"]

    def ack_row(name: str, a: dict[str, Any]) -> str:
        return (f"| {name} | {a['requests']} | {a['p50_ms']:.1f} | {a['p99_ms']:.1f} | "
                f"{a['max_ms']:.1f} |")

    lines = [
        f"{results['machine']}; load average {results['load_average_before'][0]:.1f} before, "
        f"{results['load_average_after'][0]:.1f} after; {customers} concurrent customers, "
        f"{results['messages']} messages per measurement"
        + (f"; EXPERIMENT: at most {results['max_turns_in_flight']} WhatsApp turns in flight"
           if results["max_turns_in_flight"] else ""),
        f"replies per script step at the Graph API: {results['calibration']['counts']}",
        "",
        "| acknowledgement (time to HTTP 200) | posts | p50 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: |",
        ack_row("idle bot, one post at a time: Rasa server", idle["rasa"]),
        ack_row("idle, one post at a time: front process", idle["front"]),
    ]
    for row in rows:
        if row["channel"] == "whatsapp":
            lines.append(ack_row(f"saturated, turns round {row['round']} ({customers} turns "
                                 "in flight): Rasa server", row["acks"]))
    lines += [
        ack_row(f"saturated, paced {paced['rate_sent']:.0f}/s: Rasa server", paced["rasa"]),
        ack_row("same schedule, same moments: front process", paced["front"]),
        "",
        f"paced: backlog {paced['backlog_after_posting']} after posting, "
        f"{paced['customers_answered']}/{customers} customers fully answered, "
        f"{paced['turns_per_second']:.1f} turns/s; statuses {paced['rasa']['statuses']}, "
        f"front {paced['front']['statuses']} ({results['front_messages_taken']} messages taken, "
        f"{paced['front_cpu_ms_per_message']:.1f} ms CPU per message)",
        "",
        "| turns | round | turns | failed | turns/s | replies/turn | turn p50 ms | turn p99 ms "
        "| CPU ms/turn rasa + actions |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for row in rows:
        cpu = row["cpu_ms_per_turn"]
        lines.append(
            f"| {row['channel']} | {row['round']} | {row['turns']} | {row['failed']} | "
            f"{row['turns_per_second']:.2f} | {row['replies_per_turn']:.2f} | "
            f"{row['turn_p50_ms']:.0f} | {row['turn_p99_ms']:.0f} | "
            f"{cpu.get('rasa', 0):.1f} + {cpu.get('actions', 0):.1f} |"
        )
    saturated = [paced["rasa"]["p99_ms"]] + [r["acks"]["p99_ms"] for r in rows if "acks" in r]
    lines += [
        "",
        f"throughput: WhatsApp {results['whatsapp_turns_per_second']:.2f} turns/s, REST "
        f"{results['rest_turns_per_second']:.2f} turns/s, ratio {results['ratio']:.2f} "
        f"(target >= 0.9: {'met' if results['ratio'] >= 0.9 else 'NOT met'}); CPU per turn "
        f"WhatsApp {results['whatsapp_cpu_ms_per_turn']:.1f} ms, REST "
        f"{results['rest_cpu_ms_per_turn']:.1f} ms, ratio {results['cpu_ratio']:.2f}",
        f"acknowledgement p99 while saturated, Rasa server: worst {max(saturated):.1f} ms "
        f"(target < 50 ms: {'met' if max(saturated) < 50 else 'NOT met'}); front process "
        f"{paced['front']['p99_ms']:.1f} ms",
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
    parser.add_argument("--model", default=str(MODEL), help="trained model (.tar.gz)")
    parser.add_argument("--graph-latency", type=float, default=0.0,
                        help="seconds the fake Graph API waits before answering")
    parser.add_argument("--max-turns-in-flight", type=int, default=0, metavar="N",
                        help="experiment: the channel of bench/limited_whatsapp.py, at most "
                        "N WhatsApp turns at once (default: the project's channel)")
    parser.add_argument("--serve-front", metavar="GRAPH_URL", help=argparse.SUPPRESS)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    logging.getLogger("sanic.root").setLevel(logging.WARNING)
    if args.serve_front:
        asyncio.run(serve_front(args.serve_front))
        sys.exit(0)
    results = main(args)
    print(report(results))
    print(json.dumps(results, indent=2))
