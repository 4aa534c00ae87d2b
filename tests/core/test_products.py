"""The catalogue as the PIM keeps it: names per language, inactive products, checks of a whole batch."""

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import func, select

from app.core.errors import InvalidInput
from app.core.inventory import products
from app.core.models import Order, Product
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, make_location, random_gtin, ship_draft, stocked


def _save(item: dict):
    [(product, status)] = products.save_products([item], actor=ACTOR)
    return product, status


def _loaded(**item) -> dict:
    return products.ProductItemSchema().load({"name": "Robe", **item})


def test_an_inactive_product_is_refused_on_order_capture_and_says_it_is_no_longer_sold(app):
    store = make_location()
    dress, _ = _save(_loaded(sku="ROBE-38", gtin=random_gtin()))
    stocked(store, dress, 5)
    products.save_products([_loaded(sku="ROBE-38", gtin=dress.gtin, active=False)], actor=ACTOR)
    with pytest.raises(InvalidInput) as refused:
        orders.create_order(ship_draft((dress, 1)), actor=ACTOR)
    assert refused.value.field_messages(lambda m, **p: m % p) == {
        "lines.0.sku": "ROBE-38 is no longer sold: it cannot be ordered."
    }
    with force_locale("fr"):
        assert "ROBE-38" in refused.value.field_messages(gettext)["lines.0.sku"]
        assert "plus vendu" in refused.value.field_messages(gettext)["lines.0.sku"]
    assert db.session.scalar(select(func.count()).select_from(Order)) == 0
    products.save_products([_loaded(sku="ROBE-38", gtin=dress.gtin)], actor=ACTOR)  # sold again
    order, created = orders.create_order(ship_draft((dress, 1)), actor=ACTOR)
    assert created and order.lines[0].product == dress


def test_an_order_taken_before_the_product_was_deactivated_is_still_found_by_its_resend(app):
    dress, _ = _save(_loaded(sku="ROBE-40"))
    draft = ship_draft((dress, 1))
    order, _ = orders.create_order(draft, actor=ACTOR)
    products.save_products([_loaded(sku="ROBE-40", active=False)], actor=ACTOR)
    assert orders.create_order(draft, actor=ACTOR) == (order, False)


def test_the_name_follows_the_readers_language_and_falls_back_to_the_default_name(app):
    dress, _ = _save(_loaded(sku="ROBE-1", name="Dress", names={"fr": "Robe portefeuille", "it": "Abito"}))
    assert products.product_name(dress, "fr") == "Robe portefeuille"
    assert products.product_name(dress, "it_IT") == "Abito"
    assert products.product_name(dress, "en") == "Dress"
    assert products.product_name(dress, None) == "Dress"
    only_italian, _ = _save(products.ProductItemSchema().load({"sku": "GONNA-1", "names": {"it": "Gonna"}}))
    assert (only_italian.name, products.product_name(only_italian, "fr")) == ("Gonna", "Gonna")


def test_a_gtin_is_one_code_whatever_its_leading_zeros(app):
    _save(_loaded(sku="A", gtin="012345678905"))
    for code in ("0012345678905", "00012345678905"):
        errors = products.check_products([_loaded(sku="B", gtin=code)])
        assert errors[0]["gtin"][0] == "The code %(code)s is already used by another product."
    errors = products.check_products(
        [_loaded(sku="C", gtin="4006381333931"), _loaded(sku="D", barcodes=["04006381333931"])]
    )
    assert errors == {1: {"barcodes.0": (products.BATCH_PLACES["code"], {"code": "04006381333931", "n": 0})}}


def test_saving_the_same_content_twice_writes_once(app):
    item = _loaded(sku="ROBE-2", names={"fr": "Robe"}, flags=["hazmat", "fragile"], barcodes=["X-1"])
    product, status = _save(item)
    assert (status, product.flags) == ("created", ["fragile", "hazmat"])
    stamp = product.updated_at
    assert _save(item)[1] == "unchanged"
    assert db.session.get(Product, product.id).updated_at == stamp


def test_a_change_of_barcodes_alone_is_an_update_seen_by_updated_since(app):
    product, _ = _save(_loaded(sku="ROBE-3", barcodes=["X-1"]))
    stamp = product.updated_at
    product, status = _save(_loaded(sku="ROBE-3", barcodes=["X-2"]))
    assert status == "updated"
    assert [b.code for b in product.barcodes] == ["X-2"]
    assert product.updated_at > stamp


def test_an_inactive_product_is_neither_offered_nor_sourced_again_for_an_order_taken_before(app):
    from app.core.inventory import availability
    from app.core.ordering import sourcing

    near, far = make_location(code="NEAR", latitude=48.87, longitude=2.33), make_location(code="FAR")
    dress, _ = _save(_loaded(sku="ROBE-40", gtin=random_gtin()))
    for store in (near, far):
        stocked(store, dress, 3)
    order = orders.create_order(ship_draft((dress, 1)), actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    [first] = order.fulfilments
    assert availability.available_to_promise(["ROBE-40"], ["NEAR", "FAR"]).units["ROBE-40"] != [0, 0]
    products.save_products([_loaded(sku="ROBE-40", gtin=dress.gtin, active=False)], actor=ACTOR)
    assert availability.available_to_promise(["ROBE-40"], ["NEAR", "FAR"]).units == {"ROBE-40": [0, 0]}
    decision = sourcing.reject_and_reroute(first, reason="out_of_stock", actor=ACTOR)
    assert decision.unfulfilled == {"1": 1}  # the other store still holds units, but the product is not sold any more
    assert order.needs_customer_service is True
