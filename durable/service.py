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
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from channels.delivery import ReportingOutputChannel, channel_outputs
from durable.consumer import InboxConsumer
from durable.inbox import Inbox, InboxItem
from durable.outbox import Outbox
from durable.sender import OutboxSender
from orders.store import OrderStore

logger = logging.getLogger(__name__)

WAKE_PATH = "/webhooks/whatsapp/inbox/wake"
WAKE_TIMEOUT_SECONDS = 0.5
ACTION_HEALTH_EVERY_SECONDS = 2.0
ACTION_HEALTH_TIMEOUT_SECONDS = 2.0
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
        self.actions = ActionServerWatch(lambda: _action_url(app))
        self.consumer = InboxConsumer(
            self.inbox, name, ready=lambda: _agent_ready(app) and self.actions.up
        )
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
            self.actions.start()
            self.consumer.start()
        self.sender.start()

    async def stop(self) -> None:
        if self._stopped or not self._started:
            return
        self._stopped = True
        await self.consumer.stop(SHUTDOWN_GRACE_SECONDS)
        await self.actions.stop()
        await self.sender.stop(SHUTDOWN_GRACE_SECONDS)
        if self._pokes:
            await asyncio.wait(set(self._pokes.values()), timeout=2 * WAKE_TIMEOUT_SECONDS)
        if self._session is not None:
            await self._session.close()

    async def finish_turn(
        self, item: InboxItem, channel: str, replies: Sequence[dict[str, Any]]
    ) -> None:
        """Mark the item done, record the replies of its turn in the outbox and claim
        them for this process's sender, in one transaction; then send them. Once the
        turn is saved, before this commits, a crash leaves the item pending: its retry
        finds the turn in the conversation and records the same replies (same keys)."""
        source = turn_source(item)
        held, claimed = await self.inbox.done_with(
            item,
            lambda conn: self.sender.queue_in(conn, item.customer_id, channel, source, replies),
        )
        if not held:
            logger.warning("Inbox item %s was taken over before it was marked done", item.id)
        elif claimed or replies:
            self.sender.send_claimed(item.customer_id, claimed or [])

    async def record_early(
        self, item: InboxItem, channel: str, replies: Sequence[dict[str, Any]]
    ) -> None:
        """Record and send what a slow turn said so far; `finish_turn` records them
        again under the same keys, which keeps each once."""
        await self.outbox.add(item.customer_id, channel, turn_source(item), replies)
        self.sender.flush_soon(item.customer_id)

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
        report = {
            "inbox": await self.inbox.stats(),
            "outbox": await self.outbox.stats(),
            "consuming": self.consumer.running,
        }
        if not self.front_door:
            report["action_server_up"] = self.actions.up
        return report


def turn_source(item: InboxItem) -> str:
    """What the outbox names as the cause of a turn's replies."""
    return f"inbox:{item.id}"


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


class ActionServerWatch:
    """Whether the action server answers its health check, asked every two seconds.

    Rasa 3.6 runs a turn whose custom action cannot be reached to its end (it logs the
    error and drops the action's events), so the customer would get no answer and the
    inbox item would count as done. While the action server is down (a deploy, a
    restart, a crash) the consumer takes no turns: they wait in the inbox instead."""

    def __init__(self, url: Callable[[], str | None]) -> None:
        self._url = url  # the action endpoint, once the agent is loaded
        self.up = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _watch(self) -> None:
        timeout = aiohttp.ClientTimeout(total=ACTION_HEALTH_TIMEOUT_SECONDS)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            while True:
                self._seen(await self._answers(session))
                await asyncio.sleep(ACTION_HEALTH_EVERY_SECONDS)

    async def _answers(self, session: aiohttp.ClientSession) -> bool:
        url = self._url()
        if url is None:
            return True  # no custom actions configured: nothing to wait for
        try:
            async with session.get(health_url(url)) as resp:
                return resp.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            return False

    def _seen(self, up: bool) -> None:
        if up != self.up:
            if up:
                logger.info("Action server up: the inbox consumer takes turns again")
            else:
                logger.warning("Action server not answering: turns wait in the inbox")
        self.up = up


def health_url(action_url: str) -> str:
    """The action server's health route, from its webhook URL (`endpoints.yml`)."""
    parts = urlsplit(action_url)
    return urlunsplit((parts.scheme, parts.netloc, "/health", "", ""))


def _action_url(app: Any) -> str | None:
    agent = getattr(app.ctx, "agent", None)
    endpoint = getattr(agent, "action_endpoint", None)
    return getattr(endpoint, "url", None)


def _agent_ready(app: Any) -> bool:
    # Rasa drops messages that arrive before its model is loaded: wait for it instead.
    agent = getattr(app.ctx, "agent", None)
    return agent is not None and agent.is_ready()
