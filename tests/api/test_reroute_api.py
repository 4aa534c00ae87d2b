"""POST /api/v1/fulfilments/{id}/reroute: customer service gives a rejected fulfilment to a ranked location."""

from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.integration.api_clients import create_api_client
from app.core.inventory import stock
from app.core.models import AuditEvent, Fulfilment
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked


@pytest.fixture
def rejected(app, client):
    """A ship order whose only store rejected it, nothing else holding stock then; Lyon stocked afterwards."""
    product = make_product(sku="PULL-M")
    paris = make_location(code="PAR", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    lyon = make_location(code="LYO", latitude=Decimal("45.76"), longitude=Decimal("4.84"))
    stocked(paris, product, 2)
    draft = ship_draft((product, 2))
    order, _ = orders.create_order(draft, actor=ACTOR)
    sourcing.source_order(order, actor=ACTOR)
    (first,) = order.fulfilments
    sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)
    stocked(lyon, product, 5)
    _, writer = create_api_client("cs-tool", ["orders:read", "fulfilments:write"], actor=ACTOR)
    _, reader = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    db.session.commit()

    def post(body, key="k-1", token=writer):
        headers = {"Authorization": f"Bearer {token}", "Idempotency-Key": key}
        return client.post(f"/api/v1/fulfilments/{first.id}/reroute", json=body, headers=headers)

    return {"post": post, "first": first.id, "order": order.id, "lyon": lyon, "product": product, "reader": reader}


def test_reroute_gives_the_units_to_the_chosen_location_and_a_repeat_answers_the_same(rejected):
    post = rejected["post"]
    answer = post({"location": "LYO", "note": "customer agreed"})
    assert answer.status_code == 200, answer.json
    assert answer.json["location"] == "LYO" and answer.json["status"] == S.CREATED
    assert answer.json["order_id"] == rejected["order"]
    new = db.session.get(Fulfilment, answer.json["id"])
    assert [line.quantity for line in new.lines] == [2]
    assert stock.available_to_promise(rejected["lyon"], rejected["product"]) == 3
    again = post({"location": "LYO", "note": "customer agreed"})
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert again.json["id"] == new.id
    assert stock.available_to_promise(rejected["lyon"], rejected["product"]) == 3
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "order.cs_rerouted"))
    assert event.actor == "api:cs-tool" and event.after["note"] == "customer agreed"
    refused = post({"location": "LYO"}, key="k-2")  # another request: nothing is left to re-route
    assert refused.status_code == 409 and refused.json["error"] == "service_refused"


def test_reroute_is_refused_without_stock_scope_or_key(rejected):
    post = rejected["post"]
    lacking = post({"location": "PAR"})  # the store that rejected: not a candidate, and no stock left
    assert lacking.status_code == 409 and "PAR does not have the stock" in lacking.json["message"]
    assert post({"location": "NOPE"}, key="k-3").status_code == 422
    assert post({"location": "LYO"}, key="k-4", token=rejected["reader"]).status_code == 403
    assert post({"location": "LYO"}, key="").status_code == 422
    assert (
        db.session.scalars(select(Fulfilment).where(Fulfilment.order_id == rejected["order"])).all()[-1].id
        == (rejected["first"])
    )
