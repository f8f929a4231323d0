"""Telling a customer about a payment: the one sender of payment notices.

`orders.payment_events` (or the reconciler, for a confirmation never sent) decides that
the customer is to be told; this module tells them. Under the conversation's lock it
checks that a confirmation is still due, injects the outcome's EXTERNAL_ intent the way
Rasa's `/conversations/<id>/trigger_intent` route does (a rule runs the action that
words the message), sends what that turn said through the channel the customer last
wrote on, and records a confirmation as sent once the channel accepted it. A send that
fails leaves it unrecorded, and the reconciler's next pass tries again.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import InputChannel, OutputChannel

from channels.delivery import DeliveryFailed, ReportingOutputChannel
from orders.payment_events import Applied, Outcome
from orders.store import OrderStore

logger = logging.getLogger(__name__)

# The customer's output channel for a channel name, or None (rasa shell, REST, tests:
# channels that cannot push a message outside a turn).
OutputResolver = Callable[[str | None], OutputChannel | None]


def channel_outputs(input_channels: Callable[[], list[InputChannel]]) -> OutputResolver:
    """Resolves a channel name among the server's input channels (Rasa's
    `app.ctx.input_channels`), without knowing which channels there are."""

    def resolve(name: str | None) -> OutputChannel | None:
        channel = next((c for c in input_channels() if c.name() == name), None)
        return channel.get_output_channel() if channel is not None else None

    return resolve


class _TurnMessages(OutputChannel):
    """Keeps what a triggered turn says, to be sent once the turn is over."""

    def __init__(self) -> None:
        self.messages: list[dict[str, Any]] = []

    async def send_response(self, recipient_id: str, message: dict[str, Any]) -> None:
        self.messages.append(dict(message))


@functools.cache
def _turn_messages_named(channel_name: str) -> type[_TurnMessages]:
    # Named after the customer's channel: the injected intent is then recorded as on
    # that channel (so the next notice finds it again), and responses are chosen for it.
    return type(
        f"TurnMessages[{channel_name}]",
        (_TurnMessages,),
        {"name": classmethod(lambda cls: channel_name)},
    )


class ConversationNotifier:
    """Runs the intent that matches a payment outcome in the customer's conversation, and
    sends what it said."""

    def __init__(
        self,
        agent: Callable[[], Agent | None],
        outputs: OutputResolver,
        store: OrderStore,
    ) -> None:
        self._agent = agent
        self._outputs = outputs
        self._store = store

    async def notify(self, applied: Applied) -> bool:
        """Tell the customer about `applied`; False when they could not be told (yet)."""
        intent = applied.notify_intent
        if intent is None or applied.order_number is None or not applied.customer_id:
            return True
        agent = self._agent()
        if agent is None or not agent.is_ready():
            logger.error(
                "No Rasa model loaded: order #%s not told about %s (the "
                "reconciler retries confirmations)",
                applied.order_number,
                intent,
            )
            return False
        if intent not in agent.domain.intents:
            logger.error(
                "Intent %s is not in the domain: order #%s not told (add it and "
                "its rule, then retrain)",
                intent,
                applied.order_number,
            )
            return False
        sender = applied.customer_id
        confirming = applied.outcome is Outcome.PAID
        # The lock makes "still due?" and "recorded as sent" one step: a webhook's
        # notice and a reconciler pass for the same order cannot both confirm.
        async with agent.lock_store.lock(sender):
            order = await self._store.get(applied.order_number)
            if order is None:
                return False
            if confirming and order.confirmation_sent_at is not None:
                return True
            channel_name = (await agent.processor.get_tracker(sender)).get_latest_input_channel()
            turn = _turn_messages_named(channel_name or "")()
            tracker = await agent.processor.fetch_tracker_and_update_session(sender, turn)
            await agent.trigger_intent(
                intent_name=intent,
                entities=[{"entity": "order_number", "value": str(applied.order_number)}],
                output_channel=turn,
                tracker=tracker,
            )
            if not await self._send(sender, channel_name, turn.messages):
                return False
            if confirming and turn.messages:
                await self._store.mark_confirmation_sent(applied.order_number)
        return True

    async def _send(self, recipient: str, channel_name: str | None, messages: list[dict]) -> bool:
        output = self._outputs(channel_name)
        for message in messages:
            if output is None:
                logger.info("Message for %s (no push channel): %s", recipient, message.get("text"))
                continue
            if not isinstance(output, ReportingOutputChannel):
                await output.send_response(recipient, dict(message))
                continue
            try:
                await output.deliver(recipient, message)
            except DeliveryFailed as exc:
                logger.warning("Payment notice not delivered (%s); the reconciler retries", exc)
                return False
        return True
