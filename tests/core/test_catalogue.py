import pytest

from app.core.errors import InvalidInput
from app.core.inventory import catalogue
from tests.factories import make_product, sql_statements


@pytest.mark.parametrize("code", ["4006381333931", "012345678905", "96385074", "14006381333938", "00012345678905"])
def test_valid_gtins_are_accepted(app, code):
    assert catalogue.validate_gtin(code) == code


@pytest.mark.parametrize(
    "code", ["4006381333932", "12345", "40063813339ab", "", "00000000000000", "14006381333939", "123456789012345"]
)
def test_gtins_with_a_wrong_check_digit_or_length_are_refused(app, code):
    with pytest.raises(InvalidInput):
        catalogue.validate_gtin(code)


def test_a_product_is_found_by_sku_gtin_upc_and_extra_barcode(app):
    product = make_product(gtin="0012345678905", barcodes=["SUPPLIER-77"])
    for code in [product.sku, "0012345678905", "012345678905", "00012345678905", "SUPPLIER-77"]:
        assert catalogue.find_product(code) == product
    assert catalogue.find_product("nothing") is None


def test_a_code_cannot_belong_to_two_products(app):
    product = make_product()
    with pytest.raises(InvalidInput):
        make_product(gtin=product.gtin)


def test_the_products_of_an_order_are_found_together_by_any_of_their_codes(app):
    by_sku = make_product()
    by_upc = make_product(gtin="0012345678905")
    by_barcode = make_product(barcodes=["SUPPLIER-78"])
    with sql_statements() as statements:
        found = catalogue.find_products([by_sku.sku, " 012345678905 ", "SUPPLIER-78", "nothing", ""])
    assert found == {
        by_sku.sku: by_sku,
        "012345678905": by_upc,
        "SUPPLIER-78": by_barcode,
    }
    assert len(statements) == 3  # one look-up per kind of code, whatever the number of codes
    assert catalogue.find_products([by_sku.sku]) == {by_sku.sku: by_sku}
    assert catalogue.find_products([]) == {}
