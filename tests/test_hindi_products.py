"""Products and quantities written in Devanagari resolve like their English names."""
from __future__ import annotations

import pytest

from commerce.catalog import load_catalog
from commerce.text import fold, words


@pytest.fixture(scope="module")
def shop():
    return load_catalog()


def found(shop, text: str) -> list[tuple[str | None, int | None]]:
    return [
        (mention.match.product.sku if mention.match.found else None, mention.quantity)
        for mention in shop.find_in_text(text)
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("दो मसाला चाय और एक मग", [("masala-chai-250g", 2), ("ceramic-mug", 1)]),
        ("मुझे तीन कुल्हड़ चाहिए", [("kulhad-set-6", 3)]),
        ("अदरक वाली कुकीज़ हटा दो", [("ginger-cookies-200g", None)]),
        ("पाँच शहद की बोतल", [("wild-honey-250g", 5)]),
        ("इलायची २ पैकेट", [("cardamom-50g", 2)]),
        ("२ ग्रीन टी और एक छलनी", [("green-tea-100g", 2), ("tea-strainer", 1)]),
        ("मुझे एक गिफ्ट बॉक्स चाहिए", [("festive-gift-box", 1)]),
        ("कुल्हड़ सेट भी डाल दो", [("kulhad-set-6", None)]),
        ("do masala chai aur ek मग", [("masala-chai-250g", 2), ("ceramic-mug", 1)]),
    ],
)
def test_devanagari_products_and_quantities(shop, text, expected):
    assert found(shop, text) == expected


@pytest.mark.parametrize(
    ("typed", "sku"),
    [
        ("कुकीज़", "ginger-cookies-200g"),
        ("कुकीज", "ginger-cookies-200g"),  # no nukta
        ("कुक\u0940\u095b", "ginger-cookies-200g"),  # nukta letter as one code point
        ("कुल्हड", "kulhad-set-6"),
        ("बिस्कॉटी", "almond-biscotti-150g"),
        ("चाय", "masala-chai-250g"),
    ],
)
def test_devanagari_spelling_variants_resolve(shop, typed, sku):
    assert shop.resolve(typed).product.sku == sku


def test_hari_alone_is_ambiguous(shop):
    # "हरी" (green) names both the green tea and the green cardamom: ask, don't guess.
    match = shop.resolve("हरी")
    assert match.is_ambiguous
    assert {p.sku for p in match.candidates} == {"green-tea-100g", "cardamom-50g"}


def test_fold_unifies_keyboard_spellings():
    assert fold("पाँच") == fold("पांच")
    assert fold("ज\u093c") == fold("\u095b") == "ज"
    assert words("अदरक\u200dवाली") == ["अदरकवाली"]
