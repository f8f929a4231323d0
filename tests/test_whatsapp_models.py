"""Parsing the webhook envelope: every message type, statuses, errors, bad input."""

from __future__ import annotations

import copy
from decimal import Decimal

import pytest

from channels.whatsapp.models import WebhookEvent, WebhookParseError
from sandbox.harness import whatsapp_meta as meta


def only_message(payload):
    [inbound] = WebhookEvent.parse(payload).messages()
    return inbound.message


def test_text_with_profile_name_and_context():
    payload = meta.event(
        meta.message("text", {"body": "2 masala chai"}, context={"from": "15550000000",
                                                                  "id": "wamid.prev"}),
        names={meta.CUSTOMER: "Ravi Kumar"},
    )
    [inbound] = WebhookEvent.parse(payload).messages()
    assert inbound.message.text == "2 masala chai"
    assert inbound.message.sender == meta.CUSTOMER
    assert inbound.profile_name == "Ravi Kumar"
    assert inbound.phone_number_id == meta.PHONE_NUMBER_ID


def test_button_reply_and_list_reply():
    button = only_message(meta.event(meta.message("interactive", {
        "type": "button_reply", "button_reply": {"id": "/checkout", "title": "Checkout"}})))
    assert (button.interactive.type, button.interactive.reply_id) == ("button_reply", "/checkout")

    row = only_message(meta.event(meta.message("interactive", {
        "type": "list_reply",
        "list_reply": {"id": '/add_to_cart{"product":"ceramic-mug"}', "title": "Ceramic Mug",
                       "description": "₹349"}})))
    assert row.interactive.reply_id == '/add_to_cart{"product":"ceramic-mug"}'
    assert row.interactive.description == "₹349"


def test_flow_reply_is_kept_without_reply_id():
    flow = only_message(meta.event(meta.message("interactive", {
        "type": "nfm_reply", "nfm_reply": {"name": "flow", "response_json": "{}"}})))
    assert flow.interactive.type == "nfm_reply" and flow.interactive.reply_id is None


def test_template_quick_reply_button():
    msg = only_message(meta.event(meta.message(
        "button", {"text": "Track order", "payload": "/order_status"},
        context={"from": "15550000000", "id": "wamid.template"})))
    assert (msg.button.text, msg.button.payload) == ("Track order", "/order_status")


def test_order_from_catalog_with_decimal_prices():
    msg = only_message(meta.event(meta.message("order", {
        "catalog_id": "1234567890",
        "text": "please deliver fast",
        "product_items": [
            {"product_retailer_id": "masala-chai-250g", "quantity": 2, "item_price": 299,
             "currency": "INR"},
            {"product_retailer_id": "ceramic-mug", "quantity": "1", "item_price": 349.99,
             "currency": "INR"},
        ]})))
    assert [(i.sku, i.quantity) for i in msg.order.items] == [
        ("masala-chai-250g", 2), ("ceramic-mug", 1)]
    assert msg.order.items[1].item_price == Decimal("349.99")


def test_location_with_and_without_name():
    msg = only_message(meta.event(meta.message("location", {
        "latitude": 12.9716, "longitude": 77.5946, "name": "Home",
        "address": "12 MG Road, Bengaluru 560001"})))
    assert msg.location.latitude == pytest.approx(12.9716)
    assert msg.location.address == "12 MG Road, Bengaluru 560001"
    bare = only_message(meta.event(meta.message("location", {"latitude": "28.6", "longitude": 77})))
    assert bare.location.name is None and bare.location.longitude == 77.0


@pytest.mark.parametrize("kind", ["image", "audio", "video", "document", "sticker"])
def test_media_messages(kind):
    content = {"id": "1234", "mime_type": "image/jpeg", "sha256": "abc"}
    if kind in ("image", "video", "document"):
        content["caption"] = "is this in stock?"
    msg = only_message(meta.event(meta.message(kind, content)))
    assert msg.type == kind and msg.media.id == "1234"


def test_reaction_unsupported_and_unknown_types_parse():
    reaction = meta.message("reaction", {"message_id": "wamid.ours", "emoji": "👍"})
    unsupported = meta.message("unsupported", errors=[{
        "code": 131051, "title": "Message type unknown",
        "error_data": {"details": "Message type is currently not supported."}}])
    unknown = meta.message("hologram", {"whatever": True})
    messages = [i.message for i in WebhookEvent.parse(
        meta.event(reaction, unsupported, unknown)).messages()]
    assert [m.type for m in messages] == ["reaction", "unsupported", "hologram"]
    assert messages[1].errors[0].code == 131051


def test_statuses_with_failure_errors_and_value_errors():
    payload = meta.envelope(meta.value(statuses=[
        meta.status("sent"), meta.status("delivered"), meta.status("read"),
        meta.status("failed", errors=[{"code": 131047, "title": "Re-engagement message",
                                       "error_data": {"details": "more than 24 hours"}}]),
    ]))
    payload["entry"][0]["changes"][0]["value"]["errors"] = [{"code": 131000, "title": "x"}]
    event = WebhookEvent.parse(payload)
    assert event.messages() == []
    assert [s.status for s in event.statuses()] == ["sent", "delivered", "read", "failed"]
    assert event.statuses()[3].errors[0].code == 131047
    assert event.statuses()[3].errors[0].details == "more than 24 hours"
    assert event.errors()[0].code == 131000


def test_every_entry_change_and_message_in_order():
    a, b, c, d = (meta.message("text", {"body": str(i)}, sender=f"91900000000{i}")
                  for i in range(4))
    payload = meta.envelope(meta.value([a, b]), meta.value([c]), meta.value([d]), entries=2)
    assert len(payload["entry"]) == 2
    bodies = sorted(i.message.text for i in WebhookEvent.parse(payload).messages())
    assert bodies == ["0", "1", "2", "3"]


def test_other_fields_are_ignored_not_parsed():
    payload = meta.event(meta.message("text", {"body": "hi"}))
    payload["entry"][0]["changes"].append(
        {"field": "message_template_status_update", "value": {"event": "APPROVED"}})
    event = WebhookEvent.parse(payload)
    assert len(event.messages()) == 1
    assert event.entries[0].changes[1].value is None


def _broken(mutate):
    payload = meta.event(meta.message("text", {"body": "hi"}))
    mutate(payload)
    return payload


@pytest.mark.parametrize("payload, where", [
    ([], "$: expected an object"),
    ({"entry": []}, "$.object: missing"),
    ({"object": "page", "entry": []}, "$.object: expected 'whatsapp_business_account'"),
    ({"object": "whatsapp_business_account"}, "$.entry: missing"),
    ({"object": "whatsapp_business_account", "entry": {}}, "$.entry: expected a list"),
    (_broken(lambda p: p["entry"][0].pop("changes")), "entry[0].changes: missing"),
    (_broken(lambda p: p["entry"][0]["changes"][0].pop("value")), "changes[0].value: missing"),
    (_broken(lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0].pop("from")),
     "messages[0].from: missing"),
    (_broken(lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0].pop("id")),
     "messages[0].id: missing"),
    (_broken(lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0].pop("text")),
     "messages[0].text: missing"),
    (_broken(lambda p: p["entry"][0]["changes"][0]["value"]["messages"][0]["text"].update(
        body=["x"])), "messages[0].text.body: expected a string"),
])
def test_malformed_payloads_name_the_problem(payload, where):
    with pytest.raises(WebhookParseError) as error:
        WebhookEvent.parse(payload)
    assert where in str(error.value)


def test_order_with_bad_quantity_is_refused():
    payload = meta.event(meta.message("order", {"product_items": [
        {"product_retailer_id": "ceramic-mug", "quantity": "lots"}]}))
    with pytest.raises(WebhookParseError, match="quantity: expected an integer"):
        WebhookEvent.parse(payload)


def test_one_bad_message_refuses_the_whole_event():
    good = meta.message("text", {"body": "hi"})
    bad = copy.deepcopy(good)
    del bad["type"]
    with pytest.raises(WebhookParseError, match=r"messages\[1\].type"):
        WebhookEvent.parse(meta.event(good, bad))
