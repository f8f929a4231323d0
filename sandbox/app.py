"""The sandbox web server: the chat page, the checkout pages, the two stand-ins, and the
small JSON API the pages use. One aiohttp application on one port.

  /                       the WhatsApp-like chat page (static/index.html)
  /pay/{link_id}          a payment link's checkout page (static/checkout.html)
  /graph/...              the Graph API stand-in (WHATSAPP_API_BASE_URL points here)
  /razorpay/v1/...        the Razorpay stand-in (RAZORPAY_API_BASE_URL points here)
  /sandbox/api/...        what the pages call: send as a customer, history, live
                          stream, request log, designer insight, catalog, checkout
"""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from typing import Any

from aiohttp import web

from commerce.catalog import load_catalog
from sandbox import insight
from sandbox.bot import BotClient
from sandbox.brand import page_header
from sandbox.checkout import Checkout, CheckoutError
from sandbox.customer import NAME_LIMIT, PHONE, TEXT_LIMIT, CustomerInputError, Customers
from sandbox.graph_api import GraphApiStandIn
from sandbox.journal import Journal
from sandbox.razorpay_api import RazorpayStandIn
from sandbox.settings import SandboxSettings

logger = logging.getLogger(__name__)

STATIC = Path(__file__).resolve().parent / "static"
GRAPH_PREFIX = "/graph"
RAZORPAY_PREFIX = "/razorpay"
CHAT_KINDS = ("customer", "delivery", "bot", "read", "rejected")
LOG_SIZE = 300
KEEP_ALIVE_SECONDS = 15.0
# The pages build every element from text (never markup): this keeps it so, and keeps
# out inline script and event-handler attributes should markup ever slip in.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; "
        "img-src 'self' data: https: http:; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

SETTINGS = web.AppKey("settings", SandboxSettings)
JOURNAL = web.AppKey("journal", Journal)
BOT = web.AppKey("bot", BotClient)
CUSTOMERS = web.AppKey("customers", Customers)
CHECKOUT = web.AppKey("checkout", Checkout)
STANDINS = web.AppKey("standins", tuple)


def build_app(settings: SandboxSettings) -> web.Application:
    journal = Journal()
    graph = GraphApiStandIn(settings.access_token, settings.phone_number_id,
                            settings.api_version, prefix=GRAPH_PREFIX,
                            observer=journal.record_exchange)
    razorpay = RazorpayStandIn(settings.key_id, settings.key_secret, settings.webhook_secret,
                               prefix=RAZORPAY_PREFIX,
                               link_url=lambda link_id: f"{settings.public_url}/pay/{link_id}",
                               observer=journal.record_exchange)
    bot = BotClient(settings.rasa_url, settings.rasa_token, journal, settings.webhook_url)

    app = web.Application(middlewares=[_json_errors])
    app[SETTINGS] = settings
    app[JOURNAL] = journal
    app[BOT] = bot
    app[CUSTOMERS] = Customers(bot, settings.app_secret, settings.phone_number_id)
    app[CHECKOUT] = Checkout(razorpay, bot)
    app[STANDINS] = (graph, razorpay)
    app.add_routes(graph.routes())
    app.add_routes(razorpay.routes())
    app.add_routes([
        web.get("/", _page("index.html")),
        web.get("/pay/{link_id}", _page("checkout.html")),
        web.static("/static", STATIC),
        web.get("/sandbox/api/status", status),
        web.get("/sandbox/api/customers", customers),
        web.post("/sandbox/api/customers", name_customer),
        web.get("/sandbox/api/history", history),
        web.get("/sandbox/api/log", request_log),
        web.get("/sandbox/api/stream", stream),
        web.post("/sandbox/api/messages", send_message),
        web.get("/sandbox/api/insight", designer_insight),
        web.get("/sandbox/api/catalog", catalog),
        web.get("/sandbox/api/links/{link_id}", link_view),
        web.post("/sandbox/api/links/{link_id}/{action}", link_action),
    ])
    app.on_cleanup.append(_close)
    return app


def _page(name: str) -> Any:
    async def serve(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / name, headers=PAGE_HEADERS)
    return serve


async def _close(app: web.Application) -> None:
    await app[CUSTOMERS].close()
    await app[BOT].close()


@web.middleware
async def _json_errors(request: web.Request, handler: Any) -> web.StreamResponse:
    """API errors as {"error": ...}: the pages show them as they are."""
    try:
        return await handler(request)
    except CustomerInputError as exc:
        return web.json_response({"error": str(exc)}, status=400)
    except CheckoutError as exc:
        return web.json_response({"error": exc.message}, status=exc.status)


async def _json_body(request: web.Request) -> dict[str, Any]:
    # A JSON content type keeps other web sites' plain form posts out (browsers send
    # a cross-origin JSON POST only after a CORS preflight, which this server refuses).
    if request.content_type != "application/json":
        raise CustomerInputError("send JSON (Content-Type: application/json)")
    try:
        body = await request.json()
    except ValueError as exc:
        raise CustomerInputError("invalid JSON") from exc
    if not isinstance(body, dict):
        raise CustomerInputError("the body must be a JSON object")
    return body


# -- the chat page ---------------------------------------------------------------


async def status(request: web.Request) -> web.Response:
    settings = request.app[SETTINGS]
    return web.json_response({
        "bot_ready": await request.app[BOT].ready(),
        **await page_header(settings),
        "insight": settings.rasa_token is not None,
        "waiting": request.app[CUSTOMERS].waiting,  # messages held until the bot is ready
        "text_limit": TEXT_LIMIT,
    })


async def customers(request: web.Request) -> web.Response:
    """The customers who wrote in this run, with their names (the page's chips)."""
    return web.json_response({"customers": request.app[JOURNAL].customers()})


async def name_customer(request: web.Request) -> web.Response:
    """The page chats as a customer (a new one, or under a new name): listed from now on."""
    body = await _json_body(request)
    phone, name = body.get("phone"), body.get("name")
    if not isinstance(phone, str) or not PHONE.match(phone):
        raise CustomerInputError("the phone number must be 7 to 15 digits with country code")
    if not isinstance(name, str) or len(name.strip()) > NAME_LIMIT:
        raise CustomerInputError(f"the name must be text of at most {NAME_LIMIT} characters")
    request.app[JOURNAL].name_customer(phone, name.strip())
    return web.json_response({"customers": request.app[JOURNAL].customers()})


async def history(request: web.Request) -> web.Response:
    phone = request.query.get("phone", "")
    entries = request.app[JOURNAL].entries(phone, CHAT_KINDS)
    return web.json_response({"entries": [e.as_json() for e in entries]})


async def request_log(request: web.Request) -> web.Response:
    """The newest LOG_SIZE requests (of one customer with ?phone=), oldest first."""
    phone = request.query.get("phone") or None
    entries = request.app[JOURNAL].entries(phone, kinds=("request",))[-LOG_SIZE:]
    return web.json_response({"entries": [e.as_json() for e in entries]})


async def stream(request: web.Request) -> web.StreamResponse:
    """Every new journal entry as a server-sent event; the page filters by customer."""
    journal = request.app[JOURNAL]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)
    queue = journal.listen()
    try:
        await response.write(b": connected\n\n")
        while True:
            try:
                entry = await asyncio.wait_for(queue.get(), KEEP_ALIVE_SECONDS)
            except asyncio.TimeoutError:
                await response.write(b": keep-alive\n\n")
                continue
            data = json.dumps(entry.as_json(), ensure_ascii=False)
            await response.write(f"id: {entry.seq}\ndata: {data}\n\n".encode())
    except ConnectionResetError:
        pass  # the page went away
    finally:
        journal.forget(queue)
    return response


async def send_message(request: web.Request) -> web.Response:
    body = await _json_body(request)
    entry = await request.app[CUSTOMERS].say(
        str(body.get("phone") or ""), str(body.get("name") or ""), body.get("message")
    )
    return web.json_response(entry.as_json())


async def designer_insight(request: web.Request) -> web.Response:
    tracker = await request.app[BOT].tracker(request.query.get("phone", ""))
    if tracker is None:
        return web.json_response({"available": False, "turns": []})
    return web.json_response(
        {"available": True, "turns": [t.as_json() for t in insight.turns(tracker)],
         "slots": tracker.get("slots") or {}}
    )


async def catalog(request: web.Request) -> web.Response:
    """The shop's products (for product_list messages and the catalog cart)."""
    shop = load_catalog(request.app[SETTINGS].catalog_path)
    return web.json_response({"products": [
        {"sku": p.sku, "name": p.name, "price": p.price, "category": p.category}
        for p in shop.products
    ]})


# -- the checkout page -----------------------------------------------------------


async def link_view(request: web.Request) -> web.Response:
    view = request.app[CHECKOUT].view(request.match_info["link_id"])
    view.update(await page_header(request.app[SETTINGS]))
    return web.json_response(view)


async def link_action(request: web.Request) -> web.Response:
    body = await _json_body(request)
    method = body.get("method") if body.get("method") in ("upi", "card", "netbanking") else "upi"
    deliveries = await request.app[CHECKOUT].act(
        request.match_info["link_id"], request.match_info["action"], method
    )
    return web.json_response({
        "link": request.app[CHECKOUT].view(request.match_info["link_id"]),
        "webhooks": [{"event": d.event, "status": d.status, "answer": d.answer}
                     for d in deliveries],
    })
