"""The WhatsApp Cloud API channel: typed payloads, a Graph API client, rendering, and the
Rasa input/output channel that ties them together.

credentials.yml names `channels.whatsapp.WhatsAppInput`; the package exports it.

- `channel`: the Rasa input and output channels (routes, signature check, dispatch)
- `models`: typed webhook payloads, parsed at the edge
- `inbound`: a parsed message as the text and metadata Rasa reads
- `render`: Rasa responses as WhatsApp messages (buttons, lists, numbered text)
- `client`: the Graph API client (send, mark as read), with retries and timeouts
- `store`: reply tokens and numbered options, in memory or in Redis
"""

from channels.whatsapp.channel import (
    OnNewMessage,
    WhatsAppInput,
    WhatsAppOutput,
    WhatsAppSettings,
    signature_is_valid,
)

__all__ = [
    "OnNewMessage",
    "WhatsAppInput",
    "WhatsAppOutput",
    "WhatsAppSettings",
    "signature_is_valid",
]
