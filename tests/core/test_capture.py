"""capture_order: one path from a payload to a sourced order, for the API and the imports; and the core's boundary."""

import ast
from decimal import Decimal
from pathlib import Path

import pytest

from app.core.errors import InvalidInput
from app.core.models import FulfilmentStatus, Order, SourcingDecision
from app.core.ordering import capture
from app.core.ordering.payloads import OrderInSchema
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, random_ref, stocked

CORE = Path(__file__).resolve().parents[2] / "app" / "core"


def _payload(sku: str, quantity: int = 1, **extra) -> dict:
    body = {
        "channel": "web",
        "external_ref": random_ref("W-"),
        "customer": {"name": "Léa Martin", "email": "lea@example.fr", "language": "fr"},
        "delivery": {
            "method": "ship",
            "address": {"line1": "12 rue de la Paix", "postcode": "75002", "city": "Paris", "country": "FR"},
        },
        "lines": [{"sku": sku, "quantity": quantity, "unit_price": "19.90"}],
        "payment": {"provider": "test", "reference": "pay-1", "amount": "24.80", "currency": "EUR"},
        "gift": {"wrap": True, "message": "  Bon anniversaire  "},
    }
    body.update(extra)
    return OrderInSchema().load(body)


def test_a_payload_becomes_a_sourced_order_with_every_field(app):
    store = make_location(code="CAP01", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    product = stocked(store, make_product(), 3)
    order, created = capture.capture_order(_payload(product.sku, 2), actor=ACTOR)
    db.session.commit()
    assert created is True
    assert order.customer_language == "fr"
    assert order.payment_amount == Decimal("24.80") and order.payment_reference == "pay-1"
    assert order.lines[0].unit_price == Decimal("19.90")
    assert order.gift_wrap is True and order.gift_message == "Bon anniversaire"
    assert [(f.location.code, f.status) for f in order.fulfilments] == [("CAP01", FulfilmentStatus.CREATED)]
    assert db.session.query(SourcingDecision).filter_by(order_id=order.id).count() == 1


def test_the_same_payload_again_returns_the_first_order_and_sources_nothing_more(app):
    store = make_location(code="CAP02")
    product = stocked(store, make_product(), 3)
    payload = _payload(product.sku)
    first, _ = capture.capture_order(payload, actor=ACTOR)
    db.session.commit()
    again, created = capture.capture_order(payload, actor=ACTOR)
    assert created is False and again.id == first.id
    assert db.session.query(Order).count() == 1
    assert db.session.query(SourcingDecision).filter_by(order_id=first.id).count() == 1


def test_an_unknown_product_is_refused_and_nothing_is_kept(app):
    with pytest.raises(InvalidInput) as refused:
        capture.capture_order(_payload("NO-SUCH-SKU"), actor=ACTOR)
    db.session.rollback()
    assert "lines.0.sku" in refused.value.fields
    assert db.session.query(Order).count() == 0


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_the_core_never_imports_the_web_or_the_api():
    """The core is called by the web, the API and the CLI; it never reaches back into them."""
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 20
    offending = {
        str(path.relative_to(CORE)): sorted(n for n in _imports(path) if n.startswith(("app.api", "app.web")))
        for path in files
    }
    assert {path: names for path, names in offending.items() if names} == {}
