"""The merchant's notice of a new handover: its words from the domain, in the merchant's
language, queued in the durable outbox to MERCHANT_WHATSAPP_NUMBER.

Free-form text reaches the merchant only within 24 hours of their last message to the
business number; the notice carries MERCHANT_NOTICE_TEMPLATE, an approved template, for
the sender to use outside that window (see `durable.outbox.FallbackTemplate`).

The action server has no Rasa agent, only the domain rasa-sdk hands to an action, so
the response `utter_merchant_handover` is picked and filled here: the variation whose
`language` condition is MERCHANT_LANGUAGE (en: the one without a condition).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.engine import Connection

from durable import outbox
from durable.outbox import FallbackTemplate

logger = logging.getLogger(__name__)

RESPONSE = "utter_merchant_handover"
DEFAULT_LANGUAGE = "en"
LANGUAGES = ("en", "hi-Latn", "hi")
INBOX_PATH = "/webhooks/merchant/"
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
TEMPLATE_SETTING = "MERCHANT_NOTICE_TEMPLATE"
# The template's body parameters, {{1}} {{2}} {{3}}: the customer's number, why they
# asked for a person, the inbox page.
TEMPLATE_PARAMETERS = ("customer", "reason", "inbox_url")


def merchant_number(env: Mapping[str, str] = os.environ) -> str | None:
    """MERCHANT_WHATSAPP_NUMBER as WhatsApp wants it: digits with the country code."""
    digits = re.sub(r"\D", "", env.get("MERCHANT_WHATSAPP_NUMBER", ""))
    return digits or None


def merchant_language(env: Mapping[str, str] = os.environ) -> str:
    language = (env.get("MERCHANT_LANGUAGE") or DEFAULT_LANGUAGE).strip()
    if language not in LANGUAGES:
        logger.warning("MERCHANT_LANGUAGE=%r is not one of %s: using en", language, LANGUAGES)
        return DEFAULT_LANGUAGE
    return language


def inbox_url(env: Mapping[str, str] = os.environ) -> str:
    """Where the merchant answers: MERCHANT_INBOX_URL (the public address of the page)."""
    return env.get("MERCHANT_INBOX_URL") or INBOX_PATH


def fallback_template(
    values: Mapping[str, str], env: Mapping[str, str] = os.environ
) -> FallbackTemplate:
    """The notice as MERCHANT_NOTICE_TEMPLATE (in MERCHANT_NOTICE_TEMPLATE_LANGUAGE),
    for when the merchant's 24-hour window is closed; no name when it is not set."""
    parameters = [values[key] for key in TEMPLATE_PARAMETERS]
    return FallbackTemplate.configured(TEMPLATE_SETTING, parameters, env)


def words(domain: Mapping[str, Any], language: str, values: Mapping[str, str]) -> str | None:
    """The notice's text in `language`, its {placeholders} filled; None when the domain
    has no such response (a model trained before it was added)."""
    variations = (domain.get("responses") or {}).get(RESPONSE) or []
    default = next((v for v in variations if not v.get("condition")), None)
    chosen = next((v for v in variations if _language_of(v) == language), None)
    variation = chosen or default
    if variation is None or not variation.get("text"):
        return None
    return _PLACEHOLDER.sub(
        lambda match: values.get(match.group(1), match.group(0)), variation["text"]
    )


def _language_of(variation: Mapping[str, Any]) -> str | None:
    for condition in variation.get("condition") or []:
        if condition.get("type") == "slot" and condition.get("name") == "language":
            return str(condition.get("value"))
    return None


def queue_in(
    conn: Connection,
    recipient: str,
    channel: str,
    source: str,
    text: str,
    fallback: FallbackTemplate,
) -> None:
    """Write the notice to the outbox in the caller's transaction; a second write under
    the same `source` is ignored."""
    message = fallback.attach({"text": text})
    outbox.add_in(conn, recipient, channel, source, outbox.keyed([message]))
