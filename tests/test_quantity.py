import pytest

from commerce.quantity import parse_quantity


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2", 2),
        (" 3 ", 3),
        ("2x", 2),
        ("2 x", 2),
        ("x2", 2),
        ("X 4", 4),
        ("2pcs", 2),
        ("2 pcs", 2),
        ("2 packets", 2),
        ("2 packets of", 2),
        ("0", 0),
        ("zero", 0),
        ("Twelve", 12),
        ("twenty", 20),
        ("a", 1),
        ("an", 1),
        ("single", 1),
        ("couple", 2),
        ("a couple", 2),
        ("a couple of", 2),
        ("dozen", 12),
        ("half dozen", 6),
        ("two packets", 2),
        (3, 3),
        (2.0, 2),
    ],
)
def test_english_and_digits(value, expected):
    assert parse_quantity(value) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("ek", 1), ("aik", 1), ("do", 2), ("teen", 3), ("tin", 3), ("char", 4), ("chaar", 4),
        ("paanch", 5), ("panch", 5), ("paach", 5), ("chhe", 6), ("che", 6), ("chheh", 6),
        ("saat", 7), ("aath", 8), ("nau", 9), ("das", 10), ("DO", 2),
    ],
)
def test_hindi_numbers_in_latin_letters(word, expected):
    assert parse_quantity(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("gyarah", 11), ("barah", 12), ("pandrah", 15), ("bees", 20),
        ("ek darjan", 12), ("aadha darjan", 6),
    ],
)
def test_more_hindi_numbers_in_latin_letters(word, expected):
    assert parse_quantity(word) == expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("शून्य", 0), ("एक", 1), ("दो", 2), ("तीन", 3), ("चार", 4), ("पाँच", 5), ("पांच", 5),
        ("छह", 6), ("छः", 6), ("छे", 6), ("सात", 7), ("आठ", 8), ("नौ", 9), ("दस", 10),
        ("बारह", 12), ("पंद्रह", 15), ("बीस", 20),
        ("दो पैकेट", 2), ("तीन पीस", 3), ("एक दर्जन", 12), ("आधा दर्जन", 6), ("दर्जन", 12),
        ("२", 2), ("१०", 10), ("२ पैकेट", 2),
    ],
)
def test_hindi_numbers_in_devanagari(word, expected):
    assert parse_quantity(word) == expected


def test_devanagari_spelling_variants_read_alike():
    # पाँच with a chandrabindu and पांच with an anusvara
    assert parse_quantity("\u092a\u093e\u0901\u091a") == 5
    assert parse_quantity("\u092a\u093e\u0902\u091a") == 5


@pytest.mark.parametrize(
    "value", ["दो सौ ग्राम", "चाय", "आधा", "ek aur"],
)
def test_devanagari_and_hinglish_non_numbers_are_none(value):
    assert parse_quantity(value) is None


@pytest.mark.parametrize(
    "value", [None, "", "  ", "chai", "2.5", 2.5, -1, "-1", "2 kg", "250g", "x", True, "twenty one"]
)
def test_unreadable_is_none(value):
    assert parse_quantity(value) is None
