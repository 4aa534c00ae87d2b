"""The catalogue API: PUT by SKU (idempotent by content), reads, the list's cursor and filters, batches."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.core.integration.api_clients import create_api_client
from app.core.models import AuditEvent, Product, ProductBarcode
from app.extensions import db
from tests.factories import ACTOR, make_product, random_gtin

SHIRT = {
    "names": {"en": "Linen shirt", "fr": "Chemise en lin", "it": "Camicia di lino"},
    "gtin": "4006381333931",
    "barcodes": ["SUP-4411", "3020120012344"],
    "style": "CHEM-LIN",
    "size": "M",
    "colour": "blanc",
    "category": "Chemises",
    "weight_grams": 240,
    "dimensions_mm": {"length": 300, "width": 250, "height": 30},
    "image_url": "https://example.invalid/images/chem-lin-m.jpg",
    "flags": ["fragile"],
}


@pytest.fixture
def pim(app, client):
    _, token = create_api_client("pim", ["products:read", "products:write"], actor=ACTOR)
    _, reader = create_api_client("shop", ["products:read"], actor=ACTOR)
    db.session.commit()

    def call(method, path, key=None, token=token, headers=(), **kwargs):
        headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {}), **dict(headers)}
        return client.open(path, method=method, headers=headers, **kwargs)

    call.reader = reader
    return call


def _products() -> int:
    return db.session.scalar(select(func.count()).select_from(Product))


def _audits() -> int:
    return db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action.like("product.%")))


def _batch(n: int, prefix: str = "B") -> list[dict]:
    return [{"sku": f"{prefix}-{i}", "name": f"T-shirt {i}", "gtin": random_gtin(), "size": "S"} for i in range(n)]


def test_a_put_creates_the_product_and_answers_it_with_the_same_names(pim):
    response = pim("PUT", "/api/v1/products/CHEM-LIN-M", json=SHIRT)
    assert response.status_code == 201
    body = response.json
    assert {k: body[k] for k in SHIRT} == SHIRT
    assert (body["sku"], body["name"], body["active"]) == ("CHEM-LIN-M", "Linen shirt", True)
    product = db.session.scalar(select(Product).where(Product.sku == "CHEM-LIN-M"))
    assert (product.names["fr"], product.length_mm, product.flags) == ("Chemise en lin", 300, ["fragile"])
    assert [b.code for b in product.barcodes] == ["SUP-4411", "3020120012344"]
    assert pim("GET", "/api/v1/products/CHEM-LIN-M").json == body


def test_the_same_content_again_is_200_and_writes_nothing(pim):
    first = pim("PUT", "/api/v1/products/CHEM-LIN-M", json=SHIRT)
    audits, updated_at = _audits(), first.json["updated_at"]
    again = pim("PUT", "/api/v1/products/CHEM-LIN-M", json=SHIRT)
    assert again.status_code == 200
    assert again.json == first.json
    assert again.json["updated_at"] == updated_at
    assert (_products(), _audits()) == (1, audits)


def test_a_put_replaces_the_product_and_a_left_out_field_is_emptied(pim):
    pim("PUT", "/api/v1/products/CHEM-LIN-M", json=SHIRT)
    changed = {"name": "Linen shirt, white", "gtin": "4006381333931", "barcodes": ["SUP-4411"], "weight_grams": 250}
    response = pim("PUT", "/api/v1/products/CHEM-LIN-M", json=changed)
    assert response.status_code == 200
    assert (response.json["name"], response.json["names"], response.json["weight_grams"]) == (
        "Linen shirt, white",
        {},
        250,
    )
    assert (response.json["barcodes"], response.json["dimensions_mm"], response.json["flags"]) == (
        ["SUP-4411"],
        None,
        [],
    )
    assert db.session.scalars(select(ProductBarcode.code)).all() == ["SUP-4411"]
    update = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "product.update")).one()
    assert update.before["weight_grams"] == 240 and update.after["weight_grams"] == 250
    assert "gtin" not in update.after  # only what changed is recorded


def test_a_product_is_deactivated_not_deleted_and_found_again(pim):
    pim("PUT", "/api/v1/products/CHEM-LIN-M", json=SHIRT)
    response = pim("PUT", "/api/v1/products/CHEM-LIN-M", json={**SHIRT, "active": False})
    assert (response.status_code, response.json["active"]) == (200, False)
    assert pim("GET", "/api/v1/products/CHEM-LIN-M").json["active"] is False
    assert [p["sku"] for p in pim("GET", "/api/v1/products?active=false").json["items"]] == ["CHEM-LIN-M"]
    assert pim("GET", "/api/v1/products?active=true").json["items"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**SHIRT, "gtin": "4006381333932"}, "gtin"),  # wrong check digit
        ({**SHIRT, "gtin": "14006381333939"}, "gtin"),  # GTIN-14, wrong check digit
        ({**SHIRT, "gtin": "123456789"}, "gtin"),  # no GTIN has 9 digits
        ({"gtin": "4006381333931"}, "name"),  # neither name nor names
        ({**SHIRT, "names": {"de": "Leinenhemd"}}, "names.de"),
        ({**SHIRT, "flags": ["explosive"]}, "flags.0"),
        ({**SHIRT, "weight_grams": -1}, "weight_grams"),
        ({**SHIRT, "dimensions_mm": {"length": 300}}, "dimensions_mm.width"),
        ({**SHIRT, "image_url": "ftp://example.invalid/a.jpg"}, "image_url"),
        ({**SHIRT, "barcodes": ["SUP-1", "SUP-1"]}, "barcodes.1"),
        ({**SHIRT, "barcodes": ["4006381333931"]}, "barcodes.0"),  # the product's own GTIN again
        ({**SHIRT, "active": "maybe"}, "active"),
    ],
)
def test_bad_products_are_refused_with_the_field_and_change_nothing(pim, body, field):
    response = pim("PUT", "/api/v1/products/CHEM-LIN-M", json=body)
    assert response.status_code == 422
    assert field in response.json["fields"], response.json
    assert (_products(), _audits()) == (0, 0)


def test_the_check_digit_message_is_in_the_callers_language(pim):
    response = pim(
        "PUT",
        "/api/v1/products/X-1",
        json={"name": "X", "gtin": "4006381333932"},
        headers={"Accept-Language": "fr"},
    )
    assert response.status_code == 422
    assert "4006381333932" in response.json["fields"]["gtin"]
    assert "chiffre de contrôle" in response.json["fields"]["gtin"]


def test_a_code_of_another_product_is_refused(pim):
    other = make_product(sku="OTHER", gtin="0012345678905", barcodes=["SUP-9"])
    db.session.commit()
    for body, field in [
        ({"name": "A", "gtin": "012345678905"}, "gtin"),  # the same UPC-A, without its leading zero
        ({"name": "A", "barcodes": ["SUP-9"]}, "barcodes.0"),
        ({"name": "A", "barcodes": [other.sku]}, "barcodes.0"),
    ]:
        response = pim("PUT", "/api/v1/products/NEW-1", json=body)
        assert response.status_code == 422
        assert "already used by another product" in response.json["fields"][field]
    assert _products() == 1


def test_scopes_are_required(pim):
    assert pim("PUT", "/api/v1/products/A", json={"name": "A"}, token=pim.reader).status_code == 403
    assert (
        pim("POST", "/api/v1/products/batch", key="k", json={"items": _batch(1)}, token=pim.reader).status_code == 403
    )
    assert pim("GET", "/api/v1/products", token="cpt_nope").status_code == 401
    assert pim("GET", "/api/v1/products/A", token=pim.reader).status_code == 404
    _, orders_only = create_api_client("shop2", ["orders:read"], actor=ACTOR)
    db.session.commit()
    for path in ("/api/v1/products", "/api/v1/products/A"):
        response = pim("GET", path, token=orders_only)
        assert response.status_code == 403
        assert "products:read" in response.json["message"]
    assert _products() == 0


def test_an_unknown_sku_is_404(pim):
    response = pim("GET", "/api/v1/products/NOPE")
    assert (response.status_code, response.json["error"]) == (404, "not_found")
    assert pim("GET", "/api/v1/products/" + "X" * 65).status_code == 404


def test_the_list_pages_with_a_cursor_and_filters_by_search_and_update_time(pim):
    for i in range(5):
        pim("PUT", f"/api/v1/products/TSH-{i}", json={"name": f"T-shirt coton {i}", "size": "M"})
    pim("PUT", "/api/v1/products/JEAN-1", json={"name": "Jean droit", "gtin": "4006381333931"})
    first = pim("GET", "/api/v1/products?limit=4").json
    assert [p["sku"] for p in first["items"]] == ["TSH-0", "TSH-1", "TSH-2", "TSH-3"]
    second = pim("GET", f"/api/v1/products?limit=4&cursor={first['next_cursor']}").json
    assert ([p["sku"] for p in second["items"]], second["next_cursor"]) == (["TSH-4", "JEAN-1"], None)

    def skus(query):
        return [p["sku"] for p in pim("GET", "/api/v1/products", query_string=query).json["items"]]

    assert skus({"q": "jean"}) == ["JEAN-1"]  # name, any case
    assert skus({"q": "tsh-3"}) == ["TSH-3"]  # SKU
    assert skus({"q": "400638133"}) == ["JEAN-1"]  # GTIN
    assert skus({"q": "%"}) == []  # a wildcard is a character like any other
    later = datetime.now(UTC) + timedelta(seconds=1)
    db.session.execute(
        Product.__table__.update().where(Product.sku == "TSH-2").values(updated_at=later + timedelta(seconds=1))
    )
    db.session.commit()
    assert skus({"updated_since": later.isoformat()}) == ["TSH-2"]
    assert skus({"updated_since": later.isoformat(), "q": "JEAN"}) == []
    bad = pim("GET", "/api/v1/products?updated_since=yesterday&limit=0")
    assert bad.status_code == 422
    assert {"updated_since", "limit"} <= set(bad.json["fields"])


def test_a_batch_saves_every_product_and_says_what_happened_to_each(pim):
    pim("PUT", "/api/v1/products/B-0", json={"name": "T-shirt 0", "size": "S"})
    items = [{"sku": "B-0", "name": "T-shirt 0", "size": "S"}, *_batch(3)[1:], {"sku": "B-9", "names": {"it": "Gonna"}}]
    response = pim("POST", "/api/v1/products/batch", key="batch-1", json={"items": items})
    assert response.status_code == 200, response.json
    assert (response.json["created"], response.json["updated"], response.json["unchanged"]) == (3, 0, 1)
    assert response.json["items"][0] == {"sku": "B-0", "status": "unchanged"}
    assert pim("GET", "/api/v1/products/B-9").json["name"] == "Gonna"
    assert _products() == 4


def test_a_batch_is_all_or_nothing_and_names_each_refused_field(pim):
    items = _batch(6)
    items[3]["gtin"] = "4006381333932"
    items[4]["sku"] = "B-1"  # twice in the batch
    items[5]["barcodes"] = [items[0]["gtin"]]  # item 0's GTIN
    response = pim("POST", "/api/v1/products/batch", key="batch-2", json={"items": items})
    assert response.status_code == 422
    fields = response.json["fields"]
    assert set(fields) == {"items.3.gtin", "items.4.sku", "items.5.barcodes.0"}
    assert "item 1" in fields["items.4.sku"] and "item 0" in fields["items.5.barcodes.0"]
    schema_error = pim("POST", "/api/v1/products/batch", key="batch-3", json={"items": [{"name": "no sku"}]})
    assert set(schema_error.json["fields"]) == {"items.0.sku"}
    assert pim("POST", "/api/v1/products/batch", key="batch-4", json={"items": _batch(1001)}).status_code == 422
    assert (_products(), _audits()) == (0, 0)


def test_a_batch_resent_with_its_key_is_replayed_and_another_body_is_a_conflict(pim):
    items = _batch(3)
    first = pim("POST", "/api/v1/products/batch", key="batch-5", json={"items": items})
    again = pim("POST", "/api/v1/products/batch", key="batch-5", json={"items": items})
    assert (first.status_code, again.status_code) == (200, 200)
    assert again.json == first.json and again.headers["Idempotent-Replayed"] == "true"
    assert _audits() == 3
    other = pim("POST", "/api/v1/products/batch", key="batch-5", json={"items": items[:1]})
    assert (other.status_code, other.json["error"]) == (409, "idempotency_conflict")
    missing = pim("POST", "/api/v1/products/batch", json={"items": items})
    assert missing.status_code == 422 and "Idempotency-Key" in missing.json["fields"]
    # The same content under a new key: nothing to change.
    later = pim("POST", "/api/v1/products/batch", key="batch-6", json={"items": items})
    assert later.json["unchanged"] == 3 and _audits() == 3


def test_a_batch_of_a_thousand_products_is_taken_in_one_call(pim):
    response = pim("POST", "/api/v1/products/batch", key="big", json={"items": _batch(1000)})
    assert (response.status_code, response.json["created"]) == (200, 1000)
    assert _products() == 1000


def test_a_code_taken_by_another_request_between_check_and_write_is_409_not_500(pim, monkeypatch):
    from app.core.inventory import products

    make_product(sku="FIRST", gtin="4006381333931")
    db.session.commit()
    monkeypatch.setattr(products, "check_products", lambda items, file_rows=None: {})  # the other request's race
    response = pim("PUT", "/api/v1/products/SECOND", json={"name": "B", "gtin": "4006381333931"})
    assert (response.status_code, response.json["error"]) == (409, "conflict")
    assert _products() == 1
