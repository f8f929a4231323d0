import pytest

from actions.common import cart_values, item_lines
from commerce.cart import (
    CART_FULL,
    MAX_LINES,
    MAX_QUANTITY_PER_ITEM,
    OVER_ITEM_LIMIT,
    Cart,
    CartError,
    CartLine,
)
from commerce.catalog import DEFAULT_CATALOG_PATH, Catalog, Product, load_catalog


@pytest.fixture(scope="module")
def shop() -> Catalog:
    return load_catalog(DEFAULT_CATALOG_PATH)


@pytest.fixture
def chai(shop) -> Product:
    return shop.get("masala-chai-250g")  # ₹250


@pytest.fixture
def mug(shop) -> Product:
    return shop.get("ceramic-mug")  # ₹299


def test_add_prices_lines_in_paise_and_merges_repeats(chai, mug):
    cart = Cart()
    cart.add(chai, 2)
    cart.add(mug)
    line = cart.add(chai)
    assert line == CartLine("masala-chai-250g", "Masala Chai 250 g", 25000, 3)
    assert [line.sku for line in cart.lines] == ["masala-chai-250g", "ceramic-mug"]
    assert cart.total == 3 * 25000 + 29900
    assert cart.item_count == 4
    assert not cart.is_empty


def test_paise_stay_exact():
    strainer = Product("s", "Strainer", 9950, "Teaware")
    cart = Cart()
    cart.add(strainer, 3)
    assert cart.total == 29850
    assert item_lines(cart.lines) == ["3 × Strainer — ₹298.50"]


def test_more_than_the_per_item_limit_is_refused_and_nothing_changes(mug):
    cart = Cart()
    cart.add(mug, 5)
    with pytest.raises(CartError, match="at most 20 of Ceramic Tea Mug") as refused:
        cart.add(mug, 16)
    assert refused.value.reason == OVER_ITEM_LIMIT
    assert refused.value.values == {"product": "Ceramic Tea Mug", "limit": MAX_QUANTITY_PER_ITEM}
    assert cart.get("ceramic-mug").quantity == 5
    with pytest.raises(CartError):
        Cart().add(mug, MAX_QUANTITY_PER_ITEM + 1)
    assert cart.add(mug, 15).quantity == MAX_QUANTITY_PER_ITEM


@pytest.mark.parametrize("quantity", [0, -1, 1.5, True, "2"])
def test_add_refuses_quantities_below_one_or_not_whole(chai, quantity):
    cart = Cart()
    with pytest.raises(CartError):
        cart.add(chai, quantity)
    assert cart.is_empty


def test_too_many_different_products_is_refused(chai):
    cart = Cart()
    for n in range(MAX_LINES):
        cart.add(Product(f"p{n}", f"Product {n}", 100, "Misc"))
    with pytest.raises(CartError, match=f"at most {MAX_LINES} different products") as refused:
        cart.add(chai)
    assert refused.value.reason == CART_FULL and refused.value.values == {"limit": MAX_LINES}
    assert len(cart.lines) == MAX_LINES and cart.get(chai.sku) is None
    cart.add(Product("p0", "Product 0", 100, "Misc"))  # more of a product already there is fine
    assert cart.get("p0").quantity == 2


def test_set_quantity_replaces_and_zero_removes(chai, mug):
    cart = Cart()
    cart.add(chai, 2)
    cart.add(mug)
    assert cart.set_quantity(chai, 5).quantity == 5
    # The changed line keeps its place.
    assert [line.sku for line in cart.lines] == ["masala-chai-250g", "ceramic-mug"]
    assert cart.set_quantity(chai, 0) is None
    assert cart.get(chai.sku) is None
    with pytest.raises(CartError):
        cart.set_quantity(mug, 21)
    with pytest.raises(CartError):
        cart.set_quantity(mug, -1)
    assert cart.get(mug.sku).quantity == 1


def test_remove_and_clear(chai, mug):
    cart = Cart()
    cart.add(chai)
    cart.add(mug)
    assert cart.remove("ceramic-mug").sku == "ceramic-mug"
    assert cart.remove("ceramic-mug") is None
    cart.clear()
    assert cart.is_empty and cart.total == 0 and cart.item_count == 0


def test_slot_round_trip_keeps_order(shop, chai, mug):
    cart = Cart()
    cart.add(mug)
    cart.add(chai, 2)
    slot = cart.to_slot()
    assert slot == [
        {"sku": "ceramic-mug", "quantity": 1},
        {"sku": "masala-chai-250g", "quantity": 2},
    ]
    assert Cart.from_slot(slot, shop).lines == cart.lines


def test_from_slot_prices_from_the_catalog_and_drops_bad_entries(shop):
    slot = [
        {"sku": "ceramic-mug", "quantity": 2, "unit_price": 1, "name": "Free mug"},  # tampered
        {"sku": "gone-product", "quantity": 1},
        {"sku": "masala-chai-250g", "quantity": 0},
        {"sku": "green-tea-100g", "quantity": "lots"},
        {"sku": "assam-tea-500g", "quantity": 99},
        {"sku": "kulhad-set-6", "quantity": 2.0},
        "not a line",
        {"quantity": 1},
    ]
    cart = Cart.from_slot(slot, shop)
    assert cart.lines == [
        CartLine("ceramic-mug", "Ceramic Tea Mug", 29900, 2),
        CartLine("kulhad-set-6", "Kulhad Set of 6", 34900, 2),
    ]
    assert cart.total == 2 * 29900 + 2 * 34900


@pytest.mark.parametrize("slot", [None, [], "junk", {"sku": "ceramic-mug"}])
def test_from_slot_with_nothing_usable_is_an_empty_cart(shop, slot):
    assert Cart.from_slot(slot, shop).is_empty


def test_cart_values_for_the_responses(chai, mug):
    cart = Cart()
    cart.add(chai, 2)
    cart.add(mug)
    assert cart_values(cart) == {
        "items": "2 × Masala Chai 250 g — ₹500\n1 × Ceramic Tea Mug — ₹299",
        "total": "₹799",
    }


def test_constructor_checks_the_same_limits(mug):
    assert Cart([CartLine("ceramic-mug", "Ceramic Tea Mug", 29900, 2)]).total == 59800
    with pytest.raises(CartError):
        Cart([CartLine("ceramic-mug", "Ceramic Tea Mug", 29900, 21)])
