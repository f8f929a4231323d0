"""Typed view of the WhatsApp Cloud API webhook envelope.

`WebhookEvent.parse` validates the whole envelope before anything acts on it, so a
malformed delivery is refused as a unit (nothing half-processed). Errors name the
offending path, e.g. `entry[0].changes[1].value.messages[0].from: missing`.

Parsing is strict where we depend on a field (ids, sender, the object of the
message's own type) and lenient about fields we do not use, since Meta adds fields
over time.

Bounds, so that whatever a signed body holds, what is stored and handed on is a value
its consumers take: strings at most MAX_STRING characters (a text body MAX_TEXT; a
message id MAX_MESSAGE_ID and a sender MAX_SENDER, their inbox columns, without
control characters); integers within +/- MAX_INTEGER; latitude and longitude finite
and on the globe; no lone surrogate anywhere (no database stores one), no NaN or
Infinity (not JSON), nesting at most MAX_DEPTH deep (Meta's is about 11). A body past
them is not an event of the documented shape: a WebhookParseError, which the webhook
answers 400, writing nothing. A message of the right shape whose request the shop
refuses (a catalog order of 0 items, an unknown product) is accepted: the
conversation tells the customer why.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from channels.whatsapp.client import WINDOW_CLOSED_CODE

WHATSAPP_OBJECT = "whatsapp_business_account"
MEDIA_TYPES = frozenset({"image", "audio", "video", "document", "sticker"})

MAX_STRING = 4096
MAX_TEXT = 65536  # what WhatsApp lets a customer type in one message
MAX_MESSAGE_ID = 128  # the inbox keys a message by "whatsapp:<id>" (160 characters)
MAX_SENDER = 64  # the inbox's customer_id column
MAX_INTEGER = 2**31 - 1
MAX_DEPTH = 32
LATITUDE = (-90.0, 90.0)
LONGITUDE = (-180.0, 180.0)
_INTEGER = re.compile(r"[+-]?[0-9]{1,10}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class WebhookParseError(ValueError):
    """The payload does not have the shape of a WhatsApp webhook event."""


class _Node:
    """A JSON object with its path, for precise error messages."""

    def __init__(self, data: Any, path: str) -> None:
        if not isinstance(data, dict):
            raise WebhookParseError(f"{path}: expected an object")
        self.data = data
        self.path = path

    def _fail(self, key: str, problem: str) -> WebhookParseError:
        return WebhookParseError(f"{self.path}.{key}: {problem}")

    def string(self, key: str, limit: int = MAX_STRING) -> str:
        value = self.data.get(key)
        if value is None:
            raise self._fail(key, "missing")
        # Meta sends ids and timestamps as strings; numbers are accepted as a courtesy.
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise self._fail(key, "expected a string")
        text = str(value)
        if len(text) > limit:
            raise self._fail(key, f"longer than {limit} characters")
        return text

    def identifier(self, key: str, limit: int) -> str:
        """An id we store and key rows by: bounded, and no control characters."""
        text = self.string(key, limit)
        if _CONTROL.search(text):
            raise self._fail(key, "control characters in an id")
        return text

    def opt_string(self, key: str, limit: int = MAX_STRING) -> str | None:
        return self.string(key, limit) if self.data.get(key) is not None else None

    def node(self, key: str) -> _Node:
        if key not in self.data:
            raise self._fail(key, "missing")
        return _Node(self.data[key], f"{self.path}.{key}")

    def opt_node(self, key: str) -> _Node | None:
        return self.node(key) if self.data.get(key) is not None else None

    def nodes(self, key: str, required: bool = False) -> list[_Node]:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self._fail(key, "missing")
            return []
        if not isinstance(value, list):
            raise self._fail(key, "expected a list")
        return [_Node(item, f"{self.path}.{key}[{i}]") for i, item in enumerate(value)]

    def number(self, key: str, bounds: tuple[float, float]) -> float:
        """A finite number from bounds[0] to bounds[1] (a numeric string is accepted)."""
        value = self.data.get(key)
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise TypeError
            if isinstance(value, str) and len(value) > 40:
                raise ValueError
            number = float(value)
        # A 400-digit integer overflows a float (OverflowError); "nan" is no coordinate.
        except (TypeError, ValueError, OverflowError):
            raise self._fail(key, "expected a number") from None
        low, high = bounds
        if not (math.isfinite(number) and low <= number <= high):
            raise self._fail(key, f"expected a number from {low:g} to {high:g}")
        return number

    def integer(self, key: str) -> int:
        """A whole number within +/- MAX_INTEGER: its sign and size are the reader's to judge
        (a catalog quantity of 0 is refused in the conversation, with the reason)."""
        value = self.data.get(key)
        if isinstance(value, str) and _INTEGER.fullmatch(value.strip()):
            value = int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            if -MAX_INTEGER <= value <= MAX_INTEGER:
                return value
            raise self._fail(key, f"expected an integer within +/-{MAX_INTEGER}")
        raise self._fail(key, "expected an integer")

    def opt_decimal(self, key: str) -> Decimal | None:
        value = self.data.get(key)
        if value is None:
            return None
        try:
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise InvalidOperation
            if isinstance(value, str) and len(value) > 40:
                raise InvalidOperation
            # str() first: a float like 199.99 must not become 199.9899999...
            number = Decimal(str(value))
            if not number.is_finite():
                raise InvalidOperation
            return number
        except InvalidOperation:
            raise self._fail(key, "expected a decimal") from None


@dataclass(frozen=True)
class ApiError:
    code: int | None
    title: str | None
    message: str | None
    details: str | None

    @classmethod
    def parse(cls, node: _Node) -> ApiError:
        code = node.data.get("code")
        details = node.data.get("error_data")
        return cls(
            code=code if isinstance(code, int) else None,
            title=node.opt_string("title"),
            message=node.opt_string("message"),
            details=details.get("details") if isinstance(details, dict) else None,
        )


@dataclass(frozen=True)
class Contact:
    wa_id: str
    profile_name: str | None

    @classmethod
    def parse(cls, node: _Node) -> Contact:
        profile = node.opt_node("profile")
        return cls(
            wa_id=node.string("wa_id", MAX_SENDER),
            profile_name=profile and profile.opt_string("name"),
        )


@dataclass(frozen=True)
class Interactive:
    """A tap on a reply button or list row (or a Flow answer, `nfm_reply`)."""

    type: str
    reply_id: str | None = None
    title: str | None = None
    description: str | None = None

    @classmethod
    def parse(cls, node: _Node) -> Interactive:
        kind = node.string("type")
        if kind in ("button_reply", "list_reply"):
            reply = node.node(kind)
            return cls(
                type=kind,
                reply_id=reply.string("id"),
                title=reply.opt_string("title"),
                description=reply.opt_string("description"),
            )
        return cls(type=kind)


@dataclass(frozen=True)
class TemplateButton:
    """A quick-reply button of a template message."""

    text: str | None
    payload: str | None

    @classmethod
    def parse(cls, node: _Node) -> TemplateButton:
        button = cls(text=node.opt_string("text"), payload=node.opt_string("payload"))
        if not (button.text or button.payload):
            raise WebhookParseError(f"{node.path}: needs text or payload")
        return button


@dataclass(frozen=True)
class OrderItem:
    sku: str
    quantity: int
    item_price: Decimal | None
    currency: str | None

    @classmethod
    def parse(cls, node: _Node) -> OrderItem:
        return cls(
            sku=node.string("product_retailer_id"),
            quantity=node.integer("quantity"),
            item_price=node.opt_decimal("item_price"),
            currency=node.opt_string("currency"),
        )


@dataclass(frozen=True)
class Order:
    """A cart the customer sent from the merchant's WhatsApp catalog."""

    catalog_id: str | None
    text: str | None
    items: list[OrderItem]

    @classmethod
    def parse(cls, node: _Node) -> Order:
        items = [OrderItem.parse(n) for n in node.nodes("product_items", required=True)]
        if not items:
            raise WebhookParseError(f"{node.path}.product_items: empty")
        return cls(
            catalog_id=node.opt_string("catalog_id"), text=node.opt_string("text"), items=items
        )


@dataclass(frozen=True)
class Location:
    latitude: float
    longitude: float
    name: str | None
    address: str | None

    @classmethod
    def parse(cls, node: _Node) -> Location:
        return cls(
            latitude=node.number("latitude", LATITUDE),
            longitude=node.number("longitude", LONGITUDE),
            name=node.opt_string("name"),
            address=node.opt_string("address"),
        )


@dataclass(frozen=True)
class Media:
    """Image, audio, video, document or sticker: only referenced, never downloaded."""

    id: str | None
    mime_type: str | None
    caption: str | None

    @classmethod
    def parse(cls, node: _Node) -> Media:
        return cls(
            id=node.opt_string("id"),
            mime_type=node.opt_string("mime_type"),
            caption=node.opt_string("caption"),
        )


@dataclass(frozen=True)
class Message:
    """One inbound message. Exactly the field of its `type` is set, when we know it."""

    id: str
    sender: str  # `from`: a phone number today, possibly an opaque user id tomorrow
    timestamp: str
    type: str
    text: str | None = None
    interactive: Interactive | None = None
    button: TemplateButton | None = None
    order: Order | None = None
    location: Location | None = None
    media: Media | None = None
    errors: list[ApiError] = field(default_factory=list)
    # The message object as Meta sent it: what the inbox keeps, parsed again when read.
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, node: _Node) -> Message:
        identity = {
            "id": node.identifier("id", MAX_MESSAGE_ID),
            "sender": node.identifier("from", MAX_SENDER),
            "timestamp": node.string("timestamp"),
        }
        kind = node.string("type")
        fields: dict[str, Any] = {}
        if kind == "text":
            fields["text"] = node.node("text").string("body", MAX_TEXT)
        elif kind == "interactive":
            fields["interactive"] = Interactive.parse(node.node("interactive"))
        elif kind == "button":
            fields["button"] = TemplateButton.parse(node.node("button"))
        elif kind == "order":
            fields["order"] = Order.parse(node.node("order"))
        elif kind == "location":
            fields["location"] = Location.parse(node.node("location"))
        elif kind in MEDIA_TYPES:
            fields["media"] = Media.parse(node.node(kind))
        return cls(
            **identity,
            type=kind,
            errors=[ApiError.parse(n) for n in node.nodes("errors")],
            raw=node.data,
            **fields,
        )


@dataclass(frozen=True)
class Status:
    """Delivery report for a message we sent: sent, delivered, read or failed. Its id
    and recipient are bounded like a message's: a failed one is kept in the inbox."""

    message_id: str
    status: str
    recipient_id: str | None
    timestamp: str | None
    errors: list[ApiError]
    # The status object as Meta sent it: what the inbox keeps, parsed again when read.
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @classmethod
    def parse(cls, node: _Node) -> Status:
        recipient = node.data.get("recipient_id") is not None
        return cls(
            message_id=node.identifier("id", MAX_MESSAGE_ID),
            status=node.string("status"),
            recipient_id=node.identifier("recipient_id", MAX_SENDER) if recipient else None,
            timestamp=node.opt_string("timestamp"),
            errors=[ApiError.parse(n) for n in node.nodes("errors")],
            raw=node.data,
        )

    @property
    def window_closed(self) -> bool:
        """Failed after it was accepted, because the recipient's 24-hour window was
        closed (131047): only an approved template would have reached them."""
        return self.status == "failed" and any(
            error.code == WINDOW_CLOSED_CODE for error in self.errors
        )

    def to_stored(self) -> dict[str, Any]:
        return self.raw

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> Status:
        return cls.parse(_Node(stored, "$.status"))


@dataclass(frozen=True)
class MessagesValue:
    """The `value` of a change whose field is `messages`."""

    phone_number_id: str | None
    contacts: list[Contact]
    messages: list[Message]
    statuses: list[Status]
    errors: list[ApiError]

    @classmethod
    def parse(cls, node: _Node) -> MessagesValue:
        metadata = node.opt_node("metadata")
        return cls(
            phone_number_id=metadata and metadata.opt_string("phone_number_id"),
            contacts=[Contact.parse(n) for n in node.nodes("contacts")],
            messages=[Message.parse(n) for n in node.nodes("messages")],
            statuses=[Status.parse(n) for n in node.nodes("statuses")],
            errors=[ApiError.parse(n) for n in node.nodes("errors")],
        )

    def profile_name(self, wa_id: str) -> str | None:
        for contact in self.contacts:
            if contact.wa_id == wa_id:
                return contact.profile_name
        # Meta lists one contact per sender; fall back to it if the ids are spelled
        # differently (e.g. the coming non-phone user ids).
        return self.contacts[0].profile_name if len(self.contacts) == 1 else None


@dataclass(frozen=True)
class MessageEcho:
    """A message the business sent from the WhatsApp Business app on the bot's number
    (Meta's coexistence; field `smb_message_echoes`): a person answering the customer.
    Meta delivered it already; it is only recorded."""

    id: str
    sender: str  # `from`: the business's number
    recipient: str  # `to`: the customer
    timestamp: str
    type: str
    text: str | None = None

    @classmethod
    def parse(cls, node: _Node) -> MessageEcho:
        kind = node.string("type")
        text_node = node.opt_node("text") if kind == "text" else None
        return cls(
            id=node.identifier("id", MAX_MESSAGE_ID),
            sender=node.identifier("from", MAX_SENDER),
            recipient=node.identifier("to", MAX_SENDER),
            timestamp=node.string("timestamp"),
            type=kind,
            text=text_node.string("body", MAX_TEXT) if text_node is not None else None,
        )

    def to_stored(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.recipient,
            "timestamp": self.timestamp,
            "type": self.type,
            "text": self.text,
        }


ECHOES_FIELD = "smb_message_echoes"


@dataclass(frozen=True)
class Change:
    field: str
    # Only `messages` and `smb_message_echoes` changes are parsed: other subscribed
    # fields (template status, account updates) are acknowledged and ignored.
    value: MessagesValue | None
    echoes: list[MessageEcho] = field(default_factory=list)

    @classmethod
    def parse(cls, node: _Node) -> Change:
        name = node.string("field")
        value = MessagesValue.parse(node.node("value")) if name == "messages" else None
        echoes = (
            [MessageEcho.parse(n) for n in node.node("value").nodes("message_echoes")]
            if name == ECHOES_FIELD
            else []
        )
        return cls(field=name, value=value, echoes=echoes)


@dataclass(frozen=True)
class Entry:
    id: str
    changes: list[Change]

    @classmethod
    def parse(cls, node: _Node) -> Entry:
        return cls(
            id=node.string("id"),
            changes=[Change.parse(n) for n in node.nodes("changes", required=True)],
        )


@dataclass(frozen=True)
class InboundMessage:
    """A message together with what the envelope says about its sender."""

    message: Message
    profile_name: str | None
    phone_number_id: str | None

    def to_stored(self) -> dict[str, Any]:
        return {
            "message": self.message.raw,
            "profile_name": self.profile_name,
            "phone_number_id": self.phone_number_id,
        }

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> InboundMessage:
        return cls(
            Message.parse(_Node(stored.get("message"), "$.message")),
            stored.get("profile_name"),
            stored.get("phone_number_id"),
        )


@dataclass(frozen=True)
class WebhookEvent:
    entries: list[Entry]

    @classmethod
    def parse(cls, data: Any) -> WebhookEvent:
        root = _Node(data, "$")
        check_document(data)
        kind = root.string("object")
        if kind != WHATSAPP_OBJECT:
            raise WebhookParseError(
                f"$.object: expected {WHATSAPP_OBJECT!r}, got {kind[:40]!r}"
            )
        return cls(entries=[Entry.parse(n) for n in root.nodes("entry", required=True)])

    def _values(self) -> list[MessagesValue]:
        return [c.value for e in self.entries for c in e.changes if c.value is not None]

    def messages(self) -> list[InboundMessage]:
        """Every message of every entry and change, in delivery order."""
        return [
            InboundMessage(m, value.profile_name(m.sender), value.phone_number_id)
            for value in self._values()
            for m in value.messages
        ]

    def statuses(self) -> list[Status]:
        return [s for value in self._values() for s in value.statuses]

    def echoes(self) -> list[MessageEcho]:
        """Messages the business sent from the WhatsApp Business app, in delivery order."""
        return [echo for e in self.entries for c in e.changes for echo in c.echoes]

    def errors(self) -> list[ApiError]:
        return [err for value in self._values() for err in value.errors]


def check_document(data: Any) -> None:
    """What the whole decoded body must be, parsed field or not (the inbox keeps all of
    it): nested at most MAX_DEPTH deep, no lone surrogate in a string or key, no NaN or
    Infinity. Iterative: a deep body must not exhaust the stack here either."""
    pending: list[tuple[Any, str, int]] = [(data, "$", 1)]
    while pending:
        node, path, depth = pending.pop()
        if depth > MAX_DEPTH:
            raise WebhookParseError(f"{path}: nested deeper than {MAX_DEPTH} levels")
        if isinstance(node, dict):
            for key, child in node.items():
                _check_text(key, path)
                pending.append((child, f"{path}.{key[:40]}", depth + 1))
        elif isinstance(node, list):
            pending.extend((child, f"{path}[{i}]", depth + 1) for i, child in enumerate(node))
        elif isinstance(node, str):
            _check_text(node, path)
        elif isinstance(node, float) and not math.isfinite(node):
            raise WebhookParseError(f"{path}: {node} is not a JSON number")


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise WebhookParseError(f"{path}: a lone surrogate is not text") from None
