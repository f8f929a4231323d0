"""Telling the customer about a payment: an EXTERNAL_ intent injected into their conversation.

Done the way Rasa's own `/conversations/<id>/trigger_intent` route does it (tracker
lock, session update, domain check), with the reply going out through the channel the
customer last wrote on. The confirmation action records the confirmation before it
is sent; when the WhatsApp send then fails for good, the record is taken back so
that the reconciler sends it again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from rasa.core.agent import Agent
from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, OutputChannel

from channels.whatsapp import WhatsAppOutput
from orders.payment_events import Applied, Outcome
from orders.store import OrderStore

logger = logging.getLogger(__name__)

CONFIRMATION_INTENT = "EXTERNAL_payment_received"


class _WatchedClient:
    """Delegates to the WhatsApp client and remembers whether a send failed for good.

    WhatsAppOutput logs a failed send and carries on (right for a live turn); here we
    need to know, to take the confirmation record back.
    """

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failed = False

    async def send(self, to: str, message: dict[str, Any]) -> Any:
        try:
            return await self._client.send(to, message)
        except Exception:
            self.failed = True
            raise

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def output_for(
    input_channels: list[InputChannel], channel_name: str | None
) -> tuple[OutputChannel, Callable[[], bool]]:
    """The output channel for a conversation last seen on `channel_name`, and a probe
    telling afterwards whether a message failed to go out."""
    if channel_name == WhatsAppOutput.name():
        whatsapp = next((c for c in input_channels if c.name() == channel_name), None)
        output = whatsapp.get_output_channel() if whatsapp is not None else None
        if isinstance(output, WhatsAppOutput):
            watched = _WatchedClient(output.client)
            return WhatsAppOutput(watched, output.state), lambda: watched.failed  # type: ignore[arg-type]
    # rasa shell, REST, tests: nobody to push to, so the messages are logged.
    return _LoggingOutputChannel(), lambda: False


class _LoggingOutputChannel(CollectingOutputChannel):
    async def _persist_message(self, message: dict[str, Any]) -> None:
        await super()._persist_message(message)
        logger.info(
            "Message for %s (no push channel): %s", message.get("recipient_id"), message.get("text")
        )


class ConversationNotifier:
    """Injects the intent that matches a payment outcome into the customer's conversation."""

    def __init__(
        self,
        agent: Callable[[], Agent | None],
        input_channels: Callable[[], list[InputChannel]],
        store: OrderStore,
    ) -> None:
        self._agent = agent
        self._input_channels = input_channels
        self._store = store

    async def notify(self, applied: Applied) -> bool:
        """Run the outcome's intent in the conversation; False when it could not be run."""
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
        async with agent.lock_store.lock(sender):
            order = await self._store.get(applied.order_number)
            if order is None:
                return False
            if applied.outcome is Outcome.PAID and order.confirmation_sent_at is not None:
                return True  # told already: the lock makes this check race-free
            known = await agent.processor.get_tracker(sender)
            output, failed = output_for(self._input_channels(), known.get_latest_input_channel())
            tracker = await agent.processor.fetch_tracker_and_update_session(sender, output)
            await agent.trigger_intent(
                intent_name=intent,
                entities=[{"entity": "order_number", "value": str(applied.order_number)}],
                output_channel=output,
                tracker=tracker,
            )
            if intent == CONFIRMATION_INTENT and failed():
                return not await self._take_back_confirmation(applied.order_number)
        return True

    async def _take_back_confirmation(self, number: int) -> bool:
        order = await self._store.get(number)
        if order is None or order.confirmation_sent_at is None:
            return False
        released = await self._store.release_confirmation(number, order.confirmation_sent_at)
        if released:
            logger.warning(
                "Confirmation for order #%s could not be delivered; the "
                "reconciler will send it again",
                number,
            )
        return released
