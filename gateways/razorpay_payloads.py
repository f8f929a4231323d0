"""Razorpay's payment-link, payment and order entities as typed values.

The same shapes arrive from the API (a fetched link) and inside webhook events
(`payload.payment_link.entity`, `payload.payment.entity`, `payload.order.entity`).
Parsing is forgiving about what the product does not rely on and strict about types
and bounds, so that whatever a signed body holds, what reaches the order store is a
value its columns take:

- a string field of the wrong type (an object, a list, a bool), longer than its column
  (no id of Razorpay's is), or holding what no database column takes (NUL, a lone
  surrogate), reads as absent; a URL is cut to its column; free text (an error
  description) keeps what it can, with U+FFFD for what no column takes;
- an amount that is not a whole number of paise from 0 to MAX_AMOUNT reads as -1,
  which never equals an order's total (so such a payment gets flagged);
- an order number in the notes that is not 1 to MAX_ORDER_NUMBER in ASCII digits
  reads as absent.

An entity that is not an object at all is a PayloadError: the event is not of the
documented shape (the webhook answers 400).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Not an amount: never equal to an order total, so a payment carrying it is flagged.
UNREADABLE_AMOUNT = -1
# More paise than any order holds (and than a 64-bit column takes): read as unreadable.
MAX_AMOUNT = 10**15
# Order numbers are a 32-bit column (PostgreSQL's integer).
MAX_ORDER_NUMBER = 2**31 - 1


class PayloadError(ValueError):
    """An entity that is not an object at all."""


def storable(text: str) -> bool:
    """Whether every database the store runs on takes `text` as it is: UTF-8 without NUL
    (PostgreSQL refuses NUL; SQLite cannot encode a lone surrogate, which JSON's
    "\\ud800" escape and Sanic's reading of a non-UTF-8 header both produce)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def clean_text(text: str, limit: int) -> str:
    """Free text cut to `limit`, with what no column takes replaced by U+FFFD."""
    text = text[:limit]
    if storable(text):
        return text
    return "".join(
        "\ufffd" if ch == "\x00" or "\ud800" <= ch <= "\udfff" else ch for ch in text
    )


def _text(value: Any, limit: int = 255, cut: bool = False) -> str | None:
    """A string field of at most `limit` characters: ids may come as numbers, and anything
    else is not one. A longer one is no id of Razorpay's (theirs are about 20 characters)
    and reads as absent, unless `cut` (a URL) keeps its first `limit` characters."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    if not (isinstance(value, str) and value) or (len(value) > limit and not cut):
        return None
    value = value[:limit]
    return value if storable(value) else None


def _free_text(value: Any, limit: int) -> str | None:
    """A field of words for people (an error description): kept, made storable."""
    if not isinstance(value, str):
        return None
    return clean_text(value, limit) or None


def _digits(value: str, most: int) -> int | None:
    # ASCII only: str.isdigit() also passes "²" (int() refuses it) and "١٢٣".
    value = value.strip()
    if value.isascii() and value.isdigit() and len(value) <= most:
        return int(value)
    return None


def _amount(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return UNREADABLE_AMOUNT
    if isinstance(value, str):
        value = _digits(value, 19)
    if isinstance(value, int) and 0 <= value <= MAX_AMOUNT:
        return value
    return UNREADABLE_AMOUNT


def _noted_order_number(entity: dict[str, Any]) -> int | None:
    notes = entity.get("notes")
    # Razorpay sends [] instead of {} for empty notes; we write the number as a string.
    number = notes.get("order_number") if isinstance(notes, dict) else None
    if isinstance(number, int) and not isinstance(number, bool):
        number = str(number)
    found = _digits(number, 10) if isinstance(number, str) else None
    return found if found is not None and 1 <= found <= MAX_ORDER_NUMBER else None


def _object(value: Any, what: str) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{what} is not an object")
    return value


@dataclass(frozen=True)
class LinkPayment:
    """One payment made on a link, as a fetched link lists it."""

    payment_id: str
    amount: int
    status: str
    method: str | None = None

    @classmethod
    def from_api(cls, data: Any) -> LinkPayment | None:
        payment_id = _text(data.get("payment_id"), 64) if isinstance(data, dict) else None
        if payment_id is None:
            return None
        return cls(
            payment_id=payment_id,
            amount=_amount(data.get("amount")),
            status=_text(data.get("status"), 20) or "",
            method=_text(data.get("method"), 32),
        )


@dataclass(frozen=True)
class PaymentLink:
    id: str
    short_url: str
    status: str
    reference_id: str
    amount: int
    amount_paid: int
    currency: str
    payments: tuple[LinkPayment, ...] = ()
    # The order number we put in the link's notes when creating it.
    noted_order_number: int | None = None

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> PaymentLink:
        """A link as the API returns it; its id is required."""
        link_id = _text(data.get("id"), 64)
        if link_id is None:
            raise PayloadError("payment link without an id")
        # Razorpay sends null until someone pays; anything but a list lists nothing.
        listed = data.get("payments")
        payments = (LinkPayment.from_api(p) for p in (listed if isinstance(listed, list) else ()))
        return cls(
            id=link_id,
            short_url=_text(data.get("short_url"), cut=True) or "",
            status=_text(data.get("status"), 20) or "",
            reference_id=_text(data.get("reference_id"), 40) or "",
            amount=_amount(data.get("amount")),
            amount_paid=_amount(data.get("amount_paid")),
            currency=_text(data.get("currency"), 3) or "INR",
            payments=tuple(p for p in payments if p is not None),
            noted_order_number=_noted_order_number(data),
        )

    @classmethod
    def from_event(cls, data: Any) -> PaymentLink | None:
        """`payload.payment_link.entity`, or None when the event carries no link."""
        entity = _object(data, "payload.payment_link.entity")
        return cls.from_api(entity) if _text(entity.get("id"), 64) else None


@dataclass(frozen=True)
class RazorpayPayment:
    """`payload.payment.entity`: one attempt to pay, captured or failed."""

    id: str | None
    amount: int
    currency: str
    method: str | None = None
    status: str | None = None
    error_description: str | None = None
    noted_order_number: int | None = None

    @classmethod
    def from_event(cls, data: Any) -> RazorpayPayment | None:
        entity = _object(data, "payload.payment.entity")
        if not entity:
            return None
        return cls(
            id=_text(entity.get("id"), 64),
            amount=_amount(entity.get("amount")),
            # Not cut to three letters: "INRX" must not pass for "INR".
            currency=_text(entity.get("currency"), 16) or "",
            method=_text(entity.get("method"), 32),
            status=_text(entity.get("status"), 20),
            error_description=_free_text(entity.get("error_description"), 1000),
            noted_order_number=_noted_order_number(entity),
        )


@dataclass(frozen=True)
class RazorpayOrder:
    """`payload.order.entity` of order.paid: a link's checkout creates one."""

    id: str | None
    receipt: str | None
    noted_order_number: int | None = None

    @classmethod
    def from_event(cls, data: Any) -> RazorpayOrder | None:
        entity = _object(data, "payload.order.entity")
        if not entity:
            return None
        return cls(
            id=_text(entity.get("id"), 64),
            receipt=_text(entity.get("receipt"), 40),
            noted_order_number=_noted_order_number(entity),
        )
