"""What a sender needs from an output channel that Rasa's interface does not say: whether
a message really went out, and where to find a customer's channel.

Rasa's `OutputChannel.send_response` returns nothing, and a live turn must not fail on
a lost message, so channels log failures and carry on. The outbox's sender calls
`deliver` instead, which raises and says what did go out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

from rasa.core.channels.channel import InputChannel, OutputChannel


class DeliveryFailed(Exception):
    """The channel could not deliver (all of) a message; the text is safe to log."""

    def __init__(
        self,
        reason: str,
        *,
        permanent: bool = False,
        message_ids: Sequence[str] = (),
        window_closed: bool = False,
    ) -> None:
        super().__init__(reason)
        # Permanent: the same request will never work (a bad number, a closed window).
        self.permanent = permanent
        # The recipient's service window is closed (WhatsApp: 24 hours after their last
        # message): free-form messages are refused, an approved template still goes.
        self.window_closed = window_closed
        # The parts of the response that did go out before the failure.
        self.message_ids = tuple(message_ids)


@runtime_checkable
class ReportingOutputChannel(Protocol):
    async def deliver(self, recipient_id: str, message: dict[str, Any], skip: int = 0) -> list[str]:
        """Send one Rasa response, leaving out its first `skip` parts (sent before);
        returns the ids the service gave the parts it sent. Raises DeliveryFailed."""
        ...


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
