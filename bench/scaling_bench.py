"""Scaling benchmark: turn throughput with 2 Rasa processes against 1, in one run.

    .venv/bin/python bench/scaling_bench.py [--conversations 40] [--concurrency 12]
        [--rounds 2] [--workers]

Starts one action server and two Rasa servers (the trained model, the project's
endpoints.yml stores on a fresh PostgreSQL database and Redis, Rasa's REST channel from
a bench-only credentials file in a temporary directory). Then, alternating 1-2-2-1 per
round so that a change of machine load hits both sides alike:

- **1 process**: every turn goes to the first Rasa server;
- **2 processes**: turns go round-robin to both, as a balancer without stickiness
  would send them (one customer's turns alternate between the servers).

With `--workers`, a third configuration: one more Rasa server with SANIC_WORKERS=2.

The load: `--conversations` customers, `--concurrency` of them chatting at a time, each
sending the same six messages one after the other (greeting, two adds, cart, remove,
cart): NLU, policies, the custom actions, the tracker in PostgreSQL, the lock in Redis.
A turn is one REST request answered with the bot's messages. Reported: turns/s, turn
latency p50/p95, resident memory (RSS) and proportional set size (PSS) per process.

PostgreSQL: BENCH_DATABASE_URL or TEST_DATABASE_URL, else
postgresql://postgres@127.0.0.1:5432/postgres (a scratch database is created on that
server and dropped). Redis: BENCH_REDIS_URL or TEST_REDIS_URL, else db 15 on loopback.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sandbox.harness.live_stack import MODEL, REPO, Server, free_port, running  # noqa: E402
from sandbox.harness.services import (  # noqa: E402
    forget_server_keys,
    fresh_database,
    postgres_skip_reason,
    redis_skip_reason,
)

SCRIPT = [
    "hi",
    "2 masala chai please",
    "one more mug please",
    "show my cart",
    "remove the mug",
    "show my cart",
]


@dataclass
class Phase:
    name: str
    turns: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    rasa_cpu: float = 0.0  # CPU seconds the Rasa servers used during the phase

    @property
    def rate(self) -> float:
        return self.turns / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(int(q * len(ordered)), len(ordered) - 1)] * 1000 if ordered else 0.0


async def chat(session: aiohttp.ClientSession, urls: itertools.cycle, sender: str,
               phase: Phase) -> None:
    for text in SCRIPT:
        url = next(urls)
        started = time.perf_counter()
        try:
            async with session.post(
                url + "/webhooks/rest/webhook", json={"sender": sender, "message": text}
            ) as response:
                answer = await response.json(content_type=None)
                ok = response.status == 200 and isinstance(answer, list) and answer
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError):
            ok = False
        phase.latencies.append(time.perf_counter() - started)
        if ok:
            phase.turns += 1
        else:
            phase.errors += 1


async def load(name: str, urls: list[str], conversations: int, concurrency: int) -> Phase:
    phase = Phase(name)
    cycle = itertools.cycle(urls)
    gate = asyncio.Semaphore(concurrency)
    run = f"{name.replace(' ', '')}-{time.monotonic_ns()}"

    async def customer(i: int) -> None:
        async with gate:
            await chat(session, cycle, f"bench-{run}-{i}", phase)

    timeout = aiohttp.ClientTimeout(total=120)
    connector = aiohttp.TCPConnector(limit=concurrency * 2)
    async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(customer(i) for i in range(conversations)))
        phase.seconds = time.perf_counter() - started
    return phase


def memory_kb(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in kB; PSS shares pages fairly between processes."""
    rss = pss = 0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1])
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def children(pid: int) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found.extend(int(child) for child in text)
    return found


def cpu_seconds(pid: int) -> float:
    """CPU time of the process and its children (Sanic's workers), in seconds."""
    total = 0.0
    for each in [pid, *children(pid)]:
        fields = Path(f"/proc/{each}/stat").read_text().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conversations", type=int, default=40)
    parser.add_argument("--concurrency", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", action="store_true",
                        help="also measure one Rasa server with SANIC_WORKERS=2")
    args = parser.parse_args()

    if not MODEL.exists():
        print(f"No trained model at {MODEL}: run `make train` first.", file=sys.stderr)
        return 2
    database_server = (os.environ.get("BENCH_DATABASE_URL") or os.environ.get("TEST_DATABASE_URL")
                       or "postgresql://postgres@127.0.0.1:5432/postgres")
    redis_url = (os.environ.get("BENCH_REDIS_URL") or os.environ.get("TEST_REDIS_URL")
                 or "redis://127.0.0.1:6379/15")
    for reason in (postgres_skip_reason(database_server), redis_skip_reason(redis_url)):
        if reason:
            print(f"Cannot run: {reason}", file=sys.stderr)
            return 2

    with tempfile.TemporaryDirectory(prefix="scaling-bench-") as tmp, \
            fresh_database(database_server) as database_url:
        workdir = Path(tmp)
        forget_server_keys(redis_url)
        try:
            return run(args, workdir, database_url, redis_url)
        finally:
            forget_server_keys(redis_url)


def run(args: argparse.Namespace, workdir: Path, database_url: str, redis_url: str) -> int:
    actions_port = free_port()
    project = yaml.safe_load((REPO / "endpoints.yml").read_text())
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(yaml.safe_dump({
        "action_endpoint": {"url": f"http://127.0.0.1:{actions_port}/webhook"},
        "tracker_store": project["tracker_store"],
        "lock_store": project["lock_store"],
    }))
    credentials = workdir / "credentials.yml"
    credentials.write_text("rest:\n")  # bench only: the product ships without it
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SANIC_WORKERS": "1",
    }
    env.pop("TRACKER_STORE_URL", None)
    rasa = [sys.executable, "-m", "rasa"]
    ports = [free_port(), free_port()] + ([free_port()] if args.workers else [])
    servers = [Server("actions", [*rasa, "run", "actions", "--actions", "actions",
                                  "--port", str(actions_port)],
                      f"http://127.0.0.1:{actions_port}/health")]
    for i, port in enumerate(ports):
        command = [*rasa, "run", "--model", str(MODEL), "--endpoints", str(endpoints),
                   "--credentials", str(credentials), "--port", str(port)]
        if i == 2:  # SANIC_WORKERS=2 for this one: Rasa forks after reading the settings
            command = ["env", "SANIC_WORKERS=2", *command]
        servers.append(Server(f"rasa{i + 1}", command, f"http://127.0.0.1:{port}/webhooks/rest/"))
    urls = [f"http://127.0.0.1:{port}" for port in ports]

    processes: dict[str, Any] = {}
    print(f"Starting the action server and {len(ports)} Rasa servers (load {loadavg()}) ...",
          flush=True)
    with running(servers, env, workdir, processes):
        configurations = {"1 process": urls[:1], "2 processes": urls[:2]}
        if args.workers:
            configurations["1 server, 2 workers"] = urls[2:3]
        # warm-up: first turns on each server build TensorFlow's graphs
        for url in urls:
            asyncio.run(load("warm-up", [url], 4, 4))
        results: dict[str, list[Phase]] = {name: [] for name in configurations}
        order = list(configurations)
        for round_ in range(args.rounds):
            for name in order if round_ % 2 == 0 else list(reversed(order)):
                cpu_before = {n: cpu_seconds(p.pid) for n, p in processes.items()}
                phase = asyncio.run(
                    load(name, configurations[name], args.conversations, args.concurrency)
                )
                used = {n: cpu_seconds(p.pid) - cpu_before[n] for n, p in processes.items()}
                phase.rasa_cpu = sum(v for n, v in used.items() if n.startswith("rasa"))
                results[name].append(phase)
                print(
                    f"round {round_ + 1} {name:>20}: {phase.rate:6.1f} turns/s "
                    f"({phase.turns} turns, {phase.errors} errors, {phase.seconds:.1f}s) "
                    f"p50 {phase.percentile(0.5):.0f} ms p95 {phase.percentile(0.95):.0f} ms "
                    f"cpu s {', '.join(f'{n} {s:.1f}' for n, s in used.items())} "
                    f"load {loadavg()}",
                    flush=True,
                )
        memory = {}
        for name, process in processes.items():
            pids = [process.pid] + (children(process.pid) if name == "rasa3" else [])
            memory[name] = [(pid, *memory_kb(pid)) for pid in pids]

    print()
    print(f"load average at the end: {loadavg()}")
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
          f"{args.conversations} conversations x {len(SCRIPT)} turns, "
          f"{args.concurrency} at a time, {args.rounds} round(s)")
    print("| configuration | turns/s per round | median turns/s | p50 ms | p95 ms | errors "
          "| cores used by Rasa | Rasa CPU ms per turn |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    medians = {}
    for name, phases in results.items():
        medians[name] = statistics.median(p.rate for p in phases)
        lat = [x for p in phases for x in p.latencies]
        merged = Phase(name, latencies=lat)
        cpu = sum(p.rasa_cpu for p in phases)
        cores = cpu / sum(p.seconds for p in phases)
        per_turn = 1000 * cpu / max(sum(p.turns for p in phases), 1)
        print(f"| {name} | {', '.join(f'{p.rate:.1f}' for p in phases)} | "
              f"{medians[name]:.1f} | {merged.percentile(0.5):.0f} | "
              f"{merged.percentile(0.95):.0f} | {sum(p.errors for p in phases)} | "
              f"{cores:.2f} | {per_turn:.0f} |")
    base = medians["1 process"]
    for name, value in medians.items():
        if name != "1 process" and base:
            print(f"{name} / 1 process: {value / base:.2f}x")
    print()
    print("| process | pid | RSS MB | PSS MB |")
    print("| --- | ---: | ---: | ---: |")
    for name, rows in memory.items():
        for pid, rss, pss in rows:
            print(f"| {name} | {pid} | {rss / 1024:.0f} | {pss / 1024:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
