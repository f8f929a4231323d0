"""The Rasa side of the payment tests: the Razorpay channel served on a real loopback port.

`serve()` mounts the channels with Rasa's own `register` on a Sanic app and runs it on
127.0.0.1 with the server lifecycle (listeners included). `StubAgent` stands in for
`rasa.core.agent.Agent` where no trained model is at hand: its lock store, tracker
store, external UserUttered events and output channels are Rasa's, and the payment
actions run for real; only the policy is replaced by the rules of data/rules/payment.yml
(each EXTERNAL_ intent runs its action).
"""

from __future__ import annotations

import asyncio
import functools
import socket
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import InputChannel, OutputChannel, register
from rasa.core.lock_store import InMemoryLockStore
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.core.tracker_store import InMemoryTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sanic import Sanic

from actions.payments import ActionPaymentFailed, ActionPaymentLinkExpired, ActionPaymentReceived
from orders.store import Order, OrderStore

CUSTOMER = "919812345678"


@dataclass
class Line:
    sku: str
    name: str
    unit_price: int
    quantity: int


LINES = [
    Line("masala-chai-250g", "Masala Chai 250 g", 25000, 2),
    Line("ceramic-mug", "Ceramic Tea Mug", 29900, 1),
]
TOTAL = 2 * 25000 + 29900


async def place_order(store: OrderStore, customer: str = CUSTOMER) -> Order:
    return await store.create_order(customer, "Asha Rao", "12 MG Road, Bengaluru", "560001", LINES)


RULES = {
    "EXTERNAL_payment_received": ActionPaymentReceived,
    "EXTERNAL_payment_failed": ActionPaymentFailed,
    "EXTERNAL_payment_link_expired": ActionPaymentLinkExpired,
}
# The actions choose responses; their words are the domain's, as in a real Rasa.
DOMAIN_FILE = Path(__file__).resolve().parents[2] / "domain.yml"


@functools.cache
def _responses() -> TemplatedNaturalLanguageGenerator:
    return TemplatedNaturalLanguageGenerator(Domain.load(str(DOMAIN_FILE)).responses)


class StubAgent:
    def __init__(self, action_delay: float = 0.0) -> None:
        self.lock_store = InMemoryLockStore()
        self.tracker_store = InMemoryTrackerStore(Domain.empty())
        self.domain = SimpleNamespace(intents=list(RULES))
        self.processor = self
        self.action_delay = action_delay  # the action server's round trip
        self.triggered: list[tuple[str, str, list[dict[str, Any]]]] = []
        self.concurrent = 0
        self.max_concurrent = 0
        self.nlg = _responses()

    def is_ready(self) -> bool:
        return True

    async def seed(self, sender_id: str, channel: str) -> None:
        """A conversation whose customer last wrote on `channel`."""
        tracker = await self.get_tracker(sender_id)
        tracker.update(UserUttered("pay now", {"name": "pay_now"}, input_channel=channel))
        await self.tracker_store.save(tracker)

    async def get_tracker(self, sender_id: str) -> DialogueStateTracker:
        return await self.tracker_store.get_or_create_tracker(sender_id)

    async def fetch_tracker_and_update_session(
        self, sender_id: str, output_channel: OutputChannel | None = None, metadata: Any = None
    ) -> DialogueStateTracker:
        return await self.get_tracker(sender_id)

    async def trigger_intent(
        self,
        intent_name: str,
        entities: list[dict[str, Any]],
        output_channel: OutputChannel,
        tracker: DialogueStateTracker,
    ) -> None:
        self.concurrent += 1
        self.max_concurrent = max(self.max_concurrent, self.concurrent)
        try:
            self.triggered.append((tracker.sender_id, intent_name, entities))
            tracker.update(
                UserUttered.create_external(
                    intent_name, entities, tracker.get_latest_input_channel()
                )
            )
            await asyncio.sleep(self.action_delay)
            dispatcher = CollectingDispatcher()
            state = tracker.current_state(EventVerbosity.AFTER_RESTART)
            await RULES[intent_name]().run(dispatcher, Tracker.from_dict(state), {})
            said = await RemoteAction._utter_responses(
                dispatcher.messages, output_channel, self.nlg, tracker
            )
            for bot in said:
                await output_channel.send_response(tracker.sender_id, bot.message())
            await self.tracker_store.save(tracker)
        finally:
            self.concurrent -= 1


@asynccontextmanager
async def serve(input_channels: list[InputChannel], agent: Any) -> AsyncIterator[str]:
    """Run the channels on 127.0.0.1, as Rasa mounts them; yields the base URL."""
    Sanic.test_mode = True  # many apps in one process
    app = Sanic(f"payments_{uuid.uuid4().hex[:8]}")
    app.ctx.agent = agent
    register(input_channels, app, route="/webhooks/")
    async with run_app(app) as base_url:
        yield base_url


@asynccontextmanager
async def run_app(app: Sanic) -> AsyncIterator[str]:
    """Serve `app` on a free loopback port with its listeners; yields the base URL."""
    app.config.ACCESS_LOG = False
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = await app.create_server(sock=sock, return_asyncio_server=True)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await server.before_stop()
        await server.close()
        await server.after_stop()
        sock.close()
