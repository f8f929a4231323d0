import os

import pytest

from commerce.catalog import DEFAULT_CATALOG_PATH, Catalog, CatalogError, Product, load_catalog


@pytest.fixture(scope="module")
def shop() -> Catalog:
    return load_catalog(DEFAULT_CATALOG_PATH)


def sku_of(shop: Catalog, mention: str) -> str | None:
    match = shop.resolve(mention)
    return match.product.sku if match.found else None


def skus(products) -> set[str]:
    return {product.sku for product in products}


# --- the shipped file ---------------------------------------------------------------------------


def test_shipped_catalog_loads_with_prices_in_paise(shop):
    assert len(shop.products) == 12
    assert shop.get("masala-chai-250g").price == 25000
    assert shop.get("ceramic-mug").price == 29900
    assert shop.get("no-such-sku") is None


def test_categories_keep_file_order(shop):
    groups = shop.by_category()
    assert list(groups) == ["Tea", "Snacks", "Spices & Honey", "Teaware", "Gifts"]
    assert [p.sku for p in groups["Teaware"]] == ["ceramic-mug", "kulhad-set-6", "tea-strainer"]


def test_names_lists_every_name_and_alias_once(shop):
    names = shop.names()
    assert "Masala Chai 250 g" in names and "elaichi" in names and "hamper" in names
    assert len(names) == len(set(names))


# --- resolve ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mention", "sku"),
    [
        ("masala-chai-250g", "masala-chai-250g"),
        ("Masala Chai 250 g", "masala-chai-250g"),
        ("masala chai 250g", "masala-chai-250g"),
        ("  MASALA CHAI!! ", "masala-chai-250g"),
        ("a packet of masala chai", "masala-chai-250g"),
        ("masala tea", "masala-chai-250g"),
        ("chai", "masala-chai-250g"),
        ("masala", "masala-chai-250g"),
        ("assam chai", "assam-tea-500g"),
        ("black tea", "assam-tea-500g"),
        ("darjeeling tea", "darjeeling-tea-100g"),
        ("mugs", "ceramic-mug"),
        ("cup", "ceramic-mug"),
        ("tea cup", "ceramic-mug"),
        ("cookie", "ginger-cookies-200g"),
        ("cookies", "ginger-cookies-200g"),
        ("biscuits", "ginger-cookies-200g"),
        ("kulhad set of 6", "kulhad-set-6"),
        ("kulhad wala set", "kulhad-set-6"),
        ("gift box 🎁", "festive-gift-box"),
    ],
)
def test_resolves_names_aliases_and_plurals(shop, mention, sku):
    assert sku_of(shop, mention) == sku


@pytest.mark.parametrize(
    ("mention", "sku"),
    [("elaichi", "cardamom-50g"), ("shahad", "wild-honey-250g"), ("chhanni", "tea-strainer")],
)
def test_resolves_hindi_words(shop, mention, sku):
    assert sku_of(shop, mention) == sku


@pytest.mark.parametrize(
    ("mention", "sku"),
    [
        ("darjeling", "darjeeling-tea-100g"),
        ("masla chai", "masala-chai-250g"),
        ("masla chia", "masala-chai-250g"),
        ("masalachai", "masala-chai-250g"),
        ("kulhar", "kulhad-set-6"),
        ("kulad", "kulhad-set-6"),
        ("biscoti", "almond-biscotti-150g"),
        ("shehad", "wild-honey-250g"),
        ("strainr", "tea-strainer"),
        ("hony", "wild-honey-250g"),
    ],
)
def test_resolves_typos(shop, mention, sku):
    assert sku_of(shop, mention) == sku


def test_tea_alone_is_ambiguous_between_the_teas(shop):
    match = shop.resolve("tea")
    assert match.is_ambiguous and not match.found and match.product is None
    assert skus(match.candidates) == {
        "masala-chai-250g", "assam-tea-500g", "green-tea-100g", "darjeeling-tea-100g"
    }  # the tea mug, strainer and gift box are not teas


def test_green_is_ambiguous_between_green_tea_and_cardamom(shop):
    match = shop.resolve("green")
    assert match.is_ambiguous
    assert skus(match.candidates) == {"green-tea-100g", "cardamom-50g"}


@pytest.mark.parametrize("mention", ["set", "box", "first", "6", "teas"])
def test_generic_words_never_pick_one_product(shop, mention):
    assert not shop.resolve(mention).found


@pytest.mark.parametrize(
    "mention", ["laptop", "pizza", "hello", "chahiye", "", "   ", "🙏", "the", "250 g"]
)
def test_unrelated_words_match_nothing(shop, mention):
    match = shop.resolve(mention)
    assert not match.found and not match.is_ambiguous and match.candidates == ()


# --- find_in_text -------------------------------------------------------------------------------


def found(shop: Catalog, text: str) -> list[tuple[str | None, int | None]]:
    """(sku, quantity) per mention; sku None for an ambiguous or unknown mention."""
    mentions = shop.find_in_text(text)
    return [(m.match.product.sku if m.match.found else None, m.quantity) for m in mentions]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 masala chai and a mug", [("masala-chai-250g", 2), ("ceramic-mug", 1)]),
        ("ek kulhad set bhi daal do", [("kulhad-set-6", 1)]),
        (
            "masla chai x3, darjeling 2 and 1 honey",
            [("masala-chai-250g", 3), ("darjeeling-tea-100g", 2), ("wild-honey-250g", 1)],
        ),
        ("add 2 chai", [("masala-chai-250g", 2)]),
        ("mujhe teen cookies chahiye", [("ginger-cookies-200g", 3)]),
        ("do masala chai aur ek mug", [("masala-chai-250g", 2), ("ceramic-mug", 1)]),
        ("3 kulhad set", [("kulhad-set-6", 3)]),
        ("chai 2 mug 3", [("masala-chai-250g", 2), ("ceramic-mug", 3)]),
        ("green tea please", [("green-tea-100g", None)]),
        ("2 packets of masala chai", [("masala-chai-250g", 2)]),
        ("half dozen cookies", [("ginger-cookies-200g", 6)]),
        ("2× green tea 🍵", [("green-tea-100g", 2)]),
        ("shahad aur elaichi", [("wild-honey-250g", None), ("cardamom-50g", None)]),
        ("mujhe chai chaiye", [("masala-chai-250g", None)]),
        ("hi, what do you have?", []),
    ],
)
def test_find_in_text(shop, text, expected):
    assert found(shop, text) == expected


def test_mention_keeps_the_words_and_offset(shop):
    text = "pls add 2 masla chai, and a mug"
    chai, mug = shop.find_in_text(text)
    assert (chai.text, chai.start) == ("masla chai", text.index("masla"))
    assert (mug.text, mug.start) == ("mug", text.index("mug"))


def test_pack_size_and_name_numbers_are_not_quantities(shop):
    assert found(shop, "assam black tea 500 g") == [("assam-tea-500g", None)]
    assert found(shop, "masala chai 250g x2") == [("masala-chai-250g", 2)]
    assert found(shop, "kulhad set of 6") == [("kulhad-set-6", None)]
    assert found(shop, "2 kulhad set of 6") == [("kulhad-set-6", 2)]


def test_typo_match_does_not_swallow_neighbouring_words(shop):
    mentions = shop.find_in_text("and the darjeling tea if it is there")
    assert [m.text for m in mentions] == ["darjeling tea"]


def test_ambiguous_mention_keeps_its_quantity_and_candidates(shop):
    (tea,) = shop.find_in_text("2 tea")
    assert tea.quantity == 2 and tea.match.is_ambiguous
    assert "green-tea-100g" in skus(tea.match.candidates)


# --- loading ------------------------------------------------------------------------------------


def write(path, body: str):
    path.write_text(body, encoding="utf-8")
    return path


ENTRY = """\
  - sku: tulsi-tea
    name: Tulsi Tea
    price: 99.50
    category: Tea
    also_called: [tulsi]
"""
VALID = "currency: INR\nproducts:\n" + ENTRY


def test_catalog_path_env_overrides_the_shipped_file(tmp_path, monkeypatch):
    monkeypatch.setenv("CATALOG_PATH", str(write(tmp_path / "shop.yml", VALID)))
    catalog = load_catalog()
    assert [p.sku for p in catalog.products] == ["tulsi-tea"]
    assert catalog.get("tulsi-tea").price == 9950
    assert catalog.resolve("tulsi").found


def test_edits_are_picked_up_and_unchanged_files_come_from_cache(tmp_path):
    path = write(tmp_path / "shop.yml", VALID)
    first = load_catalog(path)
    assert load_catalog(path) is first
    write(path, VALID.replace("99.50", "120"))
    # A clearly later mtime, as a real edit would have even on a coarse filesystem clock.
    os.utime(path, ns=(0, os.stat(path).st_mtime_ns + 1_000_000))
    assert load_catalog(path).get("tulsi-tea").price == 12000


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (VALID.replace("price: 99.50", "price: 0"), "tulsi-tea"),
        (VALID.replace("price: 99.50", "price: -5"), "negative"),
        (VALID.replace("price: 99.50", "price: 99.505"), "decimal"),
        (VALID.replace("price: 99.50", "price: free"), "tulsi-tea"),
        (VALID.replace("name: Tulsi Tea", 'name: ""'), "name"),
        (VALID.replace("    price: 99.50\n", ""), "missing price"),
        (VALID.replace("category: Tea", "category: Tea\n    prise: 10"), "prise"),
        (VALID.replace("also_called: [tulsi]", "also_called: tulsi"), "also_called"),
        (VALID.replace("currency: INR", "currency: USD"), "USD"),
        (VALID + ENTRY, "more than one product"),
        (VALID + ENTRY.replace("sku: tulsi-tea", "sku: t2"), "same as tulsi-tea"),
        ("products: []\n", "no products"),
        ("products: {}\n", "products"),
        ("products: [\n", "YAML"),
    ],
)
def test_invalid_catalog_names_the_problem(tmp_path, body, message):
    path = write(tmp_path / "bad.yml", body)
    with pytest.raises(CatalogError, match=message) as error:
        load_catalog(path)
    assert isinstance(error.value, ValueError)


def test_missing_file_is_a_catalog_error(tmp_path):
    with pytest.raises(CatalogError, match="nope.yml"):
        load_catalog(tmp_path / "nope.yml")


def test_products_validate_themselves():
    with pytest.raises(ValueError):
        Product(sku="x", name="X", price=0, category="C")
    with pytest.raises(ValueError):
        Product(sku="x", name="X", price=12.5, category="C")
