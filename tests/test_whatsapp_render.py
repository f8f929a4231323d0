"""Rasa responses -> WhatsApp message objects, within WhatsApp's limits.

Every rendered message is also run through the fake Graph API's validator, which
encodes the documented limits independently of the renderer's constants.
"""

from __future__ import annotations

import pytest

from channels.whatsapp.render import (
    TOKEN_PREFIX,
    cut,
    render_buttons,
    render_custom,
    render_image,
    render_response,
    render_text,
    split_text,
)
from sandbox.harness.graph_api import validate


def valid(rendered):
    for message in rendered.messages:
        validate({"messaging_product": "whatsapp", "to": "919876543210", **message})
    return rendered


def buttons(n, title="Option {}", payload="/choose{{\"n\":{}}}"):
    return [{"title": title.format(i), "payload": payload.format(i)} for i in range(1, n + 1)]


def test_short_text_is_one_message():
    [message] = valid(render_text("Hello 👋")).messages
    assert message == {"type": "text", "text": {"body": "Hello 👋", "preview_url": False}}


def test_text_with_a_link_asks_for_a_preview():
    [message] = render_text("Pay here: https://rzp.io/i/abc").messages
    assert message["text"]["preview_url"] is True


def test_empty_text_sends_nothing():
    assert render_text("  ").messages == []


def test_long_text_is_split_at_paragraphs_then_lines_then_words():
    paragraph = ("word " * 700).strip()  # 3499 characters
    text = "\n\n".join([paragraph, paragraph, paragraph])
    parts = [m["text"]["body"] for m in valid(render_text(text)).messages]
    assert parts == [paragraph, paragraph, paragraph]

    lines = "\n".join(["x" * 1000] * 5)  # no paragraph break: cut at a line
    parts = split_text(lines, 4096)
    assert [len(p) for p in parts] == [4003, 1000]  # four whole lines, then the fifth
    assert "\n".join(parts) == lines

    words = " ".join(["abcdefghi"] * 1000)  # 9999 characters, spaces only
    parts = split_text(words, 4096)
    assert all(len(p) <= 4096 for p in parts)
    assert " ".join(parts) == words  # nothing lost, no word broken


def test_text_without_any_break_is_cut_hard():
    parts = split_text("x" * 9000, 4096)
    assert [len(p) for p in parts] == [4096, 4096, 808]


def test_cut_prefers_word_breaks_and_marks_the_cut():
    assert cut("Masala Chai", 20) == "Masala Chai"
    assert cut("Darjeeling First Flush Tea", 20) == "Darjeeling First…"
    assert cut("Supercalifragilisticexpialidocious", 20) == "Supercalifragilisti…"
    assert len(cut("a" * 100, 20)) == 20


def test_up_to_three_buttons_become_reply_buttons():
    rendered = valid(render_buttons("What next?", [
        {"title": "🛒 Checkout", "payload": "/checkout"},
        {"title": "Keep shopping", "payload": "/browse_products"},
        {"title": "View my cart and remove things", "payload": "/show_cart"},
    ]))
    [message] = rendered.messages
    interactive = message["interactive"]
    assert interactive["type"] == "button"
    assert interactive["body"] == {"text": "What next?"}
    replies = [b["reply"] for b in interactive["action"]["buttons"]]
    assert [r["id"] for r in replies] == ["/checkout", "/browse_products", "/show_cart"]
    assert replies[2]["title"] == "View my cart and…"
    assert rendered.tokens == {} and rendered.options is None


def test_titles_equal_after_cutting_are_made_unique():
    rendered = valid(render_buttons("Which one?", [
        {"title": "Kulhad Set of Six Cups", "payload": "/a"},
        {"title": "Kulhad Set of Six Plates", "payload": "/b"},
    ]))
    titles = [b["reply"]["title"] for b in rendered.messages[0]["interactive"]["action"]["buttons"]]
    assert len(set(titles)) == 2 and all(len(t) <= 20 for t in titles)


def test_long_payload_becomes_a_token_and_duplicates_stay_unique():
    long_payload = '/add_to_cart{"product":"' + "x" * 300 + '"}'
    rendered = valid(render_buttons("Add?", [
        {"title": "Yes", "payload": long_payload},
        {"title": "Also yes", "payload": long_payload},
    ]))
    ids = [b["reply"]["id"] for b in rendered.messages[0]["interactive"]["action"]["buttons"]]
    assert all(i.startswith(TOKEN_PREFIX) and len(i) <= 256 for i in ids)
    assert len(set(ids)) == 2
    assert {rendered.tokens[i] for i in ids} == {long_payload}


def test_button_body_over_1024_sends_the_start_as_text_first():
    text = "Your cart:\n" + "\n".join(f"• item {i} — ₹1,299" for i in range(80))
    rendered = valid(render_buttons(text, buttons(2)))
    *head, last = rendered.messages
    assert head and all(m["type"] == "text" for m in head)
    body = last["interactive"]["body"]["text"]
    assert len(body) <= 1024 and body.startswith("•")
    rejoined = "\n".join([m["text"]["body"] for m in head] + [body])
    assert rejoined == text


@pytest.mark.parametrize("n", [4, 7, 10])
def test_four_to_ten_buttons_become_a_list(n):
    rendered = valid(render_buttons("Pick a product", buttons(n)))
    [message] = rendered.messages
    interactive = message["interactive"]
    assert interactive["type"] == "list"
    assert len(interactive["action"]["button"]) <= 20
    rows = interactive["action"]["sections"][0]["rows"]
    assert [r["id"] for r in rows] == [f'/choose{{"n":{i}}}' for i in range(1, n + 1)]


def test_list_row_long_title_continues_in_the_description():
    rendered = valid(render_buttons("Teas", [
        {"title": "Darjeeling First Flush Tea 100g — ₹899", "payload": "/a"},
        {"title": "Masala Chai", "payload": "/b", "description": "250g — ₹299"},
        {"title": "Assam Gold Tea Leaves Extra Long Name " + "x" * 100, "payload": "/c"},
        {"title": "Mug", "payload": "/d"},
    ]))
    rows = rendered.messages[0]["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0]["title"] == "Darjeeling First Flush"
    assert rows[0]["description"] == "Tea 100g — ₹899"
    assert rows[1] == {"id": "/b", "title": "Masala Chai", "description": "250g — ₹299"}
    assert len(rows[2]["description"]) <= 72 and rows[2]["description"].endswith("…")
    assert "description" not in rows[3]


def test_list_row_ids_over_200_become_tokens():
    payload = "/add_to_cart" + '{"note":"' + "y" * 195 + '"}'
    rendered = valid(render_buttons("Pick", [{"title": f"t{i}", "payload": payload if i == 0
                                              else f"/p{i}"} for i in range(5)]))
    rows = rendered.messages[0]["interactive"]["action"]["sections"][0]["rows"]
    assert rows[0]["id"].startswith(TOKEN_PREFIX)
    assert rendered.tokens == {rows[0]["id"]: payload}
    assert rows[1]["id"] == "/p1"


def test_more_than_ten_buttons_become_numbered_text_with_options():
    rendered = valid(render_buttons("All our teas:", buttons(12, title="Tea {}")))
    [message] = rendered.messages
    body = message["text"]["body"]
    assert body.startswith("All our teas:\n\n1. Tea 1\n2. Tea 2")
    # A message from no response (domain.yml's carry a `list`): no English sentence,
    # only the range of numbers.
    assert "12. Tea 12" in body and body.endswith("↩️ 1–12") and "Reply" not in body
    assert rendered.options == [f'/choose{{"n":{i}}}' for i in range(1, 13)]


def test_buttons_without_payload_answer_with_their_title():
    rendered = render_buttons("Size?", [{"title": "Small"}, {"title": "Large"}])
    ids = [b["reply"]["id"] for b in rendered.messages[0]["interactive"]["action"]["buttons"]]
    assert ids == ["Small", "Large"]


def test_empty_text_with_buttons_still_has_a_body():
    valid(render_buttons("", buttons(2)))
    valid(render_buttons("", buttons(5)))


def test_without_words_from_a_response_the_fallbacks_are_symbols_not_english():
    """Only a message from no response reaches these; still no word in one language."""
    [sent] = valid(render_buttons("", buttons(5))).messages
    assert sent["interactive"]["body"]["text"] == "👇"
    assert sent["interactive"]["action"]["button"] == "☰"
    message = {"text": "₹799", "custom": {"pay": {"url": "https://rzp.io/i/a"}}}
    [cta] = valid(render_response(message)).messages
    assert cta["interactive"]["action"]["parameters"]["display_text"] == "💳 ₹"


def test_image_with_caption_and_with_caption_too_long():
    [image] = valid(render_image("https://example.com/chai.jpg", "Masala Chai ₹299")).messages
    assert image == {"type": "image", "image": {"link": "https://example.com/chai.jpg",
                                                 "caption": "Masala Chai ₹299"}}
    long = valid(render_image("https://example.com/chai.jpg", "word " * 300)).messages
    assert [m["type"] for m in long] == ["text", "image"]
    assert "caption" not in long[1]["image"]


def test_custom_payloads_are_sent_as_given():
    cta = {"type": "interactive", "interactive": {
        "type": "cta_url",
        "header": {"type": "text", "text": "Order #10001"},
        "body": {"text": "2 × Masala Chai\nTotal: ₹598"},
        "footer": {"text": "Secure payment by Razorpay"},
        "action": {"name": "cta_url", "parameters": {"display_text": "Pay Now",
                                                     "url": "https://rzp.io/i/abc123"}}}}
    product_list = {"type": "interactive", "interactive": {
        "type": "product_list",
        "header": {"type": "text", "text": "Our teas"},
        "body": {"text": "Tap to see details"},
        "action": {"catalog_id": "1234567890", "sections": [
            {"title": "Teas", "product_items": [{"product_retailer_id": "masala-chai-250g"}]}]}}}
    template = {"type": "template", "template": {"name": "order_update",
                                                  "language": {"code": "en"}}}
    for message in (cta, product_list, template):
        assert valid(render_custom({"whatsapp": message})).messages == [message]


def test_custom_payload_without_whatsapp_key_sends_nothing():
    assert render_custom({"slack": {"text": "hi"}}).messages == []
    assert render_custom("not a dict").messages == []


# -- neutral payloads from the responses in domain.yml (custom: pay / list) -------------


def pay(url="https://rzp.io/i/abc", label="Pay Now", note="Need help? Just reply “help”."):
    return {"url": url, "label": label, "note": note}


def test_pay_payload_becomes_a_cta_url_with_its_note_as_footer():
    message = {"text": "🧾 *Order #10001*\nTotal: ₹799", "buttons": buttons(1),
               "custom": {"pay": pay(label="अभी पेमेंट करें")}}
    [sent] = valid(render_response(message)).messages
    interactive = sent["interactive"]
    assert interactive["type"] == "cta_url"
    assert interactive["body"] == {"text": "🧾 *Order #10001*\nTotal: ₹799"}
    assert interactive["action"] == {
        "name": "cta_url",
        "parameters": {"display_text": "अभी पेमेंट करें", "url": "https://rzp.io/i/abc"},
    }
    assert interactive["footer"] == {"text": "Need help? Just reply “help”."}


def test_pay_payload_with_a_long_text_and_long_labels_stays_within_limits():
    text = "\n".join(f"1 × Product {n} — ₹100" for n in range(80))
    message = {"text": text, "custom": {"pay": pay(label="Pay for your order right now",
                                                  note="n" * 100)}}
    messages = valid(render_response(message)).messages
    assert [m["type"] for m in messages] == ["text", "interactive"]
    cta = messages[-1]["interactive"]
    assert len(cta["action"]["parameters"]["display_text"]) <= 20
    assert len(cta["footer"]["text"]) <= 60 and len(cta["body"]["text"]) <= 1024


def test_pay_payload_without_a_url_is_not_a_button():
    assert render_response({"text": "Pay", "custom": {"pay": {"label": "Pay Now"}}}) is None


def menu(n):
    return [
        {"title": f"Product {i}", "payload": f'/add_to_cart{{"product":"p{i}"}}',
         "description": f"₹{i}99", "section": "Tea" if i <= 4 else "Teaware"}
        for i in range(1, n + 1)
    ]


def test_list_payload_pages_buttons_by_ten_with_sections_and_labels():
    choices = {"label": "सामान देखें", "more": "हमारी दुकान से और", "more_label": "और सामान"}
    message = {"text": "यह रहा हमारा मेन्यू 🍵", "buttons": menu(12), "custom": {"list": choices}}
    first, second = [m["interactive"] for m in valid(render_response(message)).messages]
    assert first["body"]["text"] == "यह रहा हमारा मेन्यू 🍵"
    assert first["action"]["button"] == "सामान देखें"
    assert [s["title"] for s in first["action"]["sections"]] == ["Tea", "Teaware"]
    assert sum(len(s["rows"]) for s in first["action"]["sections"]) == 10
    assert first["action"]["sections"][0]["rows"][0] == {
        "id": '/add_to_cart{"product":"p1"}', "title": "Product 1", "description": "₹199"}
    assert second["body"]["text"] == "हमारी दुकान से और (2/2)"
    assert second["action"]["button"] == "और सामान"
    assert [len(s["rows"]) for s in second["action"]["sections"]] == [2]


def test_a_second_list_page_says_the_response_s_words_in_its_language():
    choices = {"label": "चुनिए", "more": "और मिलते-जुलते सामान", "more_label": "और देखिए"}
    message = {"text": "“चाय” से आपका मतलब कौन-सा है?", "buttons": buttons(13),
               "custom": {"list": choices}}
    first, second = [m["interactive"] for m in valid(render_response(message)).messages]
    assert first["action"]["button"] == "चुनिए"
    assert second["body"]["text"] == "और मिलते-जुलते सामान (2/2)"
    assert second["action"]["button"] == "और देखिए"


def test_list_payload_without_sections_is_one_untitled_section():
    choices = {"label": "Chuniye"}
    message = {"text": "Which one?", "buttons": buttons(5), "custom": {"list": choices}}
    [sent] = valid(render_response(message)).messages
    assert sent["interactive"]["action"]["button"] == "Chuniye"
    assert list(sent["interactive"]["action"]["sections"][0]) == ["rows"]


def test_list_payload_with_few_buttons_is_reply_buttons():
    message = {"text": "Which one?", "buttons": buttons(2), "custom": {"list": {"label": "Choose"}}}
    [sent] = valid(render_response(message)).messages
    assert sent["interactive"]["type"] == "button"


def test_responses_without_neutral_payloads_render_the_usual_way():
    assert render_response({"text": "Hi", "buttons": buttons(2)}) is None
    assert render_response({"text": "Hi", "custom": {"whatsapp": {"type": "text"}}}) is None
