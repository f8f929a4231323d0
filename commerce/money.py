"""Money as integer paise: exact conversion from rupees and ₹ display with Indian grouping."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

PAISE_PER_RUPEE = 100


def rupees_to_paise(value: str | int | Decimal | float) -> int:
    """Convert a rupee amount to paise without float rounding; ValueError if not exact."""
    if isinstance(value, bool):  # bool is an int subclass; True is not ₹1
        raise ValueError(f"not an amount: {value!r}")
    if isinstance(value, float):
        value = str(value)  # shortest repr: 99.5 -> "99.5", never 99.4999...
    if isinstance(value, str):
        value = value.strip()
    try:
        amount = Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        raise ValueError(f"not an amount: {value!r}") from None
    if not amount.is_finite():
        raise ValueError(f"not an amount: {value!r}")
    if amount < 0:
        raise ValueError(f"amount can't be negative: {value!r}")
    paise = amount * PAISE_PER_RUPEE
    if paise != paise.to_integral_value():
        raise ValueError(f"more than 2 decimal places: {value!r}")
    return int(paise)


def format_inr(paise: int) -> str:
    """29900 -> "₹299", 12999900 -> "₹1,29,999", 9950 -> "₹99.50"."""
    if isinstance(paise, bool) or not isinstance(paise, int):
        raise ValueError(f"paise must be an int, got {paise!r}")
    if paise < 0:
        raise ValueError(f"amount can't be negative: {paise}")
    rupees, rest = divmod(paise, PAISE_PER_RUPEE)
    text = f"₹{_group_indian(rupees)}"
    return f"{text}.{rest:02d}" if rest else text


def _group_indian(rupees: int) -> str:
    # Lakh/crore grouping: the last three digits, then pairs (1,29,999).
    digits = str(rupees)
    head, tail = digits[:-3], digits[-3:]
    pairs = []
    while head:
        pairs.insert(0, head[-2:])
        head = head[:-2]
    return ",".join([*pairs, tail])
