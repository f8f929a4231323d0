from decimal import Decimal

import pytest

from commerce.money import format_inr, rupees_to_paise


@pytest.mark.parametrize(
    ("value", "paise"),
    [
        (299, 29900),
        ("299", 29900),
        (" 99.50 ", 9950),
        (99.5, 9950),
        (0.1, 10),  # float 0.1 is not exactly 1/10, but what the designer wrote was
        (Decimal("1299.99"), 129999),
        (0, 0),
        ("0.05", 5),
    ],
)
def test_rupees_to_paise_is_exact(value, paise):
    assert rupees_to_paise(value) == paise


@pytest.mark.parametrize(
    "value", [-1, "-0.5", "99.505", 0.001, "abc", "", "NaN", float("nan"), float("inf"), True]
)
def test_rupees_to_paise_refuses_what_is_not_an_amount(value):
    with pytest.raises(ValueError):
        rupees_to_paise(value)


@pytest.mark.parametrize(
    ("paise", "text"),
    [
        (0, "₹0"),
        (5, "₹0.05"),
        (9950, "₹99.50"),
        (29900, "₹299"),
        (99900, "₹999"),
        (100000, "₹1,000"),
        (129900, "₹1,299"),
        (12999900, "₹1,29,999"),
        (1234567890, "₹1,23,45,678.90"),
    ],
)
def test_format_inr_uses_indian_grouping(paise, text):
    assert format_inr(paise) == text


def test_three_at_99_50_is_298_50_to_the_paisa():
    assert format_inr(3 * rupees_to_paise("99.50")) == "₹298.50"


@pytest.mark.parametrize("paise", [-1, 1.5, "100"])
def test_format_inr_refuses_negative_or_non_integer(paise):
    with pytest.raises(ValueError):
        format_inr(paise)
