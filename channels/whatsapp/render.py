"""Turn Rasa bot responses into WhatsApp message objects, within WhatsApp's limits.

Pure functions: they return the message objects to send plus what the channel must
remember (tokens for over-long reply ids, numbered options), and never do I/O.
A message object is what goes next to `messaging_product`/`to` in a send call.

Responses are channel-neutral; besides text and buttons (with an optional
`description` and `section` per button) a response's `custom` may hold:

- `pay: {url, label, note}`: a link that pays the order. Shown as a one-tap URL
  button (cta_url) labelled `label`, with `note` as its footer; a cta_url message holds
  one button, so the response's other buttons are left out (the note says how to get
  help instead).
- `list: {label, more, more_label}`: with more than 3 buttons, a list message opened
  with `label`; past 10 buttons, further lists, each with `more` as its text and
  `more_label` on its button. Buttons with a `section` are grouped under it.
- `template: {name, language, parameters}`: an approved message template, its body's
  {{1}}, {{2}}... filled with `parameters` in order (what still reaches someone outside
  the 24-hour window).
- `whatsapp: {...}`: a WhatsApp message object, sent as given (product lists).

Other channels receive the same response: text and buttons, and `custom` as is.

Every word a customer reads comes from the response, in the customer's language:
scripts/check_languages.py makes every response with more than 3 buttons (or a `list`
payload) carry `list` with all three labels, a `pay` payload its `label`, and every
response with buttons a text. The few fallbacks below are for messages that come from
no such response; they are symbols and digits, never words in one language.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

TEXT_LIMIT = 4096
BUTTONS_BODY_LIMIT = 1024
LIST_BODY_LIMIT = 4096
CAPTION_LIMIT = 1024
MAX_REPLY_BUTTONS = 3
MAX_LIST_ROWS = 10
BUTTON_TITLE_LIMIT = 20
BUTTON_ID_LIMIT = 256
ROW_TITLE_LIMIT = 24
ROW_DESCRIPTION_LIMIT = 72
ROW_ID_LIMIT = 200
SECTION_TITLE_LIMIT = 24
FOOTER_LIMIT = 60
# Language-neutral stand-ins, only for a message whose response did not supply the words
# (domain.yml's responses always do: scripts/check_languages.py). WhatsApp refuses an
# interactive message without a body, a list without its open button's label and a URL
# button without its text, so something must be there; a symbol reads the same in
# every language, an English word would not.
LIST_BUTTON_LABEL = "☰"  # the list's open button, <= 20 characters
DEFAULT_BODY = "👇"  # interactive messages need a body
PAY_LABEL = "💳 ₹"  # a pay button's text

# Reply ids that stand for a payload kept by the channel (see Rendered.tokens).
TOKEN_PREFIX = "~p:"
ELLIPSIS = "…"


@dataclass
class Rendered:
    messages: list[dict[str, Any]] = field(default_factory=list)
    # short reply id -> Rasa payload, for payloads too long to be an id themselves
    tokens: dict[str, str] = field(default_factory=dict)
    # payloads of a numbered list, in order, when the customer may answer "3"
    options: list[str] | None = None


def render_text(text: str) -> Rendered:
    return Rendered([_text(part) for part in split_text(text, TEXT_LIMIT)])


def render_image(url: str, caption: str | None = None) -> Rendered:
    caption = (caption or "").strip()
    if len(caption) > CAPTION_LIMIT:
        # Too long to be a caption: say it first, then show the image.
        return Rendered(render_text(caption).messages + [_image(url, None)])
    return Rendered([_image(url, caption or None)])


def render_buttons(text: str, buttons: list[dict[str, Any]]) -> Rendered:
    """Up to 3 buttons: reply buttons; up to 10: a list; more: numbered text.

    A response with more than 3 buttons carries a `list` payload with its labels
    (render_response); only a message without one comes here with more than 3, and
    gets the neutral label and prompt."""
    if not buttons:
        return render_text(text)
    payloads = [_payload(b) for b in buttons]
    if len(buttons) > MAX_LIST_ROWS:
        return _numbered(text, buttons, payloads)
    limit = BUTTON_ID_LIMIT if len(buttons) <= MAX_REPLY_BUTTONS else ROW_ID_LIMIT
    ids, tokens = _reply_ids(payloads, limit)
    if len(buttons) <= MAX_REPLY_BUTTONS:
        head, body = _head_and_body(text, BUTTONS_BODY_LIMIT)
        titles = _unique([cut(_title(b), BUTTON_TITLE_LIMIT) for b in buttons],
                         BUTTON_TITLE_LIMIT)
        replies = [
            {"type": "reply", "reply": {"id": reply_id, "title": title}}
            for reply_id, title in zip(ids, titles, strict=True)
        ]
        interactive = {"type": "button", "body": {"text": body}, "action": {"buttons": replies}}
    else:
        head, body = _head_and_body(text, LIST_BODY_LIMIT)
        rows = [_row(button, reply_id) for button, reply_id in zip(buttons, ids, strict=True)]
        interactive = {
            "type": "list",
            "body": {"text": body},
            "action": {"button": LIST_BUTTON_LABEL, "sections": [{"rows": rows}]},
        }
    messages = [_text(part) for part in head]
    messages.append({"type": "interactive", "interactive": interactive})
    return Rendered(messages, tokens)


def render_response(message: dict[str, Any]) -> Rendered | None:
    """A response whose neutral `custom` payload (`pay`, `list`, `template`) shapes the
    whole message, or None when the response has none and renders the usual way."""
    custom = message.get("custom")
    if not isinstance(custom, dict):
        return None
    template = custom.get("template")
    if isinstance(template, dict) and template.get("name"):
        return render_template(template)
    text = str(message.get("text") or "")
    buttons = message.get("buttons") or []
    pay = custom.get("pay")
    if isinstance(pay, dict) and pay.get("url"):
        return render_pay(text, pay)
    choices = custom.get("list")
    if isinstance(choices, dict) and buttons:
        if len(buttons) <= MAX_REPLY_BUTTONS:
            return render_buttons(text, buttons)
        return render_list(text, buttons, choices)
    return None


def render_pay(text: str, pay: dict[str, Any]) -> Rendered:
    """The text with a one-tap URL button (`pay`: url, label, note)."""
    head, body = _head_and_body(text, BUTTONS_BODY_LIMIT)
    interactive: dict[str, Any] = {
        "type": "cta_url",
        "body": {"text": body},
        "action": {
            "name": "cta_url",
            "parameters": {
                "display_text": cut(str(pay.get("label") or PAY_LABEL), BUTTON_TITLE_LIMIT),
                "url": str(pay["url"]),
            },
        },
    }
    if pay.get("note"):
        interactive["footer"] = {"text": cut(str(pay["note"]), FOOTER_LIMIT)}
    messages = [_text(part) for part in head]
    messages.append({"type": "interactive", "interactive": interactive})
    return Rendered(messages)


def render_template(template: dict[str, Any]) -> Rendered:
    """A template message (`template`: name, language, parameters for its body)."""
    message: dict[str, Any] = {
        "name": str(template["name"]),
        "language": {"code": str(template.get("language") or "en")},
    }
    # Meta refuses a parameter with a line break, a tab or more than 4 spaces in a row.
    parameters = [" ".join(str(p).split()) for p in template.get("parameters") or []]
    if parameters:
        message["components"] = [
            {"type": "body", "parameters": [{"type": "text", "text": p} for p in parameters]}
        ]
    return Rendered([{"type": "template", "template": message}])


def render_list(
    text: str, buttons: list[dict[str, Any]], choices: dict[str, Any]
) -> Rendered:
    """Buttons as list messages of at most 10 rows, grouped by their `section`; the
    response's `label` opens the first, `more` (the text) and `more_label` the others."""
    pages = [buttons[at : at + MAX_LIST_ROWS] for at in range(0, len(buttons), MAX_LIST_ROWS)]
    label = cut(str(choices.get("label") or LIST_BUTTON_LABEL), BUTTON_TITLE_LIMIT)
    more_label = cut(str(choices.get("more_label") or label), BUTTON_TITLE_LIMIT)
    rendered = Rendered()
    for number, page in enumerate(pages, start=1):
        ids, tokens = _reply_ids([_payload(b) for b in page], ROW_ID_LIMIT)
        rendered.tokens.update(tokens)
        rows = [
            (b.get("section"), _row(b, reply_id)) for b, reply_id in zip(page, ids, strict=True)
        ]
        if number == 1:
            head, body = _head_and_body(text, LIST_BODY_LIMIT)
        else:
            # "(2/3)" alone only when the payload has no `more` (never a domain response).
            head, body = [], f"{choices.get('more') or ''} ({number}/{len(pages)})".strip()
        interactive = {
            "type": "list",
            "body": {"text": body},
            "action": {"button": label if number == 1 else more_label,
                       "sections": _sections(rows)},
        }
        rendered.messages += [_text(part) for part in head]
        rendered.messages.append({"type": "interactive", "interactive": interactive})
    return rendered


def _sections(rows: list[tuple[Any, dict[str, Any]]]) -> list[dict[str, Any]]:
    """Rows in runs of the same section; one untitled section when none has one."""
    if not any(section for section, _ in rows):
        return [{"rows": [row for _, row in rows]}]
    sections: list[dict[str, Any]] = []
    for section, row in rows:
        title = cut(str(section or "…"), SECTION_TITLE_LIMIT)
        if not sections or sections[-1]["title"] != title:
            sections.append({"title": title, "rows": []})
        sections[-1]["rows"].append(row)
    return sections  # at most 10 rows, so at most 10 sections


def render_custom(json_message: Any) -> Rendered:
    """`{"whatsapp": {...message object...}}` from an action, sent as given."""
    message = json_message.get("whatsapp") if isinstance(json_message, dict) else None
    if not isinstance(message, dict):
        # Rasa's default would send the raw JSON to the customer; never do that.
        logger.warning("Custom payload without a 'whatsapp' message object ignored")
        return Rendered()
    return Rendered([message])


def split_text(text: str, limit: int) -> list[str]:
    """Cut text into pieces of at most `limit`, at a paragraph, line or word break."""
    pieces: list[str] = []
    rest = (text or "").strip()
    while len(rest) > limit:
        at = _break_before(rest, limit)
        pieces.append(rest[:at].rstrip())
        rest = rest[at:].lstrip()
    if rest:
        pieces.append(rest)
    return pieces


def cut(text: str, limit: int) -> str:
    """Shorten to `limit` characters, at a word break when one is near, with '…'."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    head = text[: limit - len(ELLIPSIS)]
    space = head.rfind(" ")
    if space >= limit // 2:
        head = head[:space]
    return head.rstrip(" ,;:-") + ELLIPSIS


def _break_before(text: str, limit: int) -> int:
    for separator in ("\n\n", "\n", " "):
        at = text.rfind(separator, 0, limit + 1)
        if at > 0:
            return at
    return limit


def _head_and_body(text: str, body_limit: int) -> tuple[list[str], str]:
    """Split text whose end must fit an interactive body: (texts before, body)."""
    text = (text or "").strip()
    if len(text) <= body_limit:
        return [], text or DEFAULT_BODY
    start = len(text) - body_limit
    for separator in ("\n\n", "\n", " "):
        at = text.find(separator, start)
        if at != -1:
            return split_text(text[:at], TEXT_LIMIT), text[at:].strip()
    return split_text(text[:start], TEXT_LIMIT), text[start:]


def _numbered(text: str, buttons: list[dict[str, Any]], payloads: list[str]) -> Rendered:
    lines = [f"{n}. {_title(b)}" for n, b in enumerate(buttons, start=1)]
    # Only for a message from no response (those with more than 3 buttons carry a `list`
    # payload and become list messages): digits and an arrow, no sentence in one language.
    prompt = f"↩️ 1–{len(buttons)}"
    full = "\n\n".join(part for part in (text.strip(), "\n".join(lines), prompt) if part)
    return Rendered(render_text(full).messages, options=payloads)


def _row(button: dict[str, Any], reply_id: str) -> dict[str, Any]:
    title = " ".join(_title(button).split())
    extra = " ".join(str(button.get("description") or "").split())
    if len(title) > ROW_TITLE_LIMIT:
        # Keep the start as the title; the rest (often the price) becomes the description.
        at = _break_before(title, ROW_TITLE_LIMIT)
        title, rest = title[:at].rstrip(), title[at:].strip()
        extra = f"{rest} · {extra}" if extra else rest
    row = {"id": reply_id, "title": title}
    if extra:
        row["description"] = cut(extra, ROW_DESCRIPTION_LIMIT)
    return row


def _reply_ids(payloads: list[str], limit: int) -> tuple[list[str], dict[str, str]]:
    """Reply ids carry the payload itself when it fits and is unique, else a token."""
    ids: list[str] = []
    tokens: dict[str, str] = {}
    for index, payload in enumerate(payloads):
        reply_id = payload
        if len(payload) > limit or payload in ids:
            # The index keeps ids unique when two buttons share a payload.
            digest = hashlib.sha256(f"{index}:{payload}".encode()).hexdigest()[:24]
            reply_id = TOKEN_PREFIX + digest
            tokens[reply_id] = payload
        ids.append(reply_id)
    return ids, tokens


def _unique(titles: list[str], limit: int) -> list[str]:
    """WhatsApp refuses reply buttons with equal titles: number the repeats."""
    seen: set[str] = set()
    result = []
    for title in titles:
        candidate, n = title, 1
        while candidate in seen:
            n += 1
            suffix = f" ({n})"
            candidate = cut(title, limit - len(suffix)) + suffix
        seen.add(candidate)
        result.append(candidate)
    return result


def _title(button: dict[str, Any]) -> str:
    return str(button.get("title") or button.get("payload") or "?")


def _payload(button: dict[str, Any]) -> str:
    # A button without payload answers with its title, like a typed message.
    return str(button.get("payload") or button.get("title") or "")


def _text(body: str) -> dict[str, Any]:
    # Preview links (e.g. a payment link typed into a response) so they look tappable.
    return {"type": "text", "text": {"body": body, "preview_url": "://" in body}}


def _image(url: str, caption: str | None) -> dict[str, Any]:
    return {"type": "image", "image": {"link": url, **({"caption": caption} if caption else {})}}
