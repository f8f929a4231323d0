"""The whole product as `make run` starts it, for end-to-end tests.

The action server and the Rasa server (trained model, credentials.yml) run as real
processes on loopback ports; only Meta's Graph API and Razorpay's API are the local
fakes, served from an event loop in a background thread so that they outlive one test.
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
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from tests.fakes import graph_api, razorpay_api, whatsapp_meta
from tests.fakes.graph_api import FakeGraphApi
from tests.fakes.razorpay_api import FakeRazorpay

REPO = Path(__file__).resolve().parents[2]
MODEL = REPO / "models" / "checkout.tar.gz"
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

    def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        request = urllib.request.Request(self.rasa_url + path, data=body, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code

    def customer_says(self, message: dict[str, Any]) -> int:
        """Deliver one WhatsApp message as Meta does: a signed webhook event."""
        body = json.dumps(whatsapp_meta.event(message)).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Hub-Signature-256": whatsapp_meta.sign(body),
        }
        return self.post("/webhooks/whatsapp/webhook", body, headers)

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
        tails = "\n".join(log.read_text()[-3000:] for log in self.logs)
        raise AssertionError(f"no matching bot message in {self.graph.sent[start:]}\n{tails}")


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
def live_stack(workdir: Path, **extra_env: str) -> Iterator[LiveStack]:
    fakes = LoopThread()
    graph = fakes.run(FakeGraphApi().start())
    razorpay = fakes.run(FakeRazorpay().start())
    actions_port, rasa_port = free_port(), free_port()
    endpoints = workdir / "endpoints.yml"
    endpoints.write_text(f'action_endpoint:\n  url: "http://127.0.0.1:{actions_port}/webhook"\n')
    database_url = f"sqlite:///{workdir / 'orders.db'}"
    env = {
        **os.environ,
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
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
    env.pop("REDIS_URL", None)
    rasa = [sys.executable, "-m", "rasa"]
    commands = {
        "actions": (
            [*rasa, "run", "actions", "--actions", "actions", "--port", str(actions_port)],
            f"http://127.0.0.1:{actions_port}/health",
        ),
        "rasa": (
            [*rasa, "run", "--model", str(MODEL), "--endpoints", str(endpoints),
             "--credentials", str(REPO / "credentials.yml"), "--port", str(rasa_port)],
            f"http://127.0.0.1:{rasa_port}/webhooks/whatsapp/",
        ),
    }
    processes: list[subprocess.Popen] = []
    logs: list[Path] = []
    try:
        for name, (command, health) in commands.items():
            log = workdir / f"{name}.log"
            logs.append(log)
            process = subprocess.Popen(
                command, cwd=REPO, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT
            )
            processes.append(process)
            _wait_until_up(health, process, log)
        yield LiveStack(
            f"http://127.0.0.1:{rasa_port}", database_url, graph, razorpay, fakes, logs
        )
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
        fakes.run(graph.stop())
        fakes.run(razorpay.stop())
        fakes.close()
