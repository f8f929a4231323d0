"""What Meta sends to the WhatsApp webhook: event payloads shaped like Meta's, and signed.

The sandbox's chat page and the tests build customer messages with these. The
signature is computed here from the documented scheme (shared/reference/
whatsapp-cloud-api.md), independently of the channel's own check.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import secrets
import time
from typing import Any

DISPLAY_PHONE_NUMBER = "15550000000"
_ids = itertools.count(1)
_run = secrets.token_hex(4).upper()  # ids from two sandbox runs never collide


def sign(body: bytes, secret: str) -> str:
    """X-Hub-Signature-256: `sha256=` + hex HMAC-SHA256 of the raw body with the app secret."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def wamid() -> str:
    return f"wamid.HBgMOTE5ODc2NTQzMjEwFQIAEhgg{_run}{next(_ids):012d}"


def message(kind: str, content: dict[str, Any] | None = None, *, sender: str,
            message_id: str | None = None, timestamp: int | None = None,
            **extra: Any) -> dict[str, Any]:
    """One entry of `value.messages`, e.g. message("text", {"body": "hi"}, sender=...)."""
    result: dict[str, Any] = {
        "from": sender,
        "id": message_id or wamid(),
        "timestamp": str(timestamp if timestamp is not None else 1732600000),
        "type": kind,
        **extra,
    }
    if content is not None:
        result[kind] = content
    return result


def now() -> int:
    return int(time.time())


def value(messages: list[dict[str, Any]] | None = None,
          statuses: list[dict[str, Any]] | None = None,
          names: dict[str, str] | None = None, *,
          phone_number_id: str, default_name: str = "Asha Verma") -> dict[str, Any]:
    """A `messages` change value with a contact for every sender."""
    names = names or {}
    result: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": DISPLAY_PHONE_NUMBER,
                     "phone_number_id": phone_number_id},
    }
    if messages:
        senders = dict.fromkeys(m["from"] for m in messages)
        result["contacts"] = [
            {"profile": {"name": names.get(s, default_name)}, "wa_id": s} for s in senders
        ]
        result["messages"] = messages
    if statuses:
        result["statuses"] = statuses
    return result


def envelope(*values: dict[str, Any], waba_id: str, entries: int = 1) -> dict[str, Any]:
    """`values` spread over `entries` entries, one change per value."""
    chunks = [list(values[i::entries]) for i in range(entries)]
    return {
        "object": "whatsapp_business_account",
        "entry": [
            {"id": waba_id, "changes": [{"field": "messages", "value": v} for v in chunk]}
            for chunk in chunks
        ],
    }
