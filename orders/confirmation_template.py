"""The payment confirmation's approved template, for a customer whose 24-hour window is
closed.

WhatsApp delivers free-form text to a customer only within 24 hours of their last
message; a link paid later would leave the confirmation refused (code 131047). The
confirmation therefore carries PAYMENT_CONFIRMATION_TEMPLATE, an approved template, for
the sender to use in its place (see `durable.outbox.FallbackTemplate`). Only the
confirmation of a successful payment carries it: the other payment notices (failed,
expired) ask the customer to act in the chat, which a template cannot do for them.

Its body parameters, {{1}} and {{2}}, are the order's number and the amount paid as the
customer sees them in the confirmation ("#10003", "₹500"), both from the order.

Its language is PAYMENT_CONFIRMATION_TEMPLATE_LANGUAGE (default `en`); a customer whose
conversation is in Hindi (Devanagari, the `language` slot `hi`) gets
PAYMENT_CONFIRMATION_TEMPLATE_LANGUAGE_HI when it is set (the code of the template's
Hindi translation, `hi`). Hinglish customers (`hi-Latn`) get the default: WhatsApp has
no code for Hindi in Latin letters, and the bot never writes Devanagari to them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from commerce.money import format_inr
from durable.outbox import FallbackTemplate
from orders.store import Order

TEMPLATE_SETTING = "PAYMENT_CONFIRMATION_TEMPLATE"
HINDI_LANGUAGE_SETTING = f"{TEMPLATE_SETTING}_LANGUAGE_HI"
# The template's body parameters, {{1}} {{2}}: the order's number, the amount paid.
TEMPLATE_PARAMETERS = ("order_number", "amount_paid")
# The response that words the confirmation (actions/payments.py utters it): the
# message of a paid outcome's turn that the template stands in for.
RESPONSE = "utter_payment_received"
HINDI = "hi"


def fallback_template(
    order: Order, conversation_language: str | None, env: Mapping[str, str] = os.environ
) -> FallbackTemplate:
    """The confirmation of `order` (paid: its total is what was paid) as
    PAYMENT_CONFIRMATION_TEMPLATE, in the customer's language where one is configured;
    no name when the setting is not set."""
    values = {"order_number": f"#{order.number}", "amount_paid": format_inr(order.total)}
    languages = (HINDI_LANGUAGE_SETTING,) if conversation_language == HINDI else ()
    parameters = [values[key] for key in TEMPLATE_PARAMETERS]
    return FallbackTemplate.configured(TEMPLATE_SETTING, parameters, env, languages)


def attach(
    messages: Sequence[dict[str, Any]], fallback: FallbackTemplate
) -> list[dict[str, Any]]:
    """A paid outcome's turn, its confirmation carrying `fallback`; what else the turn
    said (a checkout form's next question) is left as it is, so that the template goes
    out once."""
    return [
        fallback.attach(message) if message.get("utter_action") == RESPONSE else message
        for message in messages
    ]
