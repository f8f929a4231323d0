"""What a sender needs from an output channel that Rasa's interface does not say: whether
a message really went out.

Rasa's `OutputChannel.send_response` returns nothing, and a live turn must not fail on
a lost message, so channels log failures and carry on. A sender that must record a
message as sent (a payment confirmation) calls `deliver` instead, which raises.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


class DeliveryFailed(Exception):
    """The channel could not deliver a message; the text is safe to log."""


@runtime_checkable
class ReportingOutputChannel(Protocol):
    async def deliver(self, recipient_id: str, message: dict[str, Any]) -> list[str]:
        """Send one Rasa response; returns the ids the channel's service gave its
        messages. Raises DeliveryFailed when any part of it did not go out."""
        ...
