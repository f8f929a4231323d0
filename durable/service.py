"""One inbox consumer and one outbox sender per server process, shared by its channels.

Each channel registers its handler for its kind of inbox item; the first to start the
server's work starts both loops, and stopping is idempotent. A front door (a process
without a model) writes the inbox and sends the outbox, but never consumes: it wakes
the Rasa servers named in INBOX_WAKE_URLS instead.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import Callable
from typing import Any

import aiohttp

from channels.delivery import ReportingOutputChannel, channel_outputs
from durable.consumer import InboxConsumer
from durable.inbox import Inbox
from durable.outbox import Outbox
from durable.sender import OutboxSender
from orders.store import OrderStore

logger = logging.getLogger(__name__)

WAKE_PATH = "/webhooks/whatsapp/inbox/wake"
WAKE_TIMEOUT_SECONDS = 0.5
SHUTDOWN_GRACE_SECONDS = 10.0
FRONT_DOOR = "front_door"


def consumer_name(app: Any) -> str:
    """Stable across restarts of one server (INBOX_CONSUMER_NAME, set by the run scripts),
    so a restart takes back its own unfinished work at once; unique otherwise."""
    configured = os.environ.get("INBOX_CONSUMER_NAME")
    if not configured:
        return f"{socket.gethostname()}:{os.getpid()}:{id(app):x}"
    # Sanic workers of one server share its environment but not its leases.
    workers = os.environ.get("SANIC_WORKERS") or "1"
    return configured if workers == "1" else f"{configured}:{os.getpid()}"


def wake_urls() -> list[str]:
    raw = os.environ.get("INBOX_WAKE_URLS", "")
    return [url.strip().rstrip("/") + WAKE_PATH for url in raw.split(",") if url.strip()]


class Durable:
    def __init__(self, app: Any, store: OrderStore) -> None:
        name = consumer_name(app)
        self.front_door = getattr(app.ctx, "role", None) == FRONT_DOOR
        self.inbox = Inbox(store.engine)
        self.outbox = Outbox(store.engine)
        self.consumer = InboxConsumer(self.inbox, name, ready=_agent_ready(app))
        inputs = lambda: getattr(app.ctx, "input_channels", None) or []  # noqa: E731
        self.sender = OutboxSender(
            self.outbox, channel_outputs(inputs), store, name, channels=_pushable(inputs)
        )
        self._wake_urls = wake_urls() if self.front_door else []
        self._session: aiohttp.ClientSession | None = None
        self._pokes: dict[str, asyncio.Task[None]] = {}
        self._poke_again: set[str] = set()
        self._started = False
        self._stopped = False

    def start(self) -> None:
        if self._started:
            return
        self._started = True
        if not self.front_door:
            self.consumer.start()
        self.sender.start()

    async def stop(self) -> None:
        if self._stopped or not self._started:
            return
        self._stopped = True
        await self.consumer.stop(SHUTDOWN_GRACE_SECONDS)
        await self.sender.stop(SHUTDOWN_GRACE_SECONDS)
        if self._pokes:
            await asyncio.wait(set(self._pokes.values()), timeout=2 * WAKE_TIMEOUT_SECONDS)
        if self._session is not None:
            await self._session.close()

    def wake(self) -> None:
        """New inbox items: wake this process's consumer, or the Rasa servers'."""
        if not self.front_door:
            self.consumer.wake()
        for url in self._wake_urls:
            if url in self._pokes:
                # One wake-up in flight per server, and at most one more after it: a
                # consumer woken once claims everything that is waiting by then.
                self._poke_again.add(url)
                continue
            task = asyncio.create_task(self._poke(url))
            self._pokes[url] = task

    async def _poke(self, url: str) -> None:
        try:
            while True:
                await self._post(url)
                if url not in self._poke_again:
                    return
                self._poke_again.discard(url)
        finally:
            self._pokes.pop(url, None)

    async def _post(self, url: str) -> None:
        # Best effort: a lost wake-up only costs the consumer's poll interval.
        if self._session is None:
            timeout = aiohttp.ClientTimeout(total=WAKE_TIMEOUT_SECONDS)
            self._session = aiohttp.ClientSession(timeout=timeout)
        try:
            async with self._session.post(url) as resp:
                await resp.read()
        except (aiohttp.ClientError, asyncio.TimeoutError) as exc:
            logger.debug("Inbox wake-up to %s failed: %s", url, type(exc).__name__)

    async def health(self) -> dict[str, Any]:
        return {
            "inbox": await self.inbox.stats(),
            "outbox": await self.outbox.stats(),
            "consuming": self.consumer.running,
        }


def for_app(app: Any, store: OrderStore) -> Durable:
    durable = getattr(app.ctx, "durable", None)
    if durable is None:
        durable = app.ctx.durable = Durable(app, store)
    return durable


def _pushable(inputs: Callable[[], list[Any]]) -> Callable[[], list[str]]:
    """The names of this server's channels that can push a message outside a turn."""
    known: list[str] = []

    def names() -> list[str]:
        # The server's channels are fixed once it runs: looked at once, not per send.
        if not known:
            known.extend(
                channel.name()
                for channel in inputs()
                if isinstance(channel.get_output_channel(), ReportingOutputChannel)
            )
        return known

    return names


def _agent_ready(app: Any) -> Callable[[], bool]:
    # Rasa drops messages that arrive before its model is loaded: wait for it instead.
    def ready() -> bool:
        agent = getattr(app.ctx, "agent", None)
        return agent is not None and agent.is_ready()

    return ready
