"""The whole product as `make run` starts it, for end-to-end and browser tests.

The action server and the Rasa server (trained model, credentials.yml) run as real
processes on loopback ports. `live_stack` serves only Meta's Graph API and Razorpay's
API as in-process fakes, from an event loop in a background thread so that they
outlive one test; `sandbox_stack` runs the sandbox (`python -m sandbox`) as a process
too, with the environment `make run` gives a sandbox run.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import yaml

from sandbox import mode, runenv
from sandbox.harness import graph_api, razorpay_api, whatsapp_meta
from sandbox.harness.graph_api import FakeGraphApi
from sandbox.harness.razorpay_api import FakeRazorpay

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "checkout.tar.gz"
# scripts/run.sh runs the Rasa server at this niceness (RASA_NICENESS): see bench/README.md.
DEFAULT_RASA_NICENESS = 10
START_TIMEOUT = 240.0  # loading TensorFlow and the model on a busy 2-core machine
T = TypeVar("T")


class LoopThread:
    """An asyncio loop in a daemon thread; `run` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coroutine: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LiveStack:
    rasa_url: str
    database_url: str
    graph: FakeGraphApi
    razorpay: FakeRazorpay
    fakes: LoopThread
    logs: list[Path]
    # Every Rasa server (rasa_urls[0] is rasa_url) and every process, by log name.
    rasa_urls: list[str] = field(default_factory=list)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)
    # Where webhooks go: the front door when one runs (server=None), else a Rasa server.
    public_url: str | None = None
    servers: dict[str, Server] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None

    def post(
        self, path: str, body: bytes, headers: dict[str, str], server: int | None = 0
    ) -> int:
        if server is None or (self.public_url and server == 0 and not self.rasa_urls):
            base = self.public_url or self.rasa_url
        else:
            base = self.rasa_urls[server] if self.rasa_urls else self.rasa_url
        request = urllib.request.Request(base + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def customer_says(self, message: dict[str, Any], server: int | None = 0) -> int:
        """Deliver one WhatsApp message as Meta does: a signed webhook event."""
        body = json.dumps(whatsapp_meta.event(message)).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": whatsapp_meta.sign(body),
        }
        return self.post("/webhooks/whatsapp/webhook", body, headers, server)

    def kill(self, name: str) -> None:
        """End one server at once (SIGKILL: no shutdown, like a crashed machine)."""
        self.processes[name].kill()
        self.processes[name].wait(timeout=20)

    def restart(self, name: str) -> None:
        """Start a killed server again, as its supervisor would, and wait until it is up."""
        assert self.workdir is not None
        server = self.servers[name]
        log = self.workdir / f"{name}.log"
        with log.open("ab") as out:
            process = subprocess.Popen(
                server.command, cwd=REPO, env={**self.env, **server.env}, stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.processes[name] = process
        _wait_until_up(server.health, process, log)

    def sent_after(
        self, start: int, until: Callable[[dict[str, Any]], bool], timeout: float = 60.0
    ) -> list[dict[str, Any]]:
        """Messages the bot sent since index `start`, once one of them satisfies `until`."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = self.graph.sent[start:]
            if any(until(message) for message in sent):
                time.sleep(0.3)  # let the rest of the turn's messages arrive
                return self.graph.sent[start:]
            time.sleep(0.1)
        raise AssertionError(f"no matching bot message in {self.graph.sent[start:]}\n"
                             f"{log_tails(self.logs)}")


@dataclass
class SandboxStack:
    url: str  # the chat page
    rasa_url: str
    database_url: str
    logs: list[Path]


@dataclass(frozen=True)
class Server:
    name: str
    command: list[str]
    health: str  # answers 200 once the server is up
    env: dict[str, str] = field(default_factory=dict)  # on top of the stack's


def log_tails(logs: list[Path], size: int = 3000) -> str:
    return "\n".join(f"--- {log.name}\n{log.read_text()[-size:]}" for log in logs)


def _wait_until_up(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url} exited early:\n{log.read_text()[-4000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"{url} did not come up in {START_TIMEOUT}s:\n{log.read_text()[-4000:]}")


@contextmanager
def _ended(processes: dict[str, subprocess.Popen]) -> Iterator[None]:
    """Processes started again by `LiveStack.restart` end with the stack too."""
    try:
        yield
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.terminate()
        for process in processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


@contextmanager
def running(
    servers: list[Server],
    env: dict[str, str],
    workdir: Path,
    started: dict[str, subprocess.Popen] | None = None,
) -> Iterator[list[Path]]:
    """Start the servers in order, each once the one before is up; yields their logs.
    `started` (if given) receives each process by server name."""
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        for server in servers:
            log = workdir / f"{server.name}.log"
            logs.append(log)
            process = subprocess.Popen(
                server.command, cwd=REPO, env={**env, **server.env}, stdout=log.open("wb"),
                stderr=subprocess.STDOUT,
            )
            processes.append(process)
            if started is not None:
                started[server.name] = process
            _wait_until_up(server.health, process, log)
        yield logs
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()


def rasa_niceness(env: Mapping[str, str]) -> int:
    """The niceness scripts/run.sh gives the Rasa server (RASA_NICENESS)."""
    raw = env.get("RASA_NICENESS", "").strip()
    return int(raw) if raw else DEFAULT_RASA_NICENESS


def bot_servers(actions_port: int, rasa_port: int, endpoints: Path, *rasa_options: str,
                model: Path = MODEL, credentials: Path = REPO / "credentials.yml",
                niceness: int = DEFAULT_RASA_NICENESS) -> list[Server]:
    """The action server and the Rasa server, as scripts/run.sh starts them."""
    rasa = [sys.executable, "-m", "rasa"]
    return [
        Server("actions",
               [*rasa, "run", "actions", "--actions", "actions", "--port", str(actions_port)],
               f"http://127.0.0.1:{actions_port}/health"),
        Server("rasa",
               ["nice", "-n", str(niceness), *rasa, "run", "--model", str(model),
                "--endpoints", str(endpoints), "--credentials", str(credentials),
                "--port", str(rasa_port), *rasa_options],
               f"http://127.0.0.1:{rasa_port}/webhooks/whatsapp/"),
    ]


def _base_env() -> dict[str, str]:
    env = {**os.environ, "RASA_TELEMETRY_ENABLED": "false", "TF_CPP_MIN_LOG_LEVEL": "2"}
    env.pop("REDIS_URL", None)
    return env


@contextmanager
def live_stack(
    workdir: Path, *, rasa_servers: int = 1, project_stores: bool = False,
    model: Path = MODEL, credentials: Path = REPO / "credentials.yml",
    graph: FakeGraphApi | None = None, front_door: bool = False, **extra_env: str,
) -> Iterator[LiveStack]:
    """The action server and `rasa_servers` Rasa servers (named rasa, rasa2, ...), and
    with `front_door` the front door (named front_door), which webhooks then reach.

    With `project_stores`, the tracker and lock stores of the project's endpoints.yml
    (set up by the environment, e.g. DATABASE_URL and REDIS_URL in `extra_env`); else
    Rasa's in-memory ones. `model` and `credentials` are given to every Rasa server;
    `graph` (not yet started) replaces the default FakeGraphApi, e.g. a subclass.
    """
    fakes = LoopThread()
    graph = fakes.run((graph or FakeGraphApi()).start())
    razorpay = fakes.run(FakeRazorpay().start())
    actions_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    settings: dict[str, Any] = {}
    if project_stores:
        project = yaml.safe_load((REPO / "endpoints.yml").read_text())
        settings = {name: project[name] for name in ("tracker_store", "lock_store")}
    settings["action_endpoint"] = {"url": f"http://127.0.0.1:{actions_port}/webhook"}
    endpoints.write_text(yaml.safe_dump(settings))
    database_url = extra_env.get("DATABASE_URL") or f"sqlite:///{workdir / 'orders.db'}"
    env = {
        **_base_env(),
        "DATABASE_URL": database_url,
        "WHATSAPP_ACCESS_TOKEN": graph_api.TOKEN,
        "WHATSAPP_PHONE_NUMBER_ID": graph_api.PHONE_NUMBER_ID,
        "WHATSAPP_API_VERSION": graph_api.API_VERSION,
        "WHATSAPP_API_BASE_URL": graph.base_url,
        "WHATSAPP_APP_SECRET": whatsapp_meta.APP_SECRET,
        "WHATSAPP_VERIFY_TOKEN": "verify-me",
        "RAZORPAY_KEY_ID": razorpay_api.KEY_ID,
        "RAZORPAY_KEY_SECRET": razorpay_api.KEY_SECRET,
        "RAZORPAY_WEBHOOK_SECRET": razorpay_api.WEBHOOK_SECRET,
        "RAZORPAY_API_BASE_URL": razorpay.base_url,
        **extra_env,
    }
    servers = bot_servers(actions_port, rasa_port, endpoints, model=model,
                          credentials=credentials, niceness=rasa_niceness(env))
    ports = [rasa_port]
    for number in range(2, rasa_servers + 1):
        ports.append(free_port())
        rasa = servers[1]
        command = list(rasa.command)  # the same server on another port
        command[command.index("--port") + 1] = str(ports[-1])
        servers.append(Server(f"rasa{number}", command,
                              rasa.health.replace(str(rasa_port), str(ports[-1]))))
    for server, port in zip(servers[1:], ports, strict=True):
        # Stable per server, as scripts/run.sh sets it: a restart takes back its work.
        server.env["INBOX_CONSUMER_NAME"] = f"test-{server.name}-{port}"
    public_url = None
    if front_door:
        public_port = free_port()
        public_url = f"http://127.0.0.1:{public_port}"
        servers.append(Server(
            "front_door",
            [sys.executable, "-m", "server.front_door", "--host", "127.0.0.1",
             "--port", str(public_port), "--credentials", str(credentials)],
            f"{public_url}/webhooks/whatsapp/",
            {"INBOX_WAKE_URLS": ",".join(f"http://127.0.0.1:{port}" for port in ports),
             "INBOX_CONSUMER_NAME": f"test-front-door-{public_port}"},
        ))
    processes: dict[str, subprocess.Popen] = {}
    try:
        with running(servers, env, workdir, processes) as logs, _ended(processes):
            yield LiveStack(
                f"http://127.0.0.1:{rasa_port}", database_url, graph, razorpay, fakes, logs,
                [f"http://127.0.0.1:{port}" for port in ports], processes, public_url,
                {server.name: server for server in servers}, env, workdir,
            )
    finally:
        fakes.run(graph.stop())
        fakes.run(razorpay.stop())
        fakes.close()


@contextmanager
def sandbox_stack(workdir: Path) -> Iterator[SandboxStack]:
    """A sandbox run as `make run` starts one without credentials (the sandbox, the
    action server, Rasa and the front door), on free ports."""
    sandbox_port, actions_port, rasa_port = free_port(), free_port(), free_port()
    public_port = free_port()
    env = {k: v for k, v in _base_env().items() if k not in mode.CREDENTIALS}
    env.update(SANDBOX_PORT=str(sandbox_port), RASA_PORT=str(rasa_port),
               PUBLIC_PORT=str(public_port))
    assert mode.decide(env).mode is mode.Mode.SANDBOX
    for name in runenv.unset_in_sandbox(env):
        del env[name]
    env.update(runenv.sandbox_environment(env))
    database_url = f"sqlite:///{workdir / 'orders.db'}"
    env["DATABASE_URL"] = database_url
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(runenv.sandbox_endpoints(
        (REPO / "endpoints.yml").read_text(), str(workdir),
        actions_url=f"http://127.0.0.1:{actions_port}/webhook",
    ))
    sandbox = Server("sandbox", [sys.executable, "-m", "sandbox"],
                     f"http://127.0.0.1:{sandbox_port}/sandbox/api/status")
    front_door = Server(
        "front_door",
        [sys.executable, "-m", "server.front_door", "--host", "127.0.0.1",
         "--port", str(public_port)],
        f"http://127.0.0.1:{public_port}/webhooks/whatsapp/",
        {"INBOX_WAKE_URLS": f"http://127.0.0.1:{rasa_port}"},
    )
    servers = [sandbox, *bot_servers(actions_port, rasa_port, endpoints,
                                     "--enable-api", "--auth-token", env["RASA_API_TOKEN"],
                                     niceness=rasa_niceness(env)),
               front_door]
    with running(servers, env, workdir) as logs:
        yield SandboxStack(env["SANDBOX_PUBLIC_URL"], f"http://127.0.0.1:{rasa_port}",
                           database_url, logs)
