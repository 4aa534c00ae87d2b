"""/api/v1/returns: a till taking items back, a WMS receiving returns by post, quarantine decisions, the receipt."""

from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.integration.api_clients import create_api_client
from app.core.models import CustomerReturn, PaymentTransaction, StockLevel, StockMovement
from app.extensions import db
from tests.core.test_returns import shipped_order
from tests.factories import ACTOR, make_location


@pytest.fixture
def till(app, client):
    order = shipped_order()  # 2 x 20.00 and 1 x 15.00, 4.90 shipping: 59.90 captured
    store = make_location(code="LYO01")
    _, writer = create_api_client("till", ["orders:read", "returns:write"], actor=ACTOR)
    _, reader = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    first, second = order.lines
    db.session.commit()
    keys = iter(range(1, 10_000))

    def call(method, path, token=writer, key="new", **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST" and key is not None:
            headers["Idempotency-Key"] = f"key-{next(keys)}" if key == "new" else key
        return client.open(path, method=method, headers=headers, **kwargs)

    def line(product, quantity=1, reason="too_small", condition="resellable"):
        return {"sku": product.sku, "quantity": quantity, "reason": reason, "condition": condition}

    return {
        "call": call,
        "line": line,
        "order": order,
        "order_id": order.id,
        "store": store,
        "first": first.product,
        "second": second.product,
        "reader": reader,
    }


def _counts(order_id) -> tuple[int, int, int]:
    db.session.rollback()
    return (
        db.session.scalar(select(func.count()).select_from(CustomerReturn).where(CustomerReturn.order_id == order_id)),
        db.session.scalar(
            select(func.count()).select_from(PaymentTransaction).where(PaymentTransaction.kind == "refund")
        ),
        db.session.scalar(select(func.count()).select_from(StockMovement).where(StockMovement.kind == "return")),
    )


def _on_hand(store, product) -> int:
    db.session.rollback()
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    return level.on_hand if level is not None else 0


def test_a_return_at_the_till_answers_201_with_its_refund_and_puts_the_unit_on_sale(till):
    call, line = till["call"], till["line"]
    answer = call(
        "POST",
        "/api/v1/returns",
        json={"order_id": till["order_id"], "location": "LYO01", "lines": [line(till["first"])]},
    )
    assert answer.status_code == 201, answer.json
    body = answer.json
    assert body["number"] == f"RET-{body['id']:07d}"
    assert (body["order_id"], body["location"], body["status"]) == (till["order_id"], "LYO01", "received")
    assert body["refund"] == {"amount": "20.00", "shipping": "0.00", "currency": "EUR", "status": "pending"}
    [returned] = body["lines"]
    assert {k: returned[k] for k in ("sku", "quantity", "reason", "condition", "unit_refund", "outcome")} == {
        "sku": till["first"].sku,
        "quantity": 1,
        "reason": "too_small",
        "condition": "resellable",
        "unit_refund": "20.00",
        "outcome": None,
    }
    assert body["created_at"] and body["receipt_pdf_url"].endswith(f"/api/v1/returns/{body['id']}/receipt.pdf")
    assert _on_hand(till["store"], till["first"]) == 1
    # The provider was called after the commit: the refund has gone through by the next read.
    again = call("GET", f"/api/v1/returns/{body['id']}", token=till["reader"])
    assert again.status_code == 200 and again.json["refund"]["status"] == "succeeded"
    listed = call("GET", f"/api/v1/returns?order_id={till['order_id']}", token=till["reader"])
    assert [r["number"] for r in listed.json["items"]] == [body["number"]]
    assert call("GET", "/api/v1/returns?order_id=999999", token=till["reader"]).json == {"items": []}


def test_the_same_idempotency_key_answers_the_same_and_returns_nothing_twice(till):
    call, line = till["call"], till["line"]
    payload = {"order_id": till["order_id"], "location": "LYO01", "lines": [line(till["first"])]}
    first = call("POST", "/api/v1/returns", key="till-42", json=payload)
    repeat = call("POST", "/api/v1/returns", key="till-42", json=payload)
    assert first.status_code == repeat.status_code == 201
    assert repeat.json == first.json and repeat.headers["Idempotent-Replayed"] == "true"
    assert _counts(till["order_id"]) == (1, 1, 1)
    assert _on_hand(till["store"], till["first"]) == 1
    other = call("POST", "/api/v1/returns", key="till-42", json={**payload, "location": "XXX"})
    assert other.status_code == 409 and other.json["error"] == "idempotency_conflict"


def test_returning_more_than_can_come_back_is_422_with_fields_and_changes_nothing(till):
    call, line = till["call"], till["line"]
    too_many = call(
        "POST",
        "/api/v1/returns",
        json={
            "order_id": till["order_id"],
            "location": "LYO01",
            "lines": [line(till["second"]), line(till["first"], 3)],
        },
    )
    assert too_many.status_code == 422
    assert too_many.json["error"] == "invalid" and "lines.1.quantity" in too_many.json["fields"]
    assert "2" in too_many.json["fields"]["lines.1.quantity"]  # at most 2 of this item
    assert _counts(till["order_id"]) == (0, 0, 0)
    assert _on_hand(till["store"], till["second"]) == 0
    # Two now, then one more: refused, as only two left the store.
    ok = call("POST", "/api/v1/returns", json={**_body(till), "lines": [line(till["first"], 2)]})
    assert ok.status_code == 201
    more = call("POST", "/api/v1/returns", json={**_body(till), "lines": [line(till["first"])]})
    assert more.status_code == 422 and "lines.0.quantity" in more.json["fields"]
    assert _counts(till["order_id"]) == (1, 1, 1)


def _body(till, **changes):
    return {"order_id": till["order_id"], "location": "LYO01", "lines": [till["line"](till["first"])], **changes}


def test_unknown_references_and_bad_bodies_are_422_with_fields(till):
    call, line = till["call"], till["line"]
    unknown_order = call("POST", "/api/v1/returns", json=_body(till, order_id=999_999))
    assert unknown_order.status_code == 422 and "order_id" in unknown_order.json["fields"]
    unknown_store = call("POST", "/api/v1/returns", json=_body(till, location="NOWHERE"))
    assert unknown_store.status_code == 422 and "location" in unknown_store.json["fields"]
    not_in_order = call(
        "POST", "/api/v1/returns", json=_body(till, lines=[{**line(till["first"]), "sku": "NOT-IN-ORDER"}])
    )
    assert not_in_order.status_code == 422 and "lines.0.sku" in not_in_order.json["fields"]
    bad = call("POST", "/api/v1/returns", json=_body(till, lines=[line(till["first"], 0, "bored", "new")]))
    assert bad.status_code == 422
    assert {"lines.0.quantity", "lines.0.reason", "lines.0.condition"} <= set(bad.json["fields"])
    no_key = call("POST", "/api/v1/returns", key=None, json=_body(till))
    assert no_key.status_code == 422 and "Idempotency-Key" in no_key.json["fields"]
    assert _counts(till["order_id"]) == (0, 0, 0)


def test_a_return_by_post_is_expected_then_received_once(till):
    call, line = till["call"], till["line"]
    announced = call("POST", "/api/v1/returns", json=_body(till, status="expected", location="LYO01"))
    assert announced.status_code == 201
    body = announced.json
    assert body["status"] == "expected" and body["refund"]["status"] == "none" and body["refund"]["amount"] == "0.00"
    assert _on_hand(till["store"], till["first"]) == 0 and _counts(till["order_id"]) == (1, 0, 0)
    # Announced units count as coming back: the last one cannot be returned at a till meanwhile... only one more.
    rest = call("POST", "/api/v1/returns", json=_body(till, lines=[line(till["first"], 2)]))
    assert rest.status_code == 422
    warehouse = make_location(code="WH01")
    db.session.commit()
    received = call("POST", f"/api/v1/returns/{body['id']}/receive", json={"location": "WH01"})
    assert received.status_code == 200, received.json
    assert received.json["status"] == "received" and received.json["location"] == "WH01"
    assert received.json["refund"]["amount"] == "20.00" and received.json["refund"]["status"] == "pending"
    assert received.json["received_at"]
    assert _on_hand(warehouse, till["first"]) == 1
    again = call("POST", f"/api/v1/returns/{body['id']}/receive", json={"location": "WH01"})
    assert again.status_code == 200 and again.json["refund"]["status"] == "succeeded"
    assert _counts(till["order_id"]) == (1, 1, 1)
    unknown = call("POST", f"/api/v1/returns/{body['id']}/receive", json={"location": "NOWHERE"})
    assert unknown.status_code == 422 and "location" in unknown.json["fields"]


def test_a_unit_for_inspection_waits_for_a_decision(till):
    call, line = till["call"], till["line"]
    made = call("POST", "/api/v1/returns", json=_body(till, lines=[line(till["second"], 1, "damaged", "inspect")]))
    assert made.status_code == 201
    ret = made.json
    line_id = ret["lines"][0]["id"]
    assert _on_hand(till["store"], till["second"]) == 0
    url = f"/api/v1/returns/{ret['id']}/lines/{line_id}/decision"
    decided = call("POST", url, json={"outcome": "resellable"})
    assert decided.status_code == 200 and decided.json["lines"][0]["outcome"] == "resellable"
    assert _on_hand(till["store"], till["second"]) == 1
    assert call("POST", url, json={"outcome": "resellable"}).status_code == 200  # the same again: nothing changes
    assert _on_hand(till["store"], till["second"]) == 1
    changed = call("POST", url, json={"outcome": "damaged"})
    assert changed.status_code == 409 and changed.json["error"] == "return_refused"
    assert call("POST", url, json={"outcome": "lost"}).status_code == 422
    other = call("POST", "/api/v1/returns", json=_body(till))
    foreign = call("POST", f"/api/v1/returns/{other.json['id']}/lines/{line_id}/decision", json={"outcome": "damaged"})
    assert foreign.status_code == 404
    not_inspected = other.json["lines"][0]["id"]
    refused = call(
        "POST", f"/api/v1/returns/{other.json['id']}/lines/{not_inspected}/decision", json={"outcome": "damaged"}
    )
    assert refused.status_code == 409


def test_unknown_returns_are_404_and_a_reader_cannot_write(till):
    call = till["call"]
    for method, path, body in (
        ("GET", "/api/v1/returns/999999", None),
        ("GET", "/api/v1/returns/999999/receipt.pdf", None),
        ("POST", "/api/v1/returns/999999/receive", {"location": "LYO01"}),
        ("POST", "/api/v1/returns/999999/lines/1/decision", {"outcome": "damaged"}),
    ):
        answer = call(method, path, json=body)
        assert answer.status_code == 404 and answer.json["error"] == "not_found", path
    refused = call("POST", "/api/v1/returns", token=till["reader"], json=_body(till))
    assert refused.status_code == 403 and "returns:write" in refused.json["message"]
    assert call("GET", "/api/v1/returns/1", token="nope").status_code == 401
    assert _counts(till["order_id"]) == (0, 0, 0)


def test_the_receipt_is_a_pdf_on_a4_or_a_till_roll(till):
    call = till["call"]
    made = call("POST", "/api/v1/returns", json=_body(till))
    for query in ("", "?size=a4", "?size=80mm"):
        pdf = call("GET", f"/api/v1/returns/{made.json['id']}/receipt.pdf{query}", token=till["reader"])
        assert pdf.status_code == 200 and pdf.mimetype == "application/pdf" and pdf.data.startswith(b"%PDF")
        assert made.json["number"] in pdf.headers["Content-Disposition"]
    wrong = call("GET", f"/api/v1/returns/{made.json['id']}/receipt.pdf?size=letter", token=till["reader"])
    assert wrong.status_code == 422 and "size" in wrong.json["fields"]


def test_the_whole_order_back_refunds_the_shipping_fee_too(till):
    call, line = till["call"], till["line"]
    answer = call(
        "POST",
        "/api/v1/returns",
        json=_body(till, lines=[line(till["first"], 2), line(till["second"], 1, "late", "damaged")]),
    )
    assert answer.status_code == 201
    assert answer.json["refund"]["amount"] == "59.90" and answer.json["refund"]["shipping"] == "4.90"
    db.session.rollback()
    refunded = db.session.scalar(select(func.sum(PaymentTransaction.amount)).where(PaymentTransaction.kind == "refund"))
    assert refunded == Decimal("59.90")
