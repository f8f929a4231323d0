"""For the sandbox's HTTP tests: serving an aiohttp app on loopback, and a stand-in for the
bot's side (the Rasa server's webhook routes and tracker API) that records what arrives.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from sandbox.app import build_app
from sandbox.settings import SandboxSettings

TOKEN = "rasa-api-token"


@asynccontextmanager
async def serve(app: web.Application, port: int = 0) -> AsyncIterator[str]:
    """Serve `app` on 127.0.0.1 (a free port unless given); yields the base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    bound = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{bound}"
    finally:
        await runner.cleanup()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class RecordingBot:
    """Answers webhooks like Rasa's channels do (200 accepted) and serves canned trackers."""

    deliveries: list[Delivery] = field(default_factory=list)
    trackers: dict[str, dict[str, Any]] = field(default_factory=dict)
    # What the health check reports as "consuming" (Rasa's inbox consumer running);
    # None leaves it out, as a server without an inbox does.
    consuming: bool | None = None
    refuse: int | None = None  # answer webhooks with this status (e.g. 403) instead of 200

    def app(self) -> web.Application:
        app = web.Application()
        app.add_routes([
            web.get("/webhooks/whatsapp/", self._health),
            web.post("/webhooks/{channel}/webhook", self._webhook),
            web.get("/conversations/{sender}/tracker", self._tracker),
        ])
        return app

    async def _health(self, request: web.Request) -> web.Response:
        report: dict[str, Any] = {"status": "ok"}
        if self.consuming is not None:
            report["consuming"] = self.consuming
        return web.json_response(report)

    async def _webhook(self, request: web.Request) -> web.Response:
        self.deliveries.append(Delivery(request.path, dict(request.headers), await request.read()))
        if self.refuse:
            return web.json_response({"error": "refused"}, status=self.refuse)
        return web.json_response({"status": "accepted", "messages": 1})

    async def _tracker(self, request: web.Request) -> web.Response:
        if request.query.get("token") != TOKEN:
            return web.json_response({"message": "User is not authenticated."}, status=401)
        sender = request.match_info["sender"]
        return web.json_response(self.trackers.get(sender, {"sender_id": sender, "events": []}))


def settings(rasa_url: str, **overrides: Any) -> SandboxSettings:
    values: dict[str, Any] = {
        "host": "127.0.0.1", "port": 0, "public_url": "http://localhost:8080",
        "rasa_url": rasa_url, "shop_name": "Test shop",
        "access_token": "sbx-access", "phone_number_id": "100000000000002",
        "api_version": "v21.0", "app_secret": "sbx-app-secret",
        "key_id": "rzp_test_sandbox", "key_secret": "sbx-key-secret",
        "webhook_secret": "sbx-webhook-secret", "rasa_token": TOKEN,
    }
    values.update(overrides)
    return SandboxSettings(**values)


Running = tuple[str, RecordingBot, web.Application]


@asynccontextmanager
async def sandbox_with_bot(**overrides: Any) -> AsyncIterator[Running]:
    """The sandbox app on a free port, talking to a RecordingBot; yields (url, bot, app)."""
    bot = RecordingBot()
    async with serve(bot.app()) as bot_url:
        app = build_app(settings(bot_url, **overrides))
        async with serve(app) as url:
            yield url, bot, app
