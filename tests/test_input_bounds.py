"""Bounds at the edge (issue 12): each defect found by hand or by the webhook fuzzer
(tests/test_fuzz_webhooks.py), as the unit it lives in. The same defects over HTTP are
in test_fuzz_webhooks.py."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
import sqlalchemy as sa
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions.cart import ActionAddToCart
from actions.checkout import ValidateCheckoutForm
from channels.whatsapp.models import (
    MAX_DEPTH,
    MAX_MESSAGE_ID,
    MAX_SENDER,
    WebhookEvent,
    WebhookParseError,
)
from commerce.cart import Cart
from commerce.catalog import load_catalog
from commerce.delivery import ADDRESS_LENGTH, AddressProblem, address_problem, clean_address
from commerce.quantity import AT_LEAST_ONE, MAX_READ, WHOLE_NUMBER, parse_quantity, quantity_problem
from gateways.razorpay_payloads import (
    MAX_ORDER_NUMBER,
    UNREADABLE_AMOUNT,
    PaymentLink,
    RazorpayPayment,
)
from orders.payment_events import EventParseError, Outcome, PaymentEvent, apply_event
from orders.store import (
    MAX_FLAG_LINE_CHARS,
    MAX_FLAG_LINES,
    OrderStore,
    OrderTransaction,
    get_store,
    orders,
    with_flag_line,
)
from sandbox.harness import whatsapp_meta as meta
from sandbox.harness.razorpay_stack import place_order

CUSTOMER = "919812345678"


# -- WhatsApp: channels/whatsapp/models.py ----------------------------------------------------


def location(latitude: Any, longitude: Any = 77.59) -> dict:
    return meta.event(meta.message("location", {"latitude": latitude, "longitude": longitude}))


def test_a_400_digit_latitude_is_refused_not_overflowed():
    # Issue 12: float(10**400) raised OverflowError, which the route answered 500.
    with pytest.raises(WebhookParseError, match=r"location\.latitude: expected a number"):
        WebhookEvent.parse(location(10**400))
    with pytest.raises(WebhookParseError, match=r"location\.longitude: expected a number"):
        WebhookEvent.parse(location(1, -(10**400)))


@pytest.mark.parametrize(
    "latitude, longitude",
    [(float("nan"), 1), (float("inf"), 1), ("nan", 1), (90.01, 1), (1, 180.5), ("1" * 50, 1)],
)
def test_coordinates_must_be_finite_and_on_the_globe(latitude, longitude):
    with pytest.raises(WebhookParseError, match="expected a number|not a JSON number"):
        WebhookEvent.parse(location(latitude, longitude))


def test_coordinates_at_the_bounds_are_kept():
    [inbound] = WebhookEvent.parse(location(-90, "180")).messages()
    assert (inbound.message.location.latitude, inbound.message.location.longitude) == (-90, 180)


@pytest.mark.parametrize(
    "quantity, expected",
    [(0, 0), (-5, -5), ("3", 3), ("-2", -2), (2**31 - 1, 2**31 - 1)],
)
def test_catalog_quantities_are_bounded_integers_of_any_sign(quantity, expected):
    # The sign is the cart's to judge (and explain): 0 and -5 are accepted here.
    payload = meta.event(meta.message("order", {"product_items": [
        {"product_retailer_id": "ceramic-mug", "quantity": quantity}]}))
    [inbound] = WebhookEvent.parse(payload).messages()
    assert inbound.message.order.items[0].quantity == expected


@pytest.mark.parametrize("quantity", ["²", "١٢", 2**31, 10**30, 1.5, True, "1e3", "12345678901"])
def test_catalog_quantities_past_the_bounds_are_refused_with_the_path(quantity):
    # "²" passed str.isdigit(), then int() refused it: a 400 that said "invalid JSON".
    payload = meta.event(meta.message("order", {"product_items": [
        {"product_retailer_id": "ceramic-mug", "quantity": quantity}]}))
    with pytest.raises(WebhookParseError, match=r"product_items\[0\]\.quantity: expected"):
        WebhookEvent.parse(payload)


@pytest.mark.parametrize(
    "message, where",
    [
        (meta.message("text", {"body": "hi"}, message_id="w" * (MAX_MESSAGE_ID + 1)),
         "messages[0].id: longer than"),
        (meta.message("text", {"body": "hi"}, sender="9" * (MAX_SENDER + 1)),
         "wa_id: longer than"),
        (meta.message("text", {"body": "hi"}, sender="91\x0098"), "from: control characters"),
        (meta.message("text", {"body": "hi"}, message_id="wamid.\n1"), "id: control characters"),
        (meta.message("text", {"body": "x" * 65537}), "text.body: longer than"),
        (meta.message("button", {"text": "y" * 5000}), "button.text: longer than"),
    ],
)
def test_ids_and_strings_are_bounded(message, where):
    # Found by the fuzzer: ids past the inbox's key were cut, so two messages could
    # share a key and the second was dropped as a redelivery.
    with pytest.raises(WebhookParseError) as error:
        WebhookEvent.parse(meta.event(message))
    assert where in str(error.value)


@pytest.mark.parametrize(
    "mutate",
    [
        lambda m: m["text"].update(body="hi \ud800"),
        lambda m: m.update(extra={"deep": ["\udfff"]}),
        lambda m: m.update({"\udc80key": 1}),
    ],
)
def test_a_lone_surrogate_anywhere_is_refused(mutate):
    # Found by the fuzzer: JSON's "\ud800" escape decodes to a lone surrogate, which
    # SQLite cannot encode: the inbox write raised UnicodeEncodeError (500).
    message = meta.message("text", {"body": "hi"})
    mutate(message)
    with pytest.raises(WebhookParseError, match="lone surrogate"):
        WebhookEvent.parse(meta.event(message))


def test_nan_and_deep_nesting_anywhere_are_refused():
    nan = meta.message("text", {"body": "hi"}, extra={"n": float("nan")})
    with pytest.raises(WebhookParseError, match="not a JSON number"):
        WebhookEvent.parse(meta.event(nan))
    nested: Any = 1
    for _ in range(MAX_DEPTH):
        nested = [nested]
    deep = meta.message("text", {"body": "hi"}, extra=nested)
    with pytest.raises(WebhookParseError, match="nested deeper"):
        WebhookEvent.parse(meta.event(deep))
    # A realistic depth passes, and a big (but JSON) number in a field we do not use.
    fine = meta.message("text", {"body": "hi"}, extra=[[[{"a": 10**400}]]])
    assert len(WebhookEvent.parse(meta.event(fine)).messages()) == 1


# -- Razorpay: gateways/razorpay_payloads.py, orders/payment_events.py ------------------------


def payment(**fields: Any) -> RazorpayPayment:
    entity = {"id": "pay_1", "amount": 79900, "currency": "INR"} | fields
    parsed = RazorpayPayment.from_event(entity)
    assert parsed is not None
    return parsed


@pytest.mark.parametrize(
    "amount, expected",
    [
        (10**30, UNREADABLE_AMOUNT),  # issue 12: overflowed the BIGINT column
        (10**15 + 1, UNREADABLE_AMOUNT),
        (-1, UNREADABLE_AMOUNT),
        ("²", UNREADABLE_AMOUNT),  # passed str.isdigit(); int() refused it (a 400)
        ("١٢٣", UNREADABLE_AMOUNT),
        ("9" * 25, UNREADABLE_AMOUNT),
        (True, UNREADABLE_AMOUNT),
        (79900.0, UNREADABLE_AMOUNT),
        (" 79900 ", 79900),
        (10**15, 10**15),
    ],
)
def test_amounts_out_of_range_read_as_unreadable(amount, expected):
    assert payment(amount=amount).amount == expected


@pytest.mark.parametrize("value", [{"a": 1}, ["pay_1"], True, "", "pay_\x00", "pay_\ud800",
                                   "pay_" + "x" * 61])
def test_ids_of_the_wrong_type_or_past_their_column_read_as_absent(value):
    # Issue 12: an object or list reached SQLite (InterfaceError) and the route said 503.
    assert payment(id=value).id is None


def test_free_text_is_kept_storable_and_other_fields_absent():
    parsed = payment(error_description="declined\x00 \ud83d!", method={"upi": 1}, status=["x"])
    assert parsed.error_description == "declined\ufffd \ufffd!"
    assert (parsed.method, parsed.status) == (None, None)
    assert payment(error_description={"a": 1}).error_description is None
    assert len(payment(error_description="e" * 5000).error_description) == 1000


@pytest.mark.parametrize(
    "number, expected",
    [("10001", 10001), (10001, 10001), ("99999999999999999999", None), (MAX_ORDER_NUMBER + 1,
     None), ("²", None), ("-5", None), ("0", None), (True, None), ({"n": 1}, None)],
)
def test_noted_order_numbers_fit_the_column(number, expected):
    # A 20-digit number overflowed SQLite's INTEGER binding (OverflowError, 500).
    assert payment(notes={"order_number": number}).noted_order_number == expected


def test_a_link_whose_payments_are_not_a_list_lists_none():
    # `for p in 5` raised TypeError out of the parser: a 500.
    for listed in (5, "abc", {"a": 1}, None):
        link = PaymentLink.from_event({"id": "plink_1", "payments": listed})
        assert link is not None and link.payments == ()
    link = PaymentLink.from_event({"id": "plink_1", "payments": [{"payment_id": "pay_1"}, 7]})
    assert [p.payment_id for p in link.payments] == ["pay_1"]


def test_event_created_at_name_and_id_are_bounded():
    body = {"event": "payment.captured", "created_at": 10**20, "payload": {}}
    assert PaymentEvent.from_body("evt_1", body).created_at is None  # issue 12
    assert PaymentEvent.from_body("evt_1", body | {"created_at": True}).created_at is None
    assert PaymentEvent.from_body("evt_1", body | {"created_at": 1_732_600_000}).created_at
    named = PaymentEvent.from_body("evt_1", body | {"event": "payment.captured\ud800" + "x" * 99})
    assert named.name == "payment.captured\ufffd" + "x" * 47
    # Sanic reads a header's non-UTF-8 bytes as lone surrogates: kept as a digest.
    odd = PaymentEvent.from_body("evt_\udcff", body)
    digest = hashlib.sha256("evt_\udcff".encode("utf-8", "surrogatepass")).hexdigest()
    assert odd.event_id == "sha256:" + digest
    assert PaymentEvent.from_body("e" * 200, body).event_id == "e" * 80
    for shape in ({"event": 5}, {"event": "x", "payload": []},
                  {"event": "x", "payload": {"payment": {"entity": "pay_1"}}}):
        with pytest.raises(EventParseError):
            PaymentEvent.from_body("evt_1", shape)


async def test_unstorable_text_applies_on_every_database(store: OrderStore):
    # PostgreSQL refuses NUL in text (psycopg2 raises ValueError, not a database error,
    # so the route answered 500); SQLite refuses lone surrogates. Both become storable.
    order = await place_order(store)
    entity = {
        "id": "pay_Nul1", "amount": order.total, "currency": "INR", "status": "failed",
        "method": "card\x00", "error_description": "card\x00declined \ud800",
        "notes": {"order_number": str(order.number)},
    }
    body = {"event": "payment.failed\x00", "payload": {"payment": {"entity": entity}}}
    ignored = await apply_event(store, PaymentEvent.from_body("evt_nul_0", body))
    assert ignored.outcome is Outcome.IGNORED
    body["event"] = "payment.failed"
    applied = await apply_event(store, PaymentEvent.from_body("evt_\udcffnul", body))
    assert applied.outcome is Outcome.FAILED
    [recorded] = await store.payments_of(order.number)
    assert (recorded.method, recorded.error) == (None, "card\ufffddeclined \ufffd")


# -- the order's flag: orders/store.py ----------------------------------------------------------


def test_the_flag_keeps_the_newest_lines_each_once():
    flag = None
    for n in range(3 * MAX_FLAG_LINES):
        flag = with_flag_line(flag, f"second payment pay_{n} for a paid order: refund it")
        assert with_flag_line(flag, f"second payment pay_{n} for a paid order: refund it") == flag
    lines = flag.split("\n")
    assert len(lines) == MAX_FLAG_LINES and len(set(lines)) == MAX_FLAG_LINES
    assert lines[0].startswith(f"({2 * MAX_FLAG_LINES + 1} older notes dropped")
    assert lines[-1] == f"second payment pay_{3 * MAX_FLAG_LINES - 1} for a paid order: refund it"
    long = with_flag_line(None, "x" * 5000 + "\nsecond line")
    assert "\n" not in long and len(long) == MAX_FLAG_LINE_CHARS


async def test_a_repeated_reason_does_not_touch_the_order(store: OrderStore):
    order = await place_order(store)

    def flag_and_updated() -> tuple:
        with store.engine.begin() as conn:
            OrderTransaction(conn).flag(order.number, "payment pay_1 does not match")
            query = sa.select(orders.c.flag, orders.c.updated_at)
            return tuple(conn.execute(query.where(orders.c.number == order.number)).one())

    first = flag_and_updated()
    assert flag_and_updated() == first and first[0] == "payment pay_1 does not match"


# -- quantities and the cart: commerce/quantity.py, actions/cart.py ----------------------------


@pytest.mark.parametrize(
    "value, problem",
    [(1, None), ("3", None), (2.0, None), (0, AT_LEAST_ONE), ("0", AT_LEAST_ONE),
     (-5, AT_LEAST_ONE), ("-5", AT_LEAST_ONE), (-0.5, AT_LEAST_ONE), (2.5, WHOLE_NUMBER),
     ("lots", WHOLE_NUMBER), (None, WHOLE_NUMBER), (True, WHOLE_NUMBER),
     (float("nan"), WHOLE_NUMBER), (10**30, None)],
)
def test_a_stated_quantity_must_be_a_whole_number_of_at_least_one(value, problem):
    assert quantity_problem(value) == problem


def test_a_5000_digit_number_in_a_message_reads_as_more_than_any_cart_takes():
    # int() refuses more than 4,300 digits (ValueError): the action would crash.
    assert parse_quantity("9" * 5000) == MAX_READ
    assert parse_quantity("9" * 5000 + " pcs") == MAX_READ
    assert parse_quantity("123456789") == 123456789


def tracker(text: str, entities: list | None = None, metadata: dict | None = None,
            cart: list | None = None) -> Tracker:
    message = {"text": text, "intent": {"name": "add_to_cart", "confidence": 1.0},
               "entities": entities or [], "metadata": metadata or {}}
    return Tracker(CUSTOMER, {"cart": cart or [], "cart_has_items": bool(cart)}, message,
                   [{"event": "user", "text": text, "parse_data": message}], False, None, {},
                   "action_listen")


def said(messages: list[dict]) -> list[tuple[str, str | None]]:
    """(response, product) per message: the words are domain.yml's, in every language."""
    return [(m["response"], m.get("product")) for m in messages]


async def add(tracker_: Tracker) -> tuple[list[tuple[str, str | None]], list | None]:
    dispatcher = CollectingDispatcher()
    events = await ActionAddToCart().run(dispatcher, tracker_, {})
    carts = [e["value"] for e in events if e.get("name") == "cart"]
    return said(dispatcher.messages), carts[0] if carts else None


@pytest.fixture(autouse=True)
def _order_database(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'actions.db'}")
    yield
    get_store().dispose()


async def test_catalog_order_with_quantity_zero_adds_nothing_and_says_why():
    # Issue 12: `int(quantity or 1)` turned 0 into 1.
    order = [{"sku": "ceramic-mug", "quantity": 0}, {"sku": "tea-strainer", "quantity": -2}]
    replies, cart = await add(tracker("/add_to_cart", metadata={"whatsapp_order": order}))
    assert cart in (None, [])
    assert replies == [
        ("utter_not_added_at_least_one", "Ceramic Tea Mug"),
        ("utter_not_added_at_least_one", "Steel Tea Strainer"),
    ]


async def test_catalog_order_adds_the_good_lines_and_explains_the_rest():
    order = [{"sku": "wild-honey-250g", "quantity": 2}, {"sku": "ceramic-mug", "quantity": 0}]
    replies, cart = await add(tracker("/add_to_cart", metadata={"whatsapp_order": order}))
    assert cart == [{"sku": "wild-honey-250g", "quantity": 2}]
    assert replies == [("utter_not_added_at_least_one", "Ceramic Tea Mug"), ("utter_added", None)]


@pytest.mark.parametrize("quantity", [-5, 0, "-5", "0", 2.5, "lots"])
async def test_typed_payload_with_a_bad_quantity_adds_nothing_and_says_why(quantity):
    # Issue 12: `/add_to_cart{"product": ..., "quantity": -5}` added one item.
    entities = [{"entity": "product", "value": "ceramic-mug"},
                {"entity": "quantity", "value": quantity}]
    replies, cart = await add(tracker(
        '/add_to_cart{"product":"ceramic-mug","quantity":-5}', entities,
        cart=[{"sku": "ceramic-mug", "quantity": 1}]))
    assert cart is None  # no cart event: the cart is as it was
    assert replies in (
        [("utter_not_added_at_least_one", "Ceramic Tea Mug")],
        [("utter_not_added_whole_number", "Ceramic Tea Mug")],
    )


async def test_typed_payload_with_a_good_quantity_still_adds():
    entities = [{"entity": "product", "value": "ceramic-mug"}, {"entity": "quantity", "value": 3}]
    replies, cart = await add(
        tracker('/add_to_cart{"product":"ceramic-mug","quantity":3}', entities)
    )
    assert cart == [{"sku": "ceramic-mug", "quantity": 3}] and replies == [("utter_added", None)]


def test_the_cart_itself_refuses_quantities_below_one():
    mug = load_catalog().get("ceramic-mug")
    cart = Cart()
    for quantity in (0, -5):
        with pytest.raises(ValueError, match="at least 1"):
            cart.add(mug, quantity)
    assert cart.is_empty


# -- the delivery address: commerce/delivery.py, actions/checkout.py ---------------------------


async def validate_address(text: str) -> tuple[dict, list[dict]]:
    dispatcher = CollectingDispatcher()
    result = await ValidateCheckoutForm().validate_delivery_address(
        text, dispatcher, tracker(text), {}
    )
    return result, dispatcher.messages


async def test_an_address_past_the_limit_is_too_long_not_too_short():
    # Issue 12: it was refused with "That address looks too short".
    long_address = "Flat 4B, 12 MG Road, Bengaluru " * 20
    assert len(long_address) > ADDRESS_LENGTH[1]
    assert address_problem(long_address) is AddressProblem.TOO_LONG
    result, messages = await validate_address(long_address)
    assert result == {"delivery_address": None}
    [message] = messages
    assert message["response"] == "utter_address_too_long"
    assert message["limit"] == ADDRESS_LENGTH[1]


@pytest.mark.parametrize(
    "answer, problem, response",
    [("12", AddressProblem.TOO_SHORT, "utter_address_too_short"),
     ("12 34 56 78 90", AddressProblem.TOO_SHORT, "utter_address_too_short"),
     ("/checkout", AddressProblem.NOT_TEXT, "utter_address_not_text")],
)
async def test_other_refused_addresses_say_their_own_reason(answer, problem, response):
    assert address_problem(answer) is problem and clean_address(answer) is None
    result, messages = await validate_address(answer)
    assert result == {"delivery_address": None}
    assert [m["response"] for m in messages] == [response]


async def test_an_address_at_the_limit_is_taken():
    address = ("Flat 4B, 12 MG Road, Bengaluru " * 10)[: ADDRESS_LENGTH[1]].strip()
    assert address_problem(address) is None
    result, messages = await validate_address(address)
    assert result["delivery_address"] == address and messages == []
