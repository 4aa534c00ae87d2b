"""GET /api/v1/orders/{id}/payments, the order's payment fields, and the payment events, through the API."""

import copy
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.integration.api_clients import create_api_client
from app.core.models import Order, RetailerSettings
from app.extensions import db
from tests.api.test_orders_api import BODY
from tests.core.test_payments import _ready_pickup
from tests.factories import ACTOR, make_location, make_product, stocked

TRANSACTION_KEYS = {
    "id",
    "kind",
    "amount",
    "status",
    "provider_reference",
    "created_at",
    "fulfilment_id",
    "return_id",
    "attempts",
    "last_error",
}


@pytest.fixture
def api(app, client):
    store = make_location(code="PAR01", latitude=48.87, longitude=2.33)
    stocked(store, make_product(sku="TSH-001-M", gtin="4006381333931"), 10)
    _, writer = create_api_client("webshop", ["orders:read", "orders:write", "fulfilments:write"], actor=ACTOR)
    _, reader = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    _, stranger = create_api_client("stock", ["stock:read"], actor=ACTOR)
    db.session.commit()
    keys = iter(range(1, 10_000))

    def call(method, path, token=writer, **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST" and "/fulfilments/" in path:
            headers["Idempotency-Key"] = f"key-{next(keys)}"
        return client.open(path, method=method, headers=headers, **kwargs)

    call.reader, call.stranger = reader, stranger
    return call


def _paid_body(reference="auth_123"):
    body = copy.deepcopy(BODY)
    body["lines"] = [{"sku": "TSH-001-M", "quantity": 2, "unit_price": "29.90"}]
    body["payment"] = {"provider": "test", "reference": reference, "amount": "64.70", "currency": "EUR"}
    body["shipping_fee"] = "4.90"
    return body


def test_an_orders_payment_starts_with_the_authorisation_as_sent(api):
    created = api("POST", "/api/v1/orders", json=_paid_body())
    assert created.status_code == 201, created.json
    order = db.session.get(Order, created.json["id"])
    assert (order.payment_provider, order.shipping_fee) == ("test", Decimal("4.90"))
    response = api("GET", f"/api/v1/orders/{order.id}/payments", token=api.reader)
    assert response.status_code == 200
    body = response.json
    assert {k: body[k] for k in ("currency", "authorised", "captured", "refunded", "voided")} == {
        "currency": "EUR",
        "authorised": "64.70",
        "captured": "0.00",
        "refunded": "0.00",
        "voided": "0.00",
    }
    (auth,) = body["transactions"]
    assert set(auth) == TRANSACTION_KEYS
    assert (auth["kind"], auth["amount"], auth["status"], auth["provider_reference"]) == (
        "authorisation",
        "64.70",
        "succeeded",
        "auth_123",
    )
    assert auth["created_at"] and auth["fulfilment_id"] is None


def test_cancelling_a_paid_order_voids_it_and_the_payments_and_the_feed_say_so(api):
    order_id = api("POST", "/api/v1/orders", json=_paid_body()).json["id"]
    cancelled = api("POST", f"/api/v1/orders/{order_id}/cancel", json={"reason": "customer changed mind"})
    assert cancelled.status_code == 200
    # The provider was called at the end of the cancel request: the void is confirmed already.
    body = api("GET", f"/api/v1/orders/{order_id}/payments", token=api.reader).json
    assert (body["authorised"], body["voided"], body["captured"]) == ("64.70", "64.70", "0.00")
    assert [(t["kind"], t["amount"], t["status"]) for t in body["transactions"]] == [
        ("authorisation", "64.70", "succeeded"),
        ("void", "64.70", "succeeded"),
    ]
    assert body["transactions"][1]["provider_reference"].startswith("test_void_")
    assert body["transactions"][1]["attempts"] == 1
    feed = api("GET", "/api/v1/events?after=0&limit=500", token=api.reader).json
    (voided,) = [e for e in feed if e["type"] == "payment.voided"]
    assert voided["payload"]["amount"] == "64.70" and voided["payload"]["order_id"] == order_id


def test_an_order_without_payment_answers_zeros(api):
    body = copy.deepcopy(BODY)
    del body["payment"]
    order_id = api("POST", "/api/v1/orders", json=body).json["id"]
    answer = api("GET", f"/api/v1/orders/{order_id}/payments", token=api.reader).json
    assert answer == {
        "currency": "EUR",
        "authorised": "0.00",
        "captured": "0.00",
        "refunded": "0.00",
        "voided": "0.00",
        "transactions": [],
    }


def test_unknown_orders_are_404_and_the_read_scope_is_needed(api):
    assert api("GET", "/api/v1/orders/999999/payments", token=api.reader).status_code == 404
    assert api("GET", "/api/v1/orders/99999999999999/payments", token=api.reader).status_code == 404
    order_id = api("POST", "/api/v1/orders", json=_paid_body()).json["id"]
    assert api("GET", f"/api/v1/orders/{order_id}/payments", token=api.stranger).status_code == 403
    assert api("GET", f"/api/v1/orders/{order_id}/payments", token="nope").status_code == 401


def test_the_documented_answer_names_every_field_and_the_events(api):
    spec = api("GET", "/api/v1/openapi.json").json
    operation = spec["paths"]["/api/v1/orders/{order_id}/payments"]["get"]
    assert "payment.captured" in operation["description"]
    schema = spec["components"]["schemas"]["PaymentSummary"]
    assert {"currency", "authorised", "captured", "refunded", "voided", "transactions"} <= set(schema["properties"])
    transaction = spec["components"]["schemas"]["PaymentTransaction"]
    assert TRANSACTION_KEYS <= set(transaction["properties"])
    order_in = spec["components"]["schemas"]["OrderIn"]["properties"]
    assert "shipping_fee" in order_in and order_in["shipping_fee"]["description"]
    payment = spec["components"]["schemas"]["Payment"]["properties"]
    assert "recorded" in payment["provider"]["description"]


def test_a_declined_capture_at_the_pos_holds_the_goods_with_409(api):
    db.session.add(RetailerSettings(id=1, failed_capture="hold"))
    fulfilment = _ready_pickup(reference="decline-card", fee="0.00")
    code, order_id = fulfilment.pickup.code, fulfilment.order_id
    db.session.commit()
    answer = api("POST", f"/api/v1/fulfilments/{fulfilment.id}/collect", json={"pickup_code": code})
    assert answer.status_code == 409
    assert answer.json["error"] == "payment_failed" and "do not hand the order over" in answer.json["message"]
    read = api("GET", f"/api/v1/fulfilments/{fulfilment.id}", token=api.reader).json
    assert read["status"] == "ready_for_pickup"
    payments = api("GET", f"/api/v1/orders/{order_id}/payments", token=api.reader).json
    capture = payments["transactions"][-1]
    assert (capture["kind"], capture["status"], capture["fulfilment_id"]) == ("capture", "failed", fulfilment.id)
    assert capture["last_error"] == "declined by the test provider"
    assert payments["captured"] == "0.00"
    assert api("GET", f"/api/v1/orders/{order_id}", token=api.reader).json["needs_customer_service"] is True
    feed = api("GET", "/api/v1/events?after=0&limit=500", token=api.reader).json
    assert [e["payload"]["kind"] for e in feed if e["type"] == "payment.failed"] == ["capture"]
    # The POS says the customer paid at the till: the goods go, the note stays in the order's history.
    paid = {"pickup_code": code, "payment_override": "paid at till 3, ticket 0042"}
    answer = api("POST", f"/api/v1/fulfilments/{fulfilment.id}/collect", json=paid)
    assert answer.status_code == 200 and answer.json["status"] == "collected"
    timeline = api("GET", f"/api/v1/orders/{order_id}/timeline", token=api.reader).json
    override = [e for e in timeline if e["action"] == "payment.hold_overridden"]
    assert len(override) == 1 and override[0]["after"]["note"] == "paid at till 3, ticket 0042"


def test_a_collection_at_the_pos_captures_what_the_customer_takes(api):
    fulfilment = _ready_pickup(quantities=(2, 1), prices=("10.00", "5.00"), fee="0.00")
    code, order_id = fulfilment.pickup.code, fulfilment.order_id
    db.session.commit()
    answer = api("POST", f"/api/v1/fulfilments/{fulfilment.id}/collect", json={"pickup_code": code})
    assert answer.status_code == 200, answer.json
    payments = api("GET", f"/api/v1/orders/{order_id}/payments", token=api.reader).json
    assert (payments["authorised"], payments["captured"], payments["voided"]) == ("25.00", "25.00", "0.00")
    kinds = [(t["kind"], t["status"]) for t in payments["transactions"]]
    assert kinds == [("authorisation", "succeeded"), ("capture", "succeeded")]
    assert db.session.scalar(select(Order.needs_customer_service).where(Order.id == order_id)) is False
