"""A local stand-in for the Graph API messages endpoint (what the bot sends to Meta).

It checks what Meta checks (bearer token, path, `messaging_product`, the shapes and
limits of each message type, after shared/reference/whatsapp-cloud-api.md) and answers
like Meta: a message id on success, the documented error body with a `fbtrace_id` on
failure. Every request is recorded and handed to an observer (the sandbox's journal),
and failures can be scripted (e.g. 429/130429, 500) to exercise the client's retries.
A recipient can be put outside the 24-hour window (`close_window`): free-form messages
to them are then refused with 131047 (re-engagement), as Meta does; templates go.

The tests run it on its own loopback port (`start`); the sandbox mounts its routes
under a prefix of its one web server (`routes`).
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from sandbox.exchange import Exchange, Observer


@dataclass
class Recorded:
    path: str  # relative to the stand-in: /v21.0/<phone number id>/messages
    authorization: str | None
    body: Any
    status: int


class ValidationError(Exception):
    def __init__(self, code: int, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class GraphApiStandIn:
    def __init__(
        self,
        token: str,
        phone_number_id: str,
        api_version: str,
        *,
        prefix: str = "",
        latency: float = 0.0,
        observer: Observer | None = None,
    ) -> None:
        self.token = token
        self.path = f"/{api_version}/{phone_number_id}/messages"
        self.prefix = prefix.rstrip("/")
        self.latency = latency
        self.observer = observer
        self.requests: list[Recorded] = []
        self._failures: list[tuple[int, int | None, str]] = []
        self._outside_window: set[str] = set()
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.base_url = ""
        self._changed = asyncio.Event()

    # -- serving -----------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        return [web.route("*", self.prefix + "/{tail:.*}", self._handle)]

    async def start(self) -> GraphApiStandIn:
        """Serve on its own free loopback port (tests); sets `base_url`."""
        app = web.Application(client_max_size=10 * 1024 * 1024)
        app.add_routes(self.routes())
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}{self.prefix}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    # -- scripting and inspection ------------------------------------------------

    def fail_next(self, times: int, status: int, code: int | None, message: str = "") -> None:
        """Answer the next `times` calls with this error (code None: no Graph body)."""
        self._failures.extend([(status, code, message or f"scripted error {code}")] * times)

    def close_window(self, recipient: str) -> None:
        """`recipient` last wrote to the business more than 24 hours ago."""
        self._outside_window.add(recipient)

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Message bodies accepted (read receipts excluded)."""
        return [r.body for r in self.requests if r.status == 200 and "type" in r.body]

    @property
    def read_receipts(self) -> list[dict[str, Any]]:
        return [r.body for r in self.requests if r.status == 200 and "status" in r.body]

    async def wait_for_sent(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async def until() -> None:
            while len(self.sent) < count:
                self._changed.clear()
                await self._changed.wait()

        await asyncio.wait_for(until(), timeout)
        return self.sent

    # -- the endpoint ------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            body: Any = await request.json()
        except ValueError:
            body = None
        path = "/" + request.match_info["tail"]
        status, answer = self._answer(request, path, body)
        recorded = Recorded(path, request.headers.get("Authorization"), body, status)
        self.requests.append(recorded)
        self._changed.set()
        if self.observer is not None:
            self.observer(Exchange("graph", request.method, path, status, body, answer))
        return web.json_response(answer, status=status)

    def _answer(self, request: web.Request, path: str, body: Any) -> tuple[int, dict[str, Any]]:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, error_body(190, "Invalid OAuth access token - Cannot parse access token")
        if request.method != "POST" or path != self.path:
            return 400, error_body(100, f"Unsupported {request.method} request to {path}")
        if self._failures:
            status, code, message = self._failures.pop(0)
            return status, (error_body(code, message) if code is not None else {"oops": True})
        try:
            validate(body)
        except ValidationError as exc:
            return 400, error_body(exc.code, exc.details)
        if body.get("status") == "read":
            return 200, {"success": True}
        if body["to"] in self._outside_window and body.get("type") != "template":
            return 400, error_body(131047, REENGAGEMENT_DETAILS)
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": f"wamid.SANDBOX{next(self._ids):08d}"}],
        }


REENGAGEMENT_DETAILS = (
    "Message failed to send because more than 24 hours have passed since the customer "
    "last replied to this number."
)


def error_body(code: int, details: str) -> dict[str, Any]:
    titles = {100: "Invalid parameter", 131008: "Required parameter is missing",
              131009: "Parameter value is not valid", 190: "Access token has expired",
              130429: "Rate limit hit", 131056: "Pair rate limit hit",
              131047: "Re-engagement message"}
    return {
        "error": {
            "message": f"(#{code}) {titles.get(code, 'Error')}",
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details},
            "fbtrace_id": "A" + secrets.token_urlsafe(15),
        }
    }


# -- validation, after the limits in shared/reference/whatsapp-cloud-api.md ------------


def _require(condition: bool, details: str, code: int = 131009) -> None:
    if not condition:
        raise ValidationError(code, details)


def _text_within(value: Any, limit: int, what: str, required: bool = True) -> None:
    if value is None and not required:
        return
    _require(isinstance(value, str) and value != "", f"{what} is required", 131008)
    _require(len(value) <= limit, f"{what} is longer than {limit} characters")


def validate(body: Any) -> None:
    _require(isinstance(body, dict), "body must be a JSON object", 100)
    _require(body.get("messaging_product") == "whatsapp", "messaging_product must be whatsapp",
             100)
    if body.get("status") is not None:
        _require(body["status"] == "read", "status must be read", 100)
        _text_within(body.get("message_id"), 512, "message_id")
        indicator = body.get("typing_indicator")
        _require(indicator is None or indicator == {"type": "text"}, "typing_indicator.type")
        return
    _text_within(body.get("to"), 64, "to")
    kind = body.get("type", "text")
    _require(isinstance(body.get(kind), dict), f"{kind} object is required", 131008)
    validators = {"text": _text, "image": _image, "interactive": _interactive,
                  "template": _template}
    _require(kind in validators, f"unsupported message type {kind}", 100)
    validators[kind](body[kind])


def _text(text: dict[str, Any]) -> None:
    _text_within(text.get("body"), 4096, "text.body")


def _image(image: dict[str, Any]) -> None:
    _require(bool(image.get("link") or image.get("id")), "image.link or image.id", 131008)
    _text_within(image.get("caption"), 1024, "image.caption", required=False)


def _template(template: dict[str, Any]) -> None:
    _text_within(template.get("name"), 512, "template.name")
    language = template.get("language")
    _require(isinstance(language, dict) and bool(language.get("code")),
             "template.language.code", 131008)
    components = template.get("components", [])
    _require(isinstance(components, list), "template.components must be a list")
    for component in components:
        _require(isinstance(component, dict) and component.get("type") in
                 ("header", "body", "button"), "template component type")
        for parameter in component.get("parameters") or []:
            _require(isinstance(parameter, dict) and bool(parameter.get("type")),
                     "template parameter type", 131008)
            if parameter["type"] == "text":
                text = parameter.get("text")
                _require(isinstance(text, str) and text != "", "parameter text", 131008)
                _require(not any(c in text for c in "\n\t") and "     " not in text,
                         "parameter text has a new line, a tab or 5 spaces in a row")


def _interactive(interactive: dict[str, Any]) -> None:
    kind = interactive.get("type")
    action = interactive.get("action")
    _require(isinstance(action, dict), "interactive.action is required", 131008)
    body = (interactive.get("body") or {}).get("text")
    footer = (interactive.get("footer") or {}).get("text")
    _text_within(footer, 60, "interactive.footer.text", required=False)
    if kind == "button":
        _text_within(body, 1024, "interactive.body.text")
        buttons = action.get("buttons") or []
        _require(1 <= len(buttons) <= 3, "between 1 and 3 buttons")
        for b in buttons:
            _require(b.get("type") == "reply", "button type must be reply")
            _text_within(b["reply"].get("id"), 256, "button id")
            _text_within(b["reply"].get("title"), 20, "button title")
        titles = [b["reply"]["title"] for b in buttons]
        ids = [b["reply"]["id"] for b in buttons]
        _require(len(set(titles)) == len(titles), "button titles must be unique")
        _require(len(set(ids)) == len(ids), "button ids must be unique")
    elif kind == "list":
        _text_within(body, 4096, "interactive.body.text")
        _text_within(action.get("button"), 20, "action.button")
        sections = action.get("sections") or []
        _require(1 <= len(sections) <= 10, "between 1 and 10 sections")
        rows = [row for section in sections for row in section.get("rows") or []]
        _require(1 <= len(rows) <= 10, "between 1 and 10 rows in total")
        for section in sections:
            _text_within(section.get("title"), 24, "section title", required=len(sections) > 1)
        for row in rows:
            _text_within(row.get("id"), 200, "row id")
            _text_within(row.get("title"), 24, "row title")
            _text_within(row.get("description"), 72, "row description", required=False)
        ids = [row["id"] for row in rows]
        _require(len(set(ids)) == len(ids), "row ids must be unique")
    elif kind == "cta_url":
        _text_within(body, 1024, "interactive.body.text")
        _require(action.get("name") == "cta_url", "action.name must be cta_url")
        parameters = action.get("parameters") or {}
        _text_within(parameters.get("display_text"), 20, "display_text")
        url = parameters.get("url")
        _require(isinstance(url, str) and url.startswith(("http://", "https://")), "url")
    elif kind in ("product", "product_list"):
        _text_within(action.get("catalog_id"), 64, "catalog_id")
        if kind == "product":
            _text_within(action.get("product_retailer_id"), 100, "product_retailer_id")
        else:
            header = interactive.get("header") or {}
            _require(header.get("type") == "text", "product_list needs a text header", 131008)
            _text_within(body, 1024, "interactive.body.text")
            items = [i for s in action.get("sections") or [] for i in s.get("product_items", [])]
            _require(1 <= len(items) <= 30, "between 1 and 30 products")
    else:
        raise ValidationError(100, f"unsupported interactive type {kind}")
