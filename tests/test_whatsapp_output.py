"""Rasa bot responses sent through WhatsAppOutput reach the (fake) Graph API in the
documented shapes; the fake refuses anything outside WhatsApp's limits."""

from __future__ import annotations

import logging

import pytest

from channels.whatsapp import WhatsAppOutput
from channels.whatsapp.client import WhatsAppClient
from channels.whatsapp.store import ChannelState
from sandbox.harness.graph_api import PHONE_NUMBER_ID, TOKEN

CUSTOMER = "919876543210"


@pytest.fixture
async def output(graph):
    client = WhatsAppClient(TOKEN, PHONE_NUMBER_ID, base_url=graph.base_url, backoff_base=0.01)
    yield WhatsAppOutput(client, ChannelState.in_memory())
    await client.close()


def response(**fields):
    """A bot message as Rasa hands it to `send_response`, extra keys included."""
    return {"template_name": "utter_x", "utter_action": "utter_x", "response_ids": ["1"],
            "id": None, **fields}


def buttons(n):
    return [{"title": f"Product {i}", "payload": f'/add_to_cart{{"product":"p{i}"}}'}
            for i in range(1, n + 1)]


async def sent(output, graph, **fields):
    await output.send_response(CUSTOMER, response(**fields))
    assert all(r.status == 200 for r in graph.requests), [r.body for r in graph.requests]
    assert all(r.body["to"] == CUSTOMER for r in graph.requests)
    return graph.sent


async def test_plain_text(output, graph):
    [message] = await sent(output, graph, text="Your cart is empty.")
    assert message == {"messaging_product": "whatsapp", "recipient_type": "individual",
                       "to": CUSTOMER, "type": "text",
                       "text": {"body": "Your cart is empty.", "preview_url": False}}


async def test_long_text_is_split_into_several_messages(output, graph):
    text = "\n\n".join(f"Line {i}: " + " ".join(["chai"] * 150) for i in range(12))
    messages = await sent(output, graph, text=text)
    assert len(messages) == 3
    assert all(len(m["text"]["body"]) <= 4096 for m in messages)
    assert "\n\n".join(m["text"]["body"] for m in messages) == text


async def test_three_buttons_are_reply_buttons(output, graph):
    [message] = await sent(output, graph, text="Added ✅", buttons=buttons(3))
    assert message["interactive"]["type"] == "button"
    assert len(message["interactive"]["action"]["buttons"]) == 3


async def test_quick_replies_are_treated_like_buttons(output, graph):
    [message] = await sent(output, graph, text="Size?", quick_replies=buttons(2))
    assert message["interactive"]["type"] == "button"


async def test_six_buttons_are_a_list(output, graph):
    [message] = await sent(output, graph, text="Our teas", buttons=buttons(6))
    assert message["interactive"]["type"] == "list"
    assert len(message["interactive"]["action"]["sections"][0]["rows"]) == 6


async def test_twelve_buttons_are_numbered_text(output, graph):
    [message] = await sent(output, graph, text="Everything we sell", buttons=buttons(12))
    assert message["type"] == "text" and "12. Product 12" in message["text"]["body"]


async def test_titles_too_long_for_whatsapp_are_cut_not_refused(output, graph):
    long = [{"title": "Premium Darjeeling Muscatel Second Flush 250g — ₹1,299",
             "payload": f"/p{i}"} for i in range(3)]
    [message] = await sent(output, graph, text="Pick", buttons=long)
    titles = [b["reply"]["title"] for b in message["interactive"]["action"]["buttons"]]
    assert all(len(t) <= 20 for t in titles) and len(set(titles)) == 3


async def test_image_with_text_is_one_captioned_image(output, graph):
    [message] = await sent(output, graph, text="Ceramic Mug — ₹349",
                           image="https://example.com/mug.jpg")
    assert message["image"] == {"link": "https://example.com/mug.jpg",
                                "caption": "Ceramic Mug — ₹349"}


async def test_image_alone_and_image_with_buttons(output, graph):
    await output.send_response(CUSTOMER, response(image="https://example.com/a.jpg"))
    await output.send_response(CUSTOMER, response(text="Like it?", buttons=buttons(2),
                                                  image="https://example.com/b.jpg"))
    kinds = [m["type"] for m in graph.sent]
    assert kinds == ["image", "interactive", "image"]
    assert "caption" not in graph.sent[0]["image"]


async def test_cta_url_custom_payload_is_sent_as_given(output, graph):
    pay_now = {
        "type": "interactive",
        "interactive": {
            "type": "cta_url",
            "header": {"type": "text", "text": "Order #10001"},
            "body": {"text": "2 × Masala Chai 250g  ₹598\n1 × Ceramic Mug  ₹349\n"
                             "Total: ₹947"},
            "footer": {"text": "Secured by Razorpay"},
            "action": {"name": "cta_url",
                       "parameters": {"display_text": "Pay Now",
                                      "url": "https://rzp.io/i/nxrHnLJ"}},
        },
    }
    [message] = await sent(output, graph, custom={"whatsapp": pay_now})
    assert message == {"messaging_product": "whatsapp", "recipient_type": "individual",
                       "to": CUSTOMER, **pay_now}


async def test_text_and_custom_payload_in_one_response(output, graph):
    product = {"type": "interactive", "interactive": {
        "type": "product", "body": {"text": "Bestseller"},
        "action": {"catalog_id": "1234567890", "product_retailer_id": "masala-chai-250g"}}}
    messages = await sent(output, graph, text="Try this:", custom={"whatsapp": product})
    assert [m["type"] for m in messages] == ["text", "interactive"]


async def test_custom_payload_for_other_channels_is_not_shown_raw(output, graph, caplog):
    with caplog.at_level(logging.WARNING):
        await output.send_response(CUSTOMER, response(custom={"blocks": [{"type": "x"}]}))
    assert graph.requests == []
    assert "without a 'whatsapp' message object" in caplog.text


async def test_a_refused_message_is_logged_and_the_turn_goes_on(output, graph, caplog):
    graph.fail_next(1, 400, 131047, "(#131047) Re-engagement message")
    with caplog.at_level(logging.ERROR):
        await output.send_response(CUSTOMER, response(text="first\n\n" + "x" * 5000))
        await output.send_response(CUSTOMER, response(text="next response"))
    assert "code=131047" in caplog.text
    # The refused first part is not followed by the rest of its response.
    assert [m["text"]["body"] for m in graph.sent] == ["next response"]


async def test_neutral_pay_payload_is_one_url_button_message(output, graph):
    pay = {"url": "https://rzp.io/i/nxrHnLJ", "label": "Pay karo", "note": "Madad? “help” likhiye."}
    [message] = await sent(output, graph, text="🧾 *Order #10001*\n*Total: ₹799*",
                           buttons=[{"title": "🙋 Help", "payload": "/help"}],
                           custom={"pay": pay})
    interactive = message["interactive"]
    assert interactive["type"] == "cta_url" and interactive["footer"]["text"] == pay["note"]
    assert interactive["action"]["parameters"] == {"display_text": "Pay karo", "url": pay["url"]}


async def test_neutral_list_payload_is_list_messages(output, graph):
    messages = await sent(output, graph, text="Here's our menu 🍵", buttons=buttons(12),
                          custom={"list": {"label": "See products", "more_label": "More"}})
    assert [m["interactive"]["action"]["button"] for m in messages] == ["See products", "More"]
