"""A message WhatsApp accepted and then reported failed because its recipient's 24-hour
window was closed: a `failed` status with error 131047, which Meta usually sends
minutes after answering the send with a wamid.

The webhook writes each such status to the inbox (kind `window_closed`, keyed by the
wamid: a redelivered status is one item); the consumer has the outbox send the
message's fallback template in its place, once (`durable.outbox.Outbox.replace_refused`).
It needs no model. Other statuses are only logged (see the channel).
"""

from __future__ import annotations

import logging

from channels.whatsapp.models import Status
from durable.inbox import InboxItem, NewItem
from durable.outbox import LateRefusal, Outbox
from durable.sender import OutboxSender

logger = logging.getLogger(__name__)

KIND = "window_closed"
# Items are ordered per customer; a status without a recipient still needs a key.
NO_RECIPIENT = "whatsapp-status"


def refusal_item(status: Status) -> NewItem:
    recipient = status.recipient_id or NO_RECIPIENT
    return NewItem(KIND, recipient, f"whatsapp-window-closed:{status.message_id}",
                   status.to_stored())


async def consume(item: InboxItem, outbox: Outbox, sender: OutboxSender) -> None:
    """Queue the refused message's template, or say why there is none."""
    status = Status.from_stored(item.payload)
    refusal = "; ".join(
        f"WhatsApp refused it after accepting it: code={error.code} title={error.title} "
        f"details={error.details}"
        for error in status.errors
    )
    done = await outbox.replace_refused(status.message_id, refusal)
    about = (status.message_id, done.outbox_id, done.customer_id)
    if done.outcome is LateRefusal.QUEUED:
        assert done.customer_id is not None and done.fallback is not None
        logger.info(
            "WhatsApp message %s (outbox %s to %s) refused outside the 24-hour window: "
            "sending template %r instead", *about, done.fallback.name,
        )
        sender.flush_soon(done.customer_id)
    elif done.outcome is LateRefusal.NO_TEMPLATE:
        assert done.fallback is not None
        logger.error(
            "WhatsApp message %s (outbox %s to %s) refused outside the 24-hour window and "
            "given up: set %s to an approved template to reach them", *about,
            done.fallback.setting,
        )
    elif done.outcome is LateRefusal.UNKNOWN:
        logger.info("WhatsApp message %s refused outside the 24-hour window: %s",
                    status.message_id, done.outcome.value)
    else:
        logger.warning(
            "WhatsApp message %s (outbox %s to %s) refused outside the 24-hour window: %s",
            *about, done.outcome.value,
        )
