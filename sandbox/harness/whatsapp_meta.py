"""What Meta sends to the webhook, with the tests' secret and ids (the builders and the
signature live in sandbox/meta_events.py, independent of the channel's code, so the
tests check the channel against the documented scheme, not against itself); and a
Rasa-style Sanic server running in-process on a loopback port.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
from rasa.core.channels import channel as rasa_channel
from rasa.core.channels.channel import InputChannel, UserMessage
from sanic import Sanic

from sandbox import meta_events

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
WABA_ID = "102290129340398"
PHONE_NUMBER_ID = "106540352242922"
CUSTOMER = "919876543210"

_apps = itertools.count(1)


def sign(body: bytes, secret: str = APP_SECRET) -> str:
    return meta_events.sign(body, secret)


def wamid() -> str:
    return meta_events.wamid()


def message(kind: str, content: dict[str, Any] | None = None, *, sender: str = CUSTOMER,
            message_id: str | None = None, **extra: Any) -> dict[str, Any]:
    """One entry of `value.messages`, e.g. message("text", {"body": "hi"})."""
    return meta_events.message(kind, content, sender=sender, message_id=message_id, **extra)


def value(messages: list[dict[str, Any]] | None = None,
          statuses: list[dict[str, Any]] | None = None,
          names: dict[str, str] | None = None) -> dict[str, Any]:
    """A `messages` change value with a contact for every sender."""
    return meta_events.value(messages, statuses, names, phone_number_id=PHONE_NUMBER_ID)


def envelope(*values: dict[str, Any], entries: int = 1) -> dict[str, Any]:
    """`values` spread over `entries` entries, one change per value."""
    return meta_events.envelope(*values, waba_id=WABA_ID, entries=entries)


def event(*messages: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    return envelope(value(list(messages), **kwargs))


def status(state: str, errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    result: dict[str, Any] = {
        "id": wamid(), "status": state, "timestamp": "1732600001", "recipient_id": CUSTOMER,
    }
    if errors:
        result["errors"] = errors
    return result


class RecordingAgent:
    """Stands in for `app.ctx.agent`: records messages, optionally answers them."""

    def __init__(self, reply: bool = False, delay: float = 0.0, ready: bool = True) -> None:
        self.messages: list[UserMessage] = []
        self.reply = reply
        self.delay = delay
        self.ready = ready
        self._arrived = asyncio.Event()

    def is_ready(self) -> bool:
        return self.ready

    async def handle_message(self, message: UserMessage) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(message)
        self._arrived.set()
        if self.reply:
            await message.output_channel.send_text_message(message.sender_id,
                                                           f"echo: {message.text}")

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[UserMessage]:
        async def until() -> None:
            while len(self.messages) < count:
                self._arrived.clear()
                await self._arrived.wait()

        await asyncio.wait_for(until(), timeout)
        return self.messages


class Webhook:
    """HTTP client for a running server's WhatsApp routes."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url
        self.url = f"{base_url}/webhooks/whatsapp/webhook"
        self.session = session

    async def post(self, payload: Any, *, secret: str | None = APP_SECRET,
                   signature: str | None = None, raw: bytes | None = None,
                   ) -> tuple[int, Any]:
        body = raw if raw is not None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"}
        if signature is not None:
            headers["X-Hub-Signature-256"] = signature
        elif secret is not None:
            headers["X-Hub-Signature-256"] = sign(body, secret)
        async with self.session.post(self.url, data=body, headers=headers) as resp:
            return resp.status, await _body(resp)

    async def get(self, path: str = "/webhooks/whatsapp/webhook",
                  params: dict[str, str] | None = None) -> tuple[int, str, str]:
        async with self.session.get(self.base_url + path, params=params) as resp:
            return resp.status, resp.content_type, await resp.text()


async def _body(resp: aiohttp.ClientResponse) -> Any:
    text = await resp.text()
    try:
        return json.loads(text)
    except ValueError:
        return text


@asynccontextmanager
async def serve(channels: list[InputChannel], agent: Any) -> AsyncIterator[Webhook]:
    """Mount the channels like `rasa run` does and serve on 127.0.0.1:<free port>."""
    app = Sanic(f"whatsapp_test_{next(_apps)}", configure_logging=False)
    app.ctx.agent = agent
    rasa_channel.register(channels, app, route="/webhooks/")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # Already listening when created; routes work once startup() has finalised them.
    server = await app.create_server(sock=sock, return_asyncio_server=True, access_log=False)
    assert server is not None
    await server.startup()
    await server.before_start()
    await server.after_start()
    try:
        async with aiohttp.ClientSession() as session:
            yield Webhook(f"http://127.0.0.1:{port}", session)
    finally:
        await server.before_stop()
        for connection in list(server.connections):
            connection.close_if_idle()
        server.close()
        await server.wait_closed()
        await server.after_stop()
