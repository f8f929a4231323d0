"""Razorpay's payment-link, payment and order entities as typed values.

The same shapes arrive from the API (a fetched link) and inside webhook events
(`payload.payment_link.entity`, `payload.payment.entity`, `payload.order.entity`).
Parsing is forgiving about what the product does not rely on and strict about types:
a field of the wrong type reads as absent, and an amount that is not a whole number
reads as -1, which never equals an order's total (so such a payment gets flagged).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# Not an amount: never equal to an order total, so a payment carrying it is flagged.
UNREADABLE_AMOUNT = -1
# More paise than any order holds (and than a 64-bit column takes): read as unreadable.
MAX_AMOUNT = 10**15


class PayloadError(ValueError):
    """An entity that is not an object at all."""


def _text(value: Any, limit: int = 255) -> str | None:
    """A string field: ids may come as numbers, and anything else is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = str(value)
    return value[:limit] if isinstance(value, str) and value else None


def _amount(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, bool):
        return UNREADABLE_AMOUNT
    if isinstance(value, str) and value.strip().isdigit() and len(value.strip()) < 20:
        value = int(value)
    if isinstance(value, int) and 0 <= value <= MAX_AMOUNT:
        return value
    return UNREADABLE_AMOUNT


def _noted_order_number(entity: dict[str, Any]) -> int | None:
    notes = entity.get("notes")
    # Razorpay sends [] instead of {} for empty notes.
    number = str(notes.get("order_number", "")) if isinstance(notes, dict) else ""
    return int(number) if number.isdigit() else None


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
        if not isinstance(data, dict) or _text(data.get("payment_id")) is None:
            return None
        return cls(
            payment_id=str(_text(data.get("payment_id"))),
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
        payments = (LinkPayment.from_api(p) for p in data.get("payments") or ())
        return cls(
            id=link_id,
            short_url=_text(data.get("short_url")) or "",
            status=_text(data.get("status"), 20) or "",
            reference_id=_text(data.get("reference_id"), 40) or "",
            amount=_amount(data.get("amount")),
            amount_paid=_amount(data.get("amount_paid")),
            currency=_text(data.get("currency"), 3) or "INR",
            # Razorpay sends null until someone pays.
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
            error_description=_text(entity.get("error_description"), 1000),
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
