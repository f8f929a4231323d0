"""Delivery details as customers type them: name, address and a 6-digit Indian PIN code."""

from __future__ import annotations

import enum
import re

# Indian PIN codes have six digits and never start with 0. Customers write "560 001" too.
PINCODE = re.compile(r"(?<!\d)([1-9]\d{2})\s?(\d{3})(?!\d)")
NAME_LENGTH = (2, 60)
ADDRESS_LENGTH = (10, 300)


def find_pincode(text: str) -> str | None:
    """The PIN code in `text` ("560001", "560 001", "pin is 560001"), or None."""
    match = PINCODE.search(text or "")
    return match.group(1) + match.group(2) if match else None


def pincode_from_answer(text: str) -> str | None:
    """A reply to "what's your PIN code?": exactly one PIN code and nothing numeric besides."""
    digits = re.sub(r"\D", "", text or "")
    pincode = find_pincode(text)
    return pincode if pincode and digits == pincode else None


def clean_name(text: str) -> str | None:
    name = " ".join((text or "").split())
    low, high = NAME_LENGTH
    if not low <= len(name) <= high or name.startswith("/"):
        return None
    letters = sum(ch.isalpha() for ch in name)
    if letters < 2 or any(ch.isdigit() for ch in name):
        return None
    return name


class AddressProblem(str, enum.Enum):
    """Why an answer is not a delivery address; the checkout words each one."""

    TOO_SHORT = "too_short"  # fewer than ADDRESS_LENGTH[0] characters or 4 letters
    TOO_LONG = "too_long"  # more than ADDRESS_LENGTH[1] characters
    NOT_TEXT = "not_text"  # a command or button payload ("/checkout")


def address_problem(text: str) -> AddressProblem | None:
    """What is wrong with `text` as a delivery address, or None when it will do."""
    address = " ".join((text or "").split())
    low, high = ADDRESS_LENGTH
    if len(address) > high:
        return AddressProblem.TOO_LONG
    if address.startswith("/"):
        return AddressProblem.NOT_TEXT
    if len(address) < low or sum(ch.isalpha() for ch in address) < 4:
        return AddressProblem.TOO_SHORT
    return None


def clean_address(text: str) -> str | None:
    """The address with its spacing tidied, or None (`address_problem` says why)."""
    if address_problem(text) is not None:
        return None
    return " ".join((text or "").split())
