import pytest

from app.core import catalogue
from app.core.errors import InvalidInput
from tests.factories import make_product


@pytest.mark.parametrize("code", ["4006381333931", "012345678905", "96385074"])
def test_valid_gtins_are_accepted(app, code):
    assert catalogue.validate_gtin(code) == code


@pytest.mark.parametrize("code", ["4006381333932", "12345", "40063813339ab", "", "00000000000000"])
def test_gtins_with_a_wrong_check_digit_or_length_are_refused(app, code):
    with pytest.raises(InvalidInput):
        catalogue.validate_gtin(code)


def test_a_product_is_found_by_sku_gtin_upc_and_extra_barcode(app):
    product = make_product(gtin="0012345678905", barcodes=["SUPPLIER-77"])
    for code in [product.sku, "0012345678905", "012345678905", "SUPPLIER-77"]:
        assert catalogue.find_product(code) == product
    assert catalogue.find_product("nothing") is None


def test_a_code_cannot_belong_to_two_products(app):
    product = make_product()
    with pytest.raises(InvalidInput):
        make_product(gtin=product.gtin)
