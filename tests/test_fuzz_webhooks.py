"""No 5xx for any signed body: property-based fuzzing of both webhook routes (issue 12).

Hypothesis builds bodies from the documented shapes (shared/reference/
whatsapp-cloud-api.md and razorpay.md, as sandbox/meta_events.py and
sandbox/razorpay_api.py build them), mutates them (wrong types, sizes, nesting depth,
unicode, numbers at and past every bound, missing and extra fields, raw JSON tokens
such as NaN, 1e999 or a 5,000-digit integer), signs them with the real secret and
posts them over real HTTP on loopback to the channels mounted as `rasa run` mounts
them, with a real SQLite database in tmp_path. Hypothesis is synchronous, so the
servers run on an event loop of their own in a thread.

What every answer must satisfy:

- never a 5xx: a 5xx means our own infrastructure failed, and no body is that;
- a refused body (4xx: 400 it is not an event of the documented shape, 413 too large)
  leaves the database exactly as it was: orders, order items, payments, webhook
  events and the inbox;
- an accepted WhatsApp event adds one inbox row per new message id, keyed
  `whatsapp:<id>`, and one per new wamid refused late for a closed 24-hour window (a
  `failed` status with code 131047), keyed `whatsapp-window-closed:<id>`, and nothing
  else; whatever it accepted, the inbox consumer can handle (nothing is parked);
- a Razorpay event answered 200 is either a `duplicate` (its id is in the inbox
  already: nothing changes at all) or `accepted`: one inbox row keyed
  `razorpay-event:<id>`, which the server's consumer applies at once (the check
  waits for it), recording the event once, with its outcome, in webhook_events; what
  else it may change depends on that outcome:
  - `ignored`, `unknown_order` (a structurally valid event we do not act on, or whose
    order we cannot find: the 2xx that stops Razorpay's retries): only that one
    webhook_events row;
  - `unchanged` (valid, but the order is already past it, or the contents are
    rejected: a payment without a usable id, a link that is not the order's
    current one): no status change and no notice; a payment seen for the first
    time is still recorded (a fact we keep), and a second payment for a paid order
    adds a line to the order's flag;
  - `paid`, `failed`, `expired`, `cancelled`, `flagged`: changes to that one order and
    its payments only, and exactly one notice for its customer in the inbox;
- an order's flag stays bounded, without repeated lines;
- afterwards the server still answers a normal customer (a text message is answered,
  a documented paid event is confirmed in the chat).

Everything runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set (in a
database of its own). The default run is fixed and short: derandomized, FUZZ_EXAMPLES
examples per route (200 unless set). `make fuzz` runs the same properties for
FUZZ_SECONDS (shared by the routes and databases) in rounds of ROUND_EXAMPLES, each
with a fresh random seed, printed, so that a round can be replayed with
`make fuzz FUZZ_SEED=<seed>`. The database carries state from one example to the
next (orders get paid, ids get recorded), as a server's does, so Hypothesis may call
a failure it cannot replay "flaky": the first traceback is the finding.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import itertools
import json
import os
import random
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

from channels.razorpay import RazorpayWebhookInput
from channels.whatsapp import WhatsAppInput, WhatsAppSettings
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from commerce.catalog import load_catalog
from durable.tables import inbox
from orders.store import (
    MAX_FLAG_LINE_CHARS,
    MAX_FLAG_LINES,
    OrderStatus,
    OrderStore,
    order_items,
    orders,
    payments,
    webhook_events,
)
from sandbox.harness import razorpay_api, razorpay_stack
from sandbox.harness import whatsapp_meta as meta
from sandbox.harness.graph_api import API_VERSION, PHONE_NUMBER_ID, TOKEN, FakeGraphApi
from sandbox.harness.services import fresh_database

FUZZ_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES") or 200)
FUZZ_SECONDS = float(os.environ.get("FUZZ_SECONDS") or 0)  # 0: the fixed default run
FUZZ_SEED = os.environ.get("FUZZ_SEED")
ROUND_EXAMPLES = 100  # examples per seed in a timed run (a round overruns the budget)
POSTGRES_URL = os.environ.get("TEST_DATABASE_URL")
# The properties share the time of a `make fuzz` run: two routes, on each database.
PROPERTY_RUNS = 2 * (2 if POSTGRES_URL else 1)

MAX_FLAG_CHARS = MAX_FLAG_LINES * (MAX_FLAG_LINE_CHARS + 1)

COMMON_SETTINGS: dict[str, Any] = {
    "deadline": None,
    "database": None,  # no .hypothesis/ directory in the repository
    "print_blob": True,
    "suppress_health_check": list(HealthCheck),  # one server serves every example
}
settings.register_profile(
    "webhooks", max_examples=FUZZ_EXAMPLES, derandomize=True, **COMMON_SETTINGS
)
settings.register_profile(
    "webhooks-fuzz", max_examples=ROUND_EXAMPLES, derandomize=False, **COMMON_SETTINGS
)

WEBHOOK = "/webhooks/whatsapp/webhook"
RAZORPAY_WEBHOOK = "/webhooks/razorpay/webhook"
SKUS = [product.sku for product in load_catalog().products]


# -- the servers, on an event loop of their own --------------------------------------------


class LoopThread:
    """An asyncio loop in a thread: the servers live there, the test talks HTTP to them."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="fuzz-loop")
        self._thread.daemon = True
        self._thread.start()
        self._stack = contextlib.AsyncExitStack()

    def run(self, coroutine: Any, timeout: float = 60) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    def enter(self, context: Any) -> Any:
        return self.run(self._stack.enter_async_context(context))

    def close(self) -> None:
        try:
            self.run(self._stack.aclose())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(10)
            self.loop.close()


def whatsapp_channel(graph: FakeGraphApi, store: OrderStore, secret: str) -> WhatsAppInput:
    client = WhatsAppClient(
        TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, api_version=API_VERSION,
        max_attempts=2, backoff_base=0.01,
    )
    settings_ = WhatsAppSettings(app_secret=secret, verify_token=meta.VERIFY_TOKEN)
    return WhatsAppInput(settings_, client, ChannelState.in_memory(), store=store)


@dataclass
class Stack:
    loop: LoopThread
    base_url: str
    store: OrderStore
    graph: FakeGraphApi
    agent: Any
    http: requests.Session

    def post(self, path: str, body: bytes, headers: dict[str, Any]) -> tuple[int, Any]:
        answer = self.http.post(self.base_url + path, data=body, headers=headers, timeout=30)
        try:
            return answer.status_code, answer.json()
        except ValueError:
            return answer.status_code, answer.text


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.skipif(
    not POSTGRES_URL, reason="TEST_DATABASE_URL is not set: the fuzz runs on SQLite only"))])
def database_url(request, tmp_path) -> Iterator[str]:
    """SQLite in tmp_path; on PostgreSQL (which refuses NUL and over-long strings where
    SQLite does not) a database of the test's own, created and dropped here, so that
    other suites sharing the server cannot change it under the before/after checks."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'orders.db'}"
        return
    assert POSTGRES_URL is not None
    with fresh_database(POSTGRES_URL) as url:
        yield url


@pytest.fixture
def whatsapp_stack(database_url, monkeypatch) -> Iterator[Stack]:
    store = OrderStore(database_url)
    monkeypatch.setenv("DATABASE_URL", store.url)
    loop = LoopThread()
    try:
        graph = loop.run(FakeGraphApi().start())
        agent = meta.RecordingAgent(reply=False)
        channel = whatsapp_channel(graph, store, meta.APP_SECRET)
        webhook = loop.enter(meta.serve([channel], agent))
        with requests.Session() as http:
            yield Stack(loop, webhook.base_url, store, graph, agent, http)
    finally:
        loop.close()
        store.dispose()


@pytest.fixture
def razorpay_fuzz_stack(database_url, monkeypatch) -> Iterator[Stack]:
    store = OrderStore(database_url)
    monkeypatch.setenv("DATABASE_URL", store.url)  # the payment actions' store
    loop = LoopThread()
    try:
        graph = loop.run(FakeGraphApi().start())

        async def make_agent() -> razorpay_stack.StubAgent:
            agent = razorpay_stack.StubAgent()
            await agent.seed(razorpay_stack.CUSTOMER, "whatsapp")
            return agent

        agent = loop.run(make_agent())
        channels = [
            whatsapp_channel(graph, store, "app-secret"),
            RazorpayWebhookInput([razorpay_api.WEBHOOK_SECRET], store, reconcile_interval=3600),
        ]
        base_url = loop.enter(razorpay_stack.serve(channels, agent))
        with requests.Session() as http:
            yield Stack(loop, base_url, store, graph, agent, http)
    finally:
        loop.close()
        store.dispose()


# -- the database, before and after --------------------------------------------------------

# Columns written after the answer by design (the sender records a confirmation once
# WhatsApp accepted it; the inbox consumer moves rows along) are left out.
SNAPSHOT: dict[str, tuple[sa.Table, str, tuple[str, ...]]] = {
    "orders": (orders, "number", ("confirmation_sent_at", "updated_at")),
    "order_items": (order_items, "id", ()),
    "payments": (payments, "payment_id", ()),
    "webhook_events": (webhook_events, "event_id", ()),
    "inbox": (
        inbox,
        "id",
        ("status", "attempts", "claims", "last_error", "lease_owner", "lease_until",
         "finished_at"),
    ),
}

Snapshot = dict[str, dict[Any, dict[str, Any]]]


def snapshot(store: OrderStore) -> Snapshot:
    result: Snapshot = {}
    with store.engine.connect() as conn:
        for name, (table, key, volatile) in SNAPSHOT.items():
            if not sa.inspect(conn).has_table(table.name):
                result[name] = {}
                continue
            columns = [c for c in table.c if c.name not in volatile]
            rows = conn.execute(sa.select(*columns)).mappings()
            result[name] = {row[key]: dict(row) for row in rows}
    return result


@dataclass
class Diff:
    added: dict[str, list[dict[str, Any]]]
    changed: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]]
    removed: dict[str, list[Any]]

    @property
    def empty(self) -> bool:
        return not any([*self.added.values(), *self.changed.values(), *self.removed.values()])

    def describe(self) -> str:
        return json.dumps(
            {"added": self.added, "changed": self.changed, "removed": self.removed},
            default=str, ensure_ascii=False,
        )[:3000]


def diff(before: Snapshot, after: Snapshot) -> Diff:
    added: dict[str, list[dict[str, Any]]] = {}
    changed: dict[str, list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    removed: dict[str, list[Any]] = {}
    for name in SNAPSHOT:
        old, new = before[name], after[name]
        added[name] = [row for key, row in new.items() if key not in old]
        changed[name] = [
            (old[key], row) for key, row in new.items() if key in old and old[key] != row
        ]
        removed[name] = [key for key in old if key not in new]
    return Diff(added, changed, removed)


def assert_flags_bounded(after: Snapshot) -> None:
    for number, order in after["orders"].items():
        flag = order["flag"] or ""
        lines = flag.split("\n") if flag else []
        assert len(lines) <= MAX_FLAG_LINES and len(flag) <= MAX_FLAG_CHARS, (number, flag)
        assert len(lines) == len(set(lines)), f"order #{number}: a repeated flag line: {flag!r}"


# -- mutations: what an attacker with the secret (or a buggy sender) might sign -----------


class Raw:
    """A JSON token put into the body as is: NaN, 1e999, a 5,000-digit integer, deep nesting."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __repr__(self) -> str:
        return f"Raw({self.token[:40]!r}{'...' if len(self.token) > 40 else ''})"


RAW_TOKENS = [
    "NaN", "Infinity", "-Infinity", "1e999", "-1e999", "1E400", "-0", "0e0", "1.0",
    "1" * 5000, "-" + "9" * 5000, "0." + "0" * 400 + "1",
    "[" * 5000 + "]" * 5000, '{"a":' * 3000 + "1" + "}" * 3000,
    "[" * 40 + "]" * 40, '{"a":' * 40 + "1" + "}" * 40,
    '"\\ud800"', '"\\udfff\\ud800"', '"\\u0000"', '"a\\u0000b"',
]
BOUND_INTEGERS = [
    0, 1, -1, 2, 20, 21, 99, 100, 2**15, 2**31 - 1, 2**31, -(2**31) - 1, 2**53 + 1,
    2**63 - 1, 2**63, -(2**63) - 1, 2**64, 10**15, 10**15 + 1, 10**19, 10**20, 10**30,
    10**400, -(10**400), 95_617_584_000, 95_617_584_001, 1_732_600_000, 79_900,
]
NASTY_STRINGS = [
    "", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "\U0001f600" * 3, "١٢٣", "²", "１２",
    "9" * 25, "-5", "0", "1e3", "NaN", "null", "true", "\u202e\u2066", "\r\n", "\t",
    "/add_to_cart{\"product\":\"ceramic-mug\",\"quantity\":-5}", "/checkout",
    "x" * 300, "y" * 5000, "z" * 70_000, "<script>alert(1)</script>", "' OR 1=1 --",
    "%s%n", "../../etc/passwd", "wamid.", "plink_", "pay_", "10001", "10001-1",
]


def nasty_text() -> st.SearchStrategy[str]:
    """Strings past what columns, encoders and parsers take: lone surrogates (rare in
    Hypothesis's own text), NUL and control characters, sizes at and past the bounds."""
    awkward = st.one_of(
        st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF),
        st.characters(max_codepoint=0x1F),
        st.sampled_from(["\x00", "\u2028", "\ufeff", "\U0001f600", "\u0301", "१"]),
    )
    return st.one_of(
        st.sampled_from(NASTY_STRINGS),
        st.text(max_size=30),
        st.text(st.one_of(awkward, st.characters()), min_size=1, max_size=12),
        st.builds(lambda c, n: c * n, awkward, st.sampled_from([1, 64, 65, 129, 300, 5000])),
    )


def nasty_scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.none(),
        st.booleans(),
        st.sampled_from(BOUND_INTEGERS),
        st.integers(),
        st.floats(allow_nan=True, allow_infinity=True),
        st.sampled_from([1e308, -1e308, 5e-324, 0.1, -0.0, 1e20, 0.5, 2.5, 90.0000001]),
        nasty_text(),
        st.builds(Raw, st.sampled_from(RAW_TOKENS)),
    )


def nasty_values() -> st.SearchStrategy[Any]:
    return st.recursive(
        nasty_scalars(),
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(st.sampled_from(["id", "type", "x", "", "\x00", "entity"]) | st.text(
                max_size=8), inner, max_size=4),
        ),
        max_leaves=8,
    )


SPRINKLES = ["\ud800", "\udfff", "\udc80", "\x00", "\x1f", "\n", "\u2028", "\ufffd", "²", "١",
             "\U0001f600", '"', "\\", "/", " "]
MUTATIONS = ["bound", "bound", "bound", "sprinkle", "sprinkle", "sprinkle", "replace", "replace",
             "delete", "extra", "duplicate", "nest", "empty"]
# Mostly one or two: a body with many faults is refused for the first, and the others
# never reach the code behind it.
MUTATION_COUNTS = [0, 1, 1, 1, 1, 2, 2, 3, 4]
LEAF_MUTATIONS = {"bound", "sprinkle"}


def same_kind(value: Any) -> st.SearchStrategy[Any]:
    """Values of the node's own JSON type at and past its bounds: a number stays a number
    (0, -1, 2**31, 10**400, NaN ...), a string a string (huge, NUL, lone surrogates ...)."""
    if isinstance(value, bool):
        return st.sampled_from([None, 0, 1, "true"])
    if isinstance(value, (int, float)):
        return st.one_of(
            st.sampled_from(BOUND_INTEGERS), st.sampled_from([-value, value + 1, value - 1]),
            st.floats(allow_nan=True, allow_infinity=True), st.builds(Raw, st.sampled_from(
                ["NaN", "Infinity", "1e999", "1" * 5000, "-0", "1E400"])),
            st.builds(str, st.sampled_from(BOUND_INTEGERS)),
        )
    if isinstance(value, str):
        return st.one_of(
            nasty_text(),
            st.builds(lambda extra: value + extra, st.sampled_from(["\x00", "\ud800", "x" * 300])),
            st.sampled_from(BOUND_INTEGERS),
        )
    return nasty_values()


def _paths(node: Any, path: tuple = ()) -> Iterator[tuple]:
    yield path
    if isinstance(node, dict):
        for key, child in node.items():
            yield from _paths(child, (*path, key))
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _paths(child, (*path, index))


def _get(doc: Any, path: tuple) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def mutate(data: st.DataObject, doc: Any) -> Any:
    """Apply a few mutations (MUTATION_COUNTS), each at a node Hypothesis picks."""
    holder = [copy.deepcopy(doc)]
    for _ in range(data.draw(st.sampled_from(MUTATION_COUNTS), label="mutations")):
        kind = data.draw(st.sampled_from(MUTATIONS), label="mutation")
        paths = list(_paths(holder[0]))
        if kind in LEAF_MUTATIONS:  # a value, rather than an object or a list
            paths = [p for p in paths if not isinstance(_get(holder[0], p), (dict, list))] or paths
        path = data.draw(st.sampled_from(paths), label="at")
        node = _get(holder[0], path)
        parent_path, last = ((), 0) if not path else (path[:-1], path[-1])
        parent = holder if not path else _get(holder[0], parent_path)
        if kind == "bound":
            parent[last] = data.draw(same_kind(node), label="value")
        elif kind == "sprinkle":  # one awkward character somewhere in a string
            text = node if isinstance(node, str) else str(node)
            at = data.draw(st.integers(0, len(text)), label="offset")
            char = data.draw(st.sampled_from(SPRINKLES), label="character")
            parent[last] = text[:at] + char + text[at:]
        elif kind == "replace":
            parent[last] = data.draw(nasty_values(), label="value")
        elif kind == "delete" and path:
            del parent[last]
        elif kind == "extra" and isinstance(node, dict):
            key = data.draw(st.sampled_from(["id", "type", "extra", "__proto__", "notes"])
                            | st.text(max_size=10), label="key")
            node[key] = data.draw(nasty_values(), label="value")
        elif kind == "extra" and isinstance(node, list):
            node.append(data.draw(nasty_values(), label="value"))
        elif kind == "duplicate" and isinstance(node, list) and node:
            node.extend(copy.deepcopy(node) * data.draw(st.integers(1, 30), label="times"))
        elif kind == "nest":
            depth = data.draw(st.sampled_from([1, 2, 10, 33, 200]), label="depth")
            wrapped = node
            for _ in range(depth):
                wrapped = [wrapped]
            parent[last] = wrapped
        elif kind == "empty":
            parent[last] = type(node)() if isinstance(node, (dict, list, str)) else None
    return holder[0]


def encode(doc: Any) -> bytes:
    """JSON as a sender would write it, with any Raw tokens spliced in as they are."""
    raws: list[str] = []

    def mark(value: Any) -> Any:
        if isinstance(value, Raw):
            raws.append(value.token)
            return f"\x01RAW{len(raws) - 1}\x01"
        if isinstance(value, dict):
            return {key: mark(child) for key, child in value.items()}
        if isinstance(value, list):
            return [mark(child) for child in value]
        return value

    text = json.dumps(mark(doc))
    for index, token in enumerate(raws):
        text = text.replace(json.dumps(f"\x01RAW{index}\x01"), token, 1)
    return text.encode()


# -- WhatsApp: documented shapes -------------------------------------------------------------

_wamids = itertools.count(1)
short_text = st.text(max_size=40)


def wamid_strategy() -> st.SearchStrategy[str]:
    # Mostly fresh ids; a small pool so that redeliveries happen too.
    fresh = st.builds(lambda _: f"wamid.FUZZ{next(_wamids):010d}", st.none())
    return st.one_of(fresh, fresh, st.sampled_from([f"wamid.REPEAT{n}" for n in range(5)]))


senders = st.sampled_from([meta.CUSTOMER, "919800000001", "15551234567", "user.Abc123"])


@st.composite
def whatsapp_message(draw: Callable) -> dict[str, Any]:
    kind = draw(st.sampled_from([
        "text", "interactive", "button", "order", "location", "image", "audio", "video",
        "document", "sticker", "reaction", "system", "unsupported", "contacts",
    ]))
    content: dict[str, Any] | None
    if kind == "text":
        content = {"body": draw(short_text | st.sampled_from(NASTY_STRINGS[:30]))}
    elif kind == "interactive":
        reply = draw(st.sampled_from(["button_reply", "list_reply", "nfm_reply"]))
        if reply == "nfm_reply":
            content = {"type": reply, reply: {"name": "flow", "response_json": "{}"}}
        else:
            content = {"type": reply, reply: {
                "id": draw(st.sampled_from(["/checkout", "/view_cart", "t:unknown-token",
                                            '/add_to_cart{"product":"ceramic-mug"}'])),
                "title": draw(short_text),
            }}
            if reply == "list_reply":
                content[reply]["description"] = draw(short_text)
    elif kind == "button":
        content = {"text": draw(short_text), "payload": draw(short_text)}
    elif kind == "order":
        items = draw(st.lists(st.fixed_dictionaries({
            "product_retailer_id": st.sampled_from([*SKUS, "not-a-sku"]),
            "quantity": st.integers(-3, 30),
            "item_price": st.one_of(st.integers(0, 10_000), st.floats(0, 10_000), st.just(199.99)),
            "currency": st.just("INR"),
        }), min_size=1, max_size=3))
        content = {"catalog_id": "1234567890", "text": draw(short_text), "product_items": items}
    elif kind == "location":
        content = {
            "latitude": draw(st.floats(-90, 90)),
            "longitude": draw(st.floats(-180, 180)),
        }
        if draw(st.booleans()):
            content |= {"name": draw(short_text), "address": draw(short_text)}
    elif kind in ("image", "audio", "video", "document", "sticker"):
        content = {"id": "1234567890", "mime_type": "image/jpeg", "sha256": "abc"}
        if draw(st.booleans()):
            content["caption"] = draw(short_text)
    elif kind == "reaction":
        content = {"message_id": "wamid.OURS", "emoji": "\U0001f44d"}
    elif kind == "system":
        content = {"body": "number changed", "type": "user_changed_number"}
    elif kind == "contacts":
        content = None
    else:
        content = None
    extra: dict[str, Any] = {}
    if kind == "unsupported":
        extra["errors"] = [{"code": 131051, "title": "Message type unknown",
                            "error_data": {"details": "Message type is currently not supported"}}]
    if draw(st.booleans()):
        extra["context"] = {"from": "15550000000", "id": "wamid.CONTEXT"}
    return meta_message(kind, content, draw(senders), draw(wamid_strategy()), **extra)


def meta_message(kind: str, content: Any, sender: str, message_id: str, **extra: Any) -> dict:
    from sandbox import meta_events

    return meta_events.message(kind, content, sender=sender, message_id=message_id, **extra)


@st.composite
def whatsapp_status(draw: Callable) -> dict[str, Any]:
    state = draw(st.sampled_from(["sent", "delivered", "read", "failed"]))
    errors = [{"code": 131047, "title": "Re-engagement message"}] if state == "failed" else None
    return meta.status(state, errors)


@st.composite
def whatsapp_event(draw: Callable) -> dict[str, Any]:
    values = []
    for _ in range(draw(st.integers(1, 3))):
        messages = draw(st.lists(whatsapp_message(), max_size=3))
        statuses = draw(st.lists(whatsapp_status(), max_size=2))
        values.append(meta.value(messages or None, statuses or None))
    event = meta.envelope(*values, entries=draw(st.integers(1, len(values))))
    if draw(st.integers(0, 9)) == 0:  # a field the product does not parse
        event["entry"][0]["changes"][0]["field"] = "message_template_status_update"
    return event


def message_ids(event: Any) -> list[str]:
    """The ids of the messages an accepted event holds (its shape is valid, then)."""
    return [
        str(message["id"])
        for entry in event["entry"]
        for change in entry["changes"]
        if change["field"] == "messages"
        for message in change["value"].get("messages") or []
    ]


def refused_ids(event: Any) -> list[str]:
    """The wamids of an accepted event's statuses refused for a closed window (131047)."""
    return [
        str(status["id"])
        for entry in event["entry"]
        for change in entry["changes"]
        if change["field"] == "messages"
        for status in change["value"].get("statuses") or []
        if status.get("status") == "failed"
        and any(type(error.get("code")) is int and error["code"] == 131047
                for error in status.get("errors") or [])
    ]


def check_whatsapp(stack: Stack, body: bytes) -> tuple[int, Any]:
    before = snapshot(stack.store)
    status, answer = stack.post(
        WEBHOOK, body, {"Content-Type": "application/json", "X-Hub-Signature-256": meta.sign(body)}
    )
    after = snapshot(stack.store)
    assert status < 500, (status, answer)
    changes = diff(before, after)
    if status != 200:
        assert status in (400, 413), (status, answer)
        assert changes.empty, f"refused ({status} {answer}) but written: {changes.describe()}"
        return status, answer
    ids = message_ids(json.loads(body))
    assert answer == {"status": "accepted", "messages": len(ids)}
    known = {row["dedupe_key"] for row in before["inbox"].values()}
    expected = {f"whatsapp:{message_id}" for message_id in ids} | {
        f"whatsapp-window-closed:{wamid}" for wamid in refused_ids(json.loads(body))
    }
    expected -= known
    assert sorted(row["dedupe_key"] for row in changes.added["inbox"]) == sorted(expected)
    kinds = {"whatsapp": "whatsapp", "whatsapp-window-closed": "window_closed"}
    assert all(
        row["kind"] == kinds[row["dedupe_key"].partition(":")[0]]
        for row in changes.added["inbox"]
    )
    others = {name: rows for name, rows in changes.added.items() if name != "inbox"}
    assert not any(others.values()) and not any(changes.changed.values()), changes.describe()
    assert not any(changes.removed.values()), changes.describe()
    return status, answer


def inbox_counts(store: OrderStore) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(inbox.c.status, sa.func.count()).group_by(inbox.c.status))
        return dict(rows.all())


def parked_errors(store: OrderStore) -> list[tuple[str, str]]:
    with store.engine.connect() as conn:
        query = sa.select(inbox.c.dedupe_key, inbox.c.last_error).where(inbox.c.status == "parked")
        return [tuple(row) for row in conn.execute(query)]


def event_row_status(store: OrderStore, event_id: str) -> str | None:
    """The status of a Razorpay event's inbox row (None before it is written)."""
    query = sa.select(inbox.c.status).where(inbox.c.dedupe_key == f"razorpay-event:{event_id}")
    with store.engine.connect() as conn:
        return conn.execute(query).scalar()


def wait_until(condition: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def assert_whatsapp_still_answers(stack: Stack) -> None:
    # Whatever was accepted was handled, and a normal customer is answered.
    assert wait_until(lambda: inbox_counts(stack.store).get("pending", 0) == 0)
    assert parked_errors(stack.store) == []
    stack.agent.reply = True
    text = f"hi after the fuzz {time.monotonic_ns()}"
    body = json.dumps(meta.event(meta.message("text", {"body": text}))).encode()
    status, answer = stack.post(
        WEBHOOK, body, {"Content-Type": "application/json", "X-Hub-Signature-256": meta.sign(body)}
    )
    assert (status, answer) == (200, {"status": "accepted", "messages": 1})
    assert wait_until(lambda: any(
        m["to"] == meta.CUSTOMER and m.get("text", {}).get("body") == f"echo: {text}"
        for m in stack.graph.sent
    ))


# -- Razorpay: documented shapes, about orders that exist ------------------------------------

_events = itertools.count(1)
_orders = itertools.count(1)
EVENT_NAMES = [
    "payment_link.paid", "payment_link.partially_paid", "payment_link.expired",
    "payment_link.cancelled", "payment.captured", "payment.failed", "payment.authorized",
    "order.paid", "refund.processed",
]


@dataclass(frozen=True)
class Target:
    number: int
    total: int
    link_id: str
    reference: str


def new_order(stack: Stack) -> Target:
    n = next(_orders)
    order = stack.loop.run(razorpay_stack.place_order(stack.store))
    link_id, reference = f"plink_Fuzz{n:010d}", str(order.number)
    stack.loop.run(stack.store.update(
        order.number, payment_link_id=link_id, payment_reference=reference,
        payment_link_url=f"https://rzp.io/i/{n}", payment_link_status="created",
        payment_attempt=1,
    ))
    return Target(order.number, order.total, link_id, reference)


def amounts(total: int) -> st.SearchStrategy[Any]:
    return st.one_of(st.just(total), st.just(total), st.just(str(total)),
                     st.sampled_from([0, 1, total - 1, total + 1, 10**30, -total]))


@st.composite
def razorpay_event(draw: Callable, target: Target) -> dict[str, Any]:
    name = draw(st.sampled_from(EVENT_NAMES))
    total = target.total
    notes = draw(st.sampled_from([{"order_number": str(target.number)}, [], {}]))
    payment_id = draw(st.sampled_from(
        [f"pay_Fuzz{next(_events):010d}", "pay_FuzzRepeat1", "pay_FuzzRepeat2"]))
    link = {
        "id": draw(st.sampled_from([target.link_id, target.link_id, "plink_SomeoneElse"])),
        "entity": "payment_link",
        "status": draw(st.sampled_from(["created", "paid", "partially_paid", "expired",
                                        "cancelled"])),
        "amount": draw(amounts(total)),
        "amount_paid": draw(amounts(total)),
        "currency": "INR",
        "reference_id": draw(st.sampled_from([target.reference, target.reference, "other-9"])),
        "order_id": "order_Fuzz0001",
        "notes": notes,
        "payments": draw(st.sampled_from([None, [], [
            {"payment_id": payment_id, "amount": total, "status": "captured", "method": "upi"}
        ]])),
        "short_url": "https://rzp.io/i/abc",
    }
    payment = {
        "id": payment_id,
        "entity": "payment",
        "amount": draw(amounts(total)),
        "currency": draw(st.sampled_from(["INR", "INR", "USD", "INRX"])),
        "status": "failed" if name == "payment.failed" else "captured",
        "method": draw(st.sampled_from(["upi", "card", "netbanking"])),
        "order_id": "order_Fuzz0001",
        "error_description": "Payment failed" if name == "payment.failed" else None,
        "notes": notes,
        "created_at": draw(st.sampled_from([1_732_600_000, 0, 10**20, -1])),
    }
    order = {
        "id": "order_Fuzz0001", "entity": "order", "amount": total, "amount_paid": total,
        "currency": "INR", "receipt": target.reference, "status": "paid", "notes": notes,
    }
    payload: dict[str, Any] = {}
    if name.startswith("payment_link."):
        payload["payment_link"] = {"entity": link}
    if name in ("payment_link.paid", "payment_link.partially_paid", "order.paid") or \
            name.startswith("payment."):
        payload["payment"] = {"entity": payment}
    if name in ("payment_link.paid", "order.paid"):
        payload["order"] = {"entity": order}
    return {
        "entity": "event", "account_id": "acc_Fuzz", "event": name,
        "contains": list(payload), "payload": payload,
        "created_at": draw(st.sampled_from([1_732_600_000, 10**20, -5, 0])),
    }


def event_id_header(data: st.DataObject, previous: list[str]) -> str | None:
    choice = data.draw(st.sampled_from(["fresh"] * 6 + ["repeat", "missing", "text", "long"]),
                       label="event id")
    if choice == "repeat" and previous:
        return previous[-1]
    if choice == "missing":
        return None
    if choice == "text":  # an HTTP client sends no leading or trailing blanks
        return data.draw(st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=90)
                         .map(str.strip), label="event id text")
    if choice == "long":
        return "evt_" + "L" * 200 + str(next(_events))
    return f"evt_fuzz{next(_events):010d}"


def recorded_event_id(header: str | bytes | None, body: bytes) -> str:
    """How the route names the event (channels/razorpay.py `_event_id`, then
    orders/payment_events.py): the header cut to 80 characters, or a digest of the body
    without one; a header that is not UTF-8 (Sanic reads its bytes as lone surrogates)
    as a digest of it."""
    if isinstance(header, bytes):
        header = header.decode("utf-8", "surrogateescape")
    value = (header or "").strip()[:80]
    if not value:
        return "body:" + hashlib.sha256(body).hexdigest()
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()
    return value


APPLIED = {"paid", "failed", "expired", "cancelled", "flagged"}
STATUS_AFTER = {"paid": "paid", "failed": "payment_failed", "expired": "expired",
                "cancelled": "cancelled"}


def check_razorpay(
    stack: Stack, body: bytes, event_header: str | bytes | None
) -> tuple[int, Any]:
    headers = {"Content-Type": "application/json",
               "X-Razorpay-Signature": razorpay_api.sign(body)}
    if event_header is not None:
        headers["X-Razorpay-Event-Id"] = event_header
    before = snapshot(stack.store)
    status, answer = stack.post(RAZORPAY_WEBHOOK, body, headers)
    assert status < 500, (status, answer)
    event_id = recorded_event_id(event_header, body)
    if status == 200 and answer["status"] == "accepted":
        # Recorded in the inbox before the answer; the server applies it just after.
        assert wait_until(lambda: event_row_status(stack.store, event_id) == "done", 10), (
            event_row_status(stack.store, event_id)
        )
    after = snapshot(stack.store)
    changes = diff(before, after)
    assert not any(changes.removed.values()), changes.describe()
    assert not changes.added["order_items"] and not changes.changed["order_items"]
    assert_flags_bounded(after)
    if status != 200:
        assert status in (400, 413), (status, answer)
        assert changes.empty, f"refused ({status} {answer}) but written: {changes.describe()}"
        return status, answer
    if answer["status"] == "duplicate":
        assert changes.empty, changes.describe()
        return status, answer
    assert answer == {"status": "accepted"}, answer
    [event_row] = [row for row in changes.added["inbox"] if row["kind"] == "razorpay_event"]
    assert event_row["dedupe_key"] == f"razorpay-event:{event_id}"
    changes.added["inbox"].remove(event_row)
    [recorded] = changes.added["webhook_events"]
    assert not changes.changed["webhook_events"]
    assert recorded["event_id"] == event_id
    outcome = recorded["outcome"]
    answer = {**answer, "outcome": outcome}  # for the callers: how it was applied
    number = recorded["order_number"]
    if outcome in ("ignored", "unknown_order"):
        assert number is None
        rest = {k: v for k, v in changes.added.items() if k != "webhook_events"}
        assert not any(rest.values()) and not any(changes.changed.values()), changes.describe()
        return status, answer
    assert number is not None
    assert [row["number"] for _, row in changes.changed["orders"]] in ([], [number])
    assert len(changes.added["payments"]) <= 1
    owner = {row["id"]: n for n, row in after["orders"].items()}
    for row in changes.added["payments"]:
        assert owner[row["order_id"]] == number
    for _, row in changes.changed["payments"]:
        assert owner[row["order_id"]] == number
    order_after = after["orders"][number]
    if outcome == "unchanged":
        assert not changes.added["inbox"], changes.describe()
        for old, new in changes.changed["orders"]:
            assert {k for k in new if new[k] != old[k]} <= {"flag"}, changes.describe()
        return status, answer
    assert outcome in APPLIED, outcome
    [notice] = changes.added["inbox"]
    assert (notice["kind"], notice["dedupe_key"]) == ("payment", f"razorpay:{event_id}")
    assert notice["customer_id"] == order_after["customer_id"]
    if outcome in STATUS_AFTER:
        assert order_after["status"] == STATUS_AFTER[outcome]
    if outcome == "paid":
        # The order is paid by a payment recorded for it, at its total.
        paid_by = after["payments"][order_after["payment_id"]]
        assert owner[paid_by["order_id"]] == number
        assert (paid_by["amount"], paid_by["currency"]) == (
            order_after["total"],
            order_after["currency"],
        ), (paid_by, order_after)
        assert paid_by["status"] == "captured", paid_by
    if outcome == "flagged":
        assert order_after["flag"]
    return status, answer


def assert_razorpay_still_confirms(stack: Stack) -> None:
    target = new_order(stack)
    payment = {"id": f"pay_Final{next(_events)}", "entity": "payment", "amount": target.total,
               "currency": "INR", "status": "captured", "method": "upi",
               "notes": {"order_number": str(target.number)}}
    event = {"entity": "event", "event": "payment_link.paid", "created_at": 1_732_600_000,
             "payload": {"payment_link": {"entity": {
                 "id": target.link_id, "status": "paid", "amount": target.total,
                 "amount_paid": target.total, "currency": "INR",
                 "reference_id": target.reference, "notes": payment["notes"]}},
                 "payment": {"entity": payment}}}
    body = json.dumps(event).encode()
    status, answer = stack.post(RAZORPAY_WEBHOOK, body, {
        "X-Razorpay-Signature": razorpay_api.sign(body),
        "X-Razorpay-Event-Id": f"evt_final{next(_events)}",
    })
    assert (status, answer) == (200, {"status": "accepted"})
    assert wait_until(lambda: any(
        "Payment successful" in json.dumps(m, ensure_ascii=False)
        and f"#{target.number}" in json.dumps(m, ensure_ascii=False)
        for m in stack.graph.sent
    ))
    order = stack.loop.run(stack.store.get(target.number))
    assert order.status is OrderStatus.PAID


# -- running the properties: a fixed run by default, a timed one for `make fuzz` -------------


def run_property(build: Callable[[], Callable[[], None]], label: str) -> None:
    """Run the @given test that `build` makes: once (the default run), or in rounds of
    fresh seeds until the time budget of `make fuzz` is spent (a fresh test per round:
    Hypothesis takes one settings object per test)."""
    if FUZZ_SEED is not None:
        print(f"\n{label}: seed {FUZZ_SEED}")
        settings(settings.get_profile("webhooks-fuzz"))(seed(int(FUZZ_SEED))(build()))()
        return
    if not FUZZ_SECONDS:
        settings(settings.get_profile("webhooks"))(build())()
        return
    deadline = time.monotonic() + FUZZ_SECONDS / PROPERTY_RUNS
    rounds = 0
    while time.monotonic() < deadline:
        round_seed = random.SystemRandom().randrange(2**32)
        print(f"\n{label}: round {rounds + 1}, seed {round_seed} "
              f"(replay: make fuzz FUZZ_SEED={round_seed})", flush=True)
        settings(settings.get_profile("webhooks-fuzz"))(seed(round_seed)(build()))()
        rounds += 1
    print(f"{label}: {rounds} rounds of {ROUND_EXAMPLES} examples, no failure", flush=True)


def test_signed_whatsapp_bodies_never_5xx_and_never_half_written(whatsapp_stack):
    stack = whatsapp_stack

    def build() -> Callable[[], None]:
        @given(data=st.data())
        def signed_body(data: st.DataObject) -> None:
            event = data.draw(whatsapp_event(), label="event")
            check_whatsapp(stack, encode(mutate(data, event)))

        return signed_body

    run_property(build, f"whatsapp on {stack.store.engine.dialect.name}")
    assert_whatsapp_still_answers(stack)


def test_signed_razorpay_bodies_never_5xx_and_never_half_written(razorpay_fuzz_stack):
    stack = razorpay_fuzz_stack
    pool = [new_order(stack) for _ in range(3)]
    previous: list[str] = []

    def build() -> Callable[[], None]:
        @given(data=st.data())
        def signed_body(data: st.DataObject) -> None:
            if data.draw(st.integers(0, 4), label="fresh order") == 0:
                pool.append(new_order(stack))
            target = pool[data.draw(st.integers(0, 10**6), label="order") % len(pool)]
            event = data.draw(razorpay_event(target), label="event")
            header = event_id_header(data, previous)
            check_razorpay(stack, encode(mutate(data, event)), header)
            if header:
                previous.append(header)

        return signed_body

    run_property(build, f"razorpay on {stack.store.engine.dialect.name}")
    assert_razorpay_still_confirms(stack)


# -- the defects of issue 12, and what the fuzzer found, over HTTP ----------------------------


def post_whatsapp(stack: Stack, event: Any) -> tuple[int, Any]:
    return check_whatsapp(stack, encode(event))


def test_whatsapp_bodies_that_gave_5xx_are_refused_or_accepted_cleanly(whatsapp_stack):
    stack = whatsapp_stack

    def location(latitude: Any, longitude: Any = 77.59) -> dict:
        return meta.event(meta.message("location", {"latitude": latitude, "longitude": longitude}))

    # Issue 12: a 400-digit latitude overflowed float() (OverflowError, 500).
    status, answer = post_whatsapp(stack, location(10**400))
    assert status == 400 and "latitude: expected a number" in answer["error"]
    for latitude, longitude in [(Raw("NaN"), 1), (90.5, 0), (0, -180.01), ("nan", 0)]:
        assert post_whatsapp(stack, location(latitude, longitude))[0] == 400
    assert post_whatsapp(stack, location(-90, 180)) == (200, {"status": "accepted", "messages": 1})

    # Found by the fuzzer: a lone surrogate, parsed field or not, reached SQLite (500).
    for event in (
        meta.event(meta.message("text", {"body": "hi \ud800"})),
        meta.event(meta.message("text", {"body": "hi"}, extra={"note": "\udfff"})),
        meta.event(meta.message("text", {"body": "hi"}, sender="9198\udc80")),
    ):
        status, answer = post_whatsapp(stack, event)
        assert status == 400 and "lone surrogate" in answer["error"]

    # Found by the fuzzer: ids longer than the inbox's key were cut, so two messages
    # could share a key and one was dropped as a redelivery; a NUL in the sender.
    long_id = "wamid." + "A" * 200
    assert post_whatsapp(stack, meta.event(meta.message("text", {"body": "a"},
                                                        message_id=long_id)))[0] == 400
    assert post_whatsapp(stack, meta.event(meta.message("text", {"body": "a"},
                                                        sender="91\x0098")))[0] == 400
    # "²" passed str.isdigit() and int() refused it: a 400 that said "invalid JSON".
    order = meta.event(meta.message("order", {"product_items": [
        {"product_retailer_id": "ceramic-mug", "quantity": "²"}]}))
    status, answer = post_whatsapp(stack, order)
    assert status == 400 and "quantity: expected an integer" in answer["error"]
    deep = meta.event(meta.message("text", {"body": "a"}, extra=Raw("[" * 40 + "]" * 40)))
    status, answer = post_whatsapp(stack, deep)
    assert status == 400 and "nested deeper" in answer["error"]

    # Issue 12: a catalog order of quantity 0 is a valid event: accepted, and the
    # conversation says why nothing was added (tests/test_input_bounds.py).
    zero = meta.event(meta.message("order", {"product_items": [
        {"product_retailer_id": "ceramic-mug", "quantity": 0, "item_price": 349,
         "currency": "INR"}]}))
    assert post_whatsapp(stack, zero) == (200, {"status": "accepted", "messages": 1})
    assert_whatsapp_still_answers(stack)


def test_razorpay_bodies_that_gave_5xx_are_answered_2xx_and_recorded(razorpay_fuzz_stack):
    stack = razorpay_fuzz_stack

    def paid(target: Target, **payment: Any) -> dict:
        entity = {"id": f"pay_Reg{next(_events)}", "entity": "payment", "amount": target.total,
                  "currency": "INR", "status": "captured", "method": "upi",
                  "notes": {"order_number": str(target.number)}} | payment
        return {"entity": "event", "event": "payment.captured", "created_at": 1_732_600_000,
                "payload": {"payment": {"entity": entity}}}

    def deliver(event: Any, header: str | bytes | None = None) -> tuple[int, Any]:
        header = header if header is not None else f"evt_reg{next(_events)}"
        return check_razorpay(stack, encode(event), header)

    def outcome(event: Any, header: str | bytes | None = None) -> str:
        status, answer = deliver(event, header)
        assert status == 200, answer
        return answer["outcome"]

    # Issue 12: amount 10**30 overflowed the payment's BIGINT (OverflowError, 500). It
    # reads as unreadable (-1): the payment is recorded and the order flagged, not paid.
    target = new_order(stack)
    assert outcome(paid(target, amount=10**30)) == "flagged"
    [payment] = stack.loop.run(stack.store.payments_of(target.number))
    assert payment.amount == -1
    assert stack.loop.run(stack.store.get(target.number)).status is not OrderStatus.PAID

    # Issue 12: created_at 10**20 overflowed the timestamp; now the time of receipt.
    target = new_order(stack)
    event = paid(target)
    event["created_at"] = 10**20
    assert outcome(event) == "paid"
    event = paid(new_order(stack))
    event["created_at"] = True
    assert outcome(event) == "paid"

    # Issue 12: fields of the wrong type reached SQLite (InterfaceError) and the route
    # answered 503 as if the database were down. They read as absent: 2xx, recorded.
    target = new_order(stack)
    assert outcome(paid(target, id={"a": 1})) == "unchanged"
    assert outcome(paid(target, id=["pay_1"])) == "unchanged"
    link = {"payment_link": {"entity": {"id": target.link_id, "reference_id": ["x"],
                                        "notes": [], "status": "expired"}}}
    assert outcome({"event": "payment_link.expired", "payload": link}) == "unknown_order"
    failed = paid(target, status="failed", error_description={"reason": "declined"})
    failed["event"] = "payment.failed"
    assert outcome(failed) == "failed"
    [payment] = stack.loop.run(stack.store.payments_of(target.number))
    assert payment.error is None

    # Found by the fuzzer: characters no database takes, ids past their column, order
    # numbers past the column, a list that is not one.
    target = new_order(stack)
    nul = paid(target, status="failed", error_description="declined\x00 \ud800 card",
               method="upi\x00")
    nul["event"] = "payment.failed"
    assert outcome(nul) == "failed"
    [payment] = stack.loop.run(stack.store.payments_of(target.number))
    assert payment.error == "declined\ufffd \ufffd card" and payment.method is None
    assert outcome({"event": "payment.captured\ud800", "payload": {}}) == "ignored"
    assert outcome({"event": "x" * 500, "payload": {}}) == "ignored"
    for number in ("99999999999999999999", "²", "-5", 2**31, "0"):
        event = paid(target, notes={"order_number": number})
        assert outcome(event) == "unknown_order", number
    assert outcome(paid(target, id="pay_" + "L" * 100)) == "unchanged"
    links = {"payment_link": {"entity": {"id": target.link_id, "reference_id": target.reference,
                                         "payments": 5, "status": "cancelled"}}}
    assert outcome({"event": "payment_link.cancelled", "payload": links}) == "cancelled"
    # A header of bytes that are not UTF-8 (Sanic reads them as lone surrogates).
    assert outcome({"event": "refund.processed", "payload": {}}, b"evt_\xff\xfe") == "ignored"

    # Issue 12: the flag grew a line per "second payment" or partial payment, without
    # bound. It keeps the newest lines, each reason once.
    target = new_order(stack)
    assert outcome(paid(target)) == "paid"
    for _ in range(3 * MAX_FLAG_LINES):
        assert outcome(paid(target)) == "unchanged"
    partial = {"event": "payment_link.partially_paid", "payload": {"payment_link": {"entity": {
        "id": target.link_id, "reference_id": target.reference, "amount": target.total,
        "amount_paid": 100, "status": "partially_paid"}}}}
    for _ in range(3):
        outcome(partial)
    flag = stack.loop.run(stack.store.get(target.number)).flag
    lines = flag.split("\n")
    assert len(lines) == MAX_FLAG_LINES and len(set(lines)) == len(lines)
    assert "older notes dropped" in lines[0] and "partially paid" in lines[-1]
    assert len(stack.loop.run(stack.store.payments_of(target.number))) == 1 + 3 * MAX_FLAG_LINES

    # Still a 400, writing nothing, for what is not an event of the documented shape.
    for body in ({"event": 5}, {"event": "payment.captured", "payload": []},
                 {"event": "payment.captured", "payload": {"payment": {"entity": [1]}}}):
        assert deliver(body)[0] == 400
    assert_razorpay_still_confirms(stack)
