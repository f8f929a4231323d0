"""Translate an inbound WhatsApp message into the text and metadata Rasa receives.

Taps carry Rasa payloads (`/checkout`, `/add_to_cart{"product":"ceramic-mug"}`), so
they skip NLU; typed text and locations go through NLU; what the bot cannot read
(media, stickers, unknown types) becomes `/unsupported_message`, which the domain
answers politely.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from channels.whatsapp.models import InboundMessage, Interactive, Location
from channels.whatsapp.render import TOKEN_PREFIX
from channels.whatsapp.store import ChannelState

logger = logging.getLogger(__name__)

UNSUPPORTED = "/unsupported_message"
ADD_TO_CART = "/add_to_cart"
# Nothing to answer: a reaction to one of our messages, or a system notice.
IGNORED_TYPES = frozenset({"reaction", "system"})

_NUMBER_ANSWER = re.compile(r"^\s*#?(\d{1,3})[.)]?\s*$")


@dataclass(frozen=True)
class RasaInput:
    text: str
    metadata: dict[str, Any]
    # The numbered options this message answered, to forget once its turn is saved.
    options_offered: list[str] = field(default_factory=list)


async def to_rasa_input(inbound: InboundMessage, state: ChannelState) -> RasaInput | None:
    """None when the message needs no answer."""
    message = inbound.message
    if message.type in IGNORED_TYPES:
        return None
    # Numbered options hold for the customer's next message only, whatever it is (the
    # caller forgets them after its turn: one that crashes reads them again).
    options = await state.options(message.sender)
    metadata: dict[str, Any] = {
        "whatsapp": {
            "profile_name": inbound.profile_name,
            "wa_id": message.sender,
            "message_id": message.id,
            "type": message.type,
            "timestamp": message.timestamp,
        }
    }

    if message.text is not None:
        text = _chosen_option(message.text, options) or message.text
    elif message.interactive is not None and message.interactive.reply_id is not None:
        text = await _tapped_payload(message.interactive, message.id, state)
    elif message.button is not None:
        text = message.button.payload or message.button.text or UNSUPPORTED
    elif message.order is not None:
        # Our catalog prices apply: item_price from the cart is deliberately dropped.
        # Quantities go on as sent (models.py bounds them): one below 1 is the cart's to
        # refuse, telling the customer why, not ours to turn into 1.
        text = ADD_TO_CART
        metadata["whatsapp_order"] = [
            {"sku": item.sku, "quantity": item.quantity} for item in message.order.items
        ]
    elif message.location is not None:
        location = message.location
        text = _location_text(location)
        metadata["whatsapp_location"] = {
            "latitude": location.latitude,
            "longitude": location.longitude,
            "name": location.name,
            "address": location.address,
        }
    else:
        text = UNSUPPORTED
    return RasaInput(text, metadata, options)


def _chosen_option(text: str, options: list[str]) -> str | None:
    match = _NUMBER_ANSWER.match(text)
    if not (match and options):
        return None
    number = int(match.group(1))
    return options[number - 1] if 1 <= number <= len(options) else None


async def _tapped_payload(interactive: Interactive, message_id: str, state: ChannelState) -> str:
    reply_id = interactive.reply_id or ""
    if not reply_id.startswith(TOKEN_PREFIX):
        return reply_id
    payload = await state.payload_for(reply_id)
    if payload is None:
        # Token forgotten (restart of an in-memory store, or expired): the visible
        # title is the next best thing, understood through NLU.
        logger.warning("Unknown reply token in message %s; using its title", message_id)
        return interactive.title or UNSUPPORTED
    return payload


def _location_text(location: Location) -> str:
    place = ", ".join(part for part in (location.name, location.address) if part)
    pin = f"📍 {round(location.latitude, 6)},{round(location.longitude, 6)}"
    return f"{place} ({pin})" if place else pin
