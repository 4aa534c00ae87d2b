"""/api/v1/fulfilments: click & collect end to end through the API (a POS), with the same core as the screens."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, update

from app.core.floor import pickups
from app.core.integration import worker
from app.core.integration.api_clients import create_api_client
from app.core.models import (
    AuditEvent,
    Fulfilment,
    OutboxEvent,
    Pickup,
    StockLevel,
    StockMovement,
    WebhookDelivery,
    bag_barcode,
)
from app.core.ordering import orders, rules
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, ship_draft, stocked

WRITER = "pos"


@pytest.fixture
def shop(app, client):
    """A store with two hold-shelf slots, two products in stock and a click & collect order given to it."""
    store = make_location(code="PAR01", click_and_collect=True)
    shirt, cap = make_product(sku="TSH-001-M"), make_product(sku="CAP-002")
    stocked(store, shirt, 5)
    stocked(store, cap, 5)
    pickups.add_slots(store, ["A-01", "B-02"], actor=ACTOR)
    fulfilment = _collect_order(store, (shirt, 2), (cap, 1))
    _, pos = create_api_client(WRITER, ["orders:read", "fulfilments:write"], actor=ACTOR)
    _, reader = create_api_client("reporting", ["orders:read"], actor=ACTOR)
    _, settings = create_api_client("erp", ["settings:read"], actor=ACTOR)
    db.session.commit()
    keys = iter(range(1, 10_000))

    def call(method, path, token=pos, key="new", **kwargs):
        headers = {"Authorization": f"Bearer {token}"}
        if method == "POST" and key is not None:
            headers["Idempotency-Key"] = f"key-{next(keys)}" if key == "new" else key
        return client.open(path, method=method, headers=headers, **kwargs)

    return {
        "call": call,
        "store": store,
        "shirt": shirt,
        "cap": cap,
        "id": fulfilment.id,
        "url": f"/api/v1/fulfilments/{fulfilment.id}",
        "pos": pos,
        "reader": reader,
        "settings": settings,
    }


def _collect_order(store, *lines):
    order, _ = orders.create_order(collect_draft(store, *lines), actor=ACTOR)
    return orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)


def _level(shop, product) -> tuple[int, int]:
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == shop["store"].id, StockLevel.product_id == product.id)
    )
    totals = db.session.execute(
        select(func.sum(StockMovement.on_hand_delta), func.sum(StockMovement.reserved_delta)).where(
            StockMovement.location_id == shop["store"].id, StockMovement.product_id == product.id
        )
    ).one()
    assert (totals[0] or 0, totals[1] or 0) == (level.on_hand, level.reserved)  # the ledger holds
    return level.on_hand, level.reserved


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _state(shop) -> tuple:
    """Everything a refused call must leave as it was."""
    fulfilment = db.session.get(Fulfilment, shop["id"])
    pickup = fulfilment.pickup
    return (
        fulfilment.status,
        [(line.picked, line.short) for line in fulfilment.lines],
        _level(shop, shop["shirt"]),
        _level(shop, shop["cap"]),
        _count(OutboxEvent),
        _count(AuditEvent),
        (pickup.is_open, pickup.collected_at, pickup.put_back, pickup.expires_at) if pickup else None,
    )


def _ready(shop) -> dict:
    call, url = shop["call"], shop["url"]
    assert call("POST", f"{url}/accept").status_code == 200
    lines = [{"sku": "TSH-001-M", "quantity": 2}, {"sku": "CAP-002", "quantity": 1}]
    assert call("POST", f"{url}/pick", json={"lines": lines}).status_code == 200
    ready = call("POST", f"{url}/ready", json={"slot": "A-01"})
    assert ready.status_code == 200, ready.json
    return ready.json


def _event_types(shop) -> list[str]:
    feed = shop["call"]("GET", "/api/v1/events?after=0&limit=500", token=shop["reader"])
    assert feed.status_code == 200
    return [event["type"] for event in feed.json if event["payload"].get("fulfilment_id") == shop["id"]]


def test_the_whole_collect_flow_accept_pick_ready_on_a_slot_and_collect_with_the_code(shop):
    call, url = shop["call"], shop["url"]
    accepted = call("POST", f"{url}/accept")
    assert accepted.status_code == 200, accepted.json
    assert accepted.json["status"] == "accepted" and accepted.json["delivery_method"] == "collect"
    assert accepted.json["pickup"]["status"] == "accepted" and accepted.json["pickup"]["code"] is None

    lines = [{"sku": "TSH-001-M", "quantity": 2}, {"sku": "CAP-002", "quantity": 1}]
    picked = call("POST", f"{url}/pick", json={"lines": lines})
    assert picked.status_code == 200, picked.json
    assert picked.json["status"] == "picked"
    assert [(line["sku"], line["picked"], line["short"]) for line in picked.json["lines"]] == [
        ("TSH-001-M", 2, 0),
        ("CAP-002", 1, 0),
    ]
    assert picked.json["pickup"]["status"] == "to_prepare" and picked.json["pickup"]["code"] is None

    ready = call("POST", f"{url}/ready", json={"slot": "SLOT-PAR01-A-01"})  # the slot label's barcode
    assert ready.status_code == 200, ready.json
    pickup = ready.json["pickup"]
    assert ready.json["status"] == "ready_for_pickup"
    assert pickup["status"] == "ready" and pickup["slot"] == "A-01" and pickup["bags"] == 1
    assert len(pickup["code"]) == 6 and pickup["ready_at"] and pickup["expires_at"] > pickup["ready_at"]
    assert pickup["customer_arrived_at"] is None and pickup["collected_at"] is None

    read = call("GET", url, token=shop["reader"])  # the read scope is the orders' one
    assert read.status_code == 200
    assert read.json["pickup"]["code"] == pickup["code"]
    order = call("GET", f"/api/v1/orders/{read.json['order_id']}", token=shop["reader"]).json
    (in_order,) = order["fulfilments"]
    assert {key: read.json[key] for key in in_order} == in_order  # the fulfilment as in the order document
    assert _level(shop, shop["shirt"]) == (5, 2)

    code = pickup["code"]
    collected = call("POST", f"{url}/collect", json={"pickup_code": f"{code[:3]}-{code[3:]}".lower()})
    assert collected.status_code == 200, collected.json
    assert collected.json["status"] == "collected"
    assert collected.json["pickup"]["status"] == "collected" and collected.json["pickup"]["collected_at"]
    assert _level(shop, shop["shirt"]) == (3, 0) and _level(shop, shop["cap"]) == (4, 0)
    assert db.session.get(Fulfilment, shop["id"]).order.status == "completed"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pickup.collected"))
    assert audit.actor == f"api:{WRITER}" and audit.after == {"by": "code"}
    types = _event_types(shop)
    assert types.index("fulfilment.ready_for_pickup") < types.index("fulfilment.collected")


def test_a_partial_collection_leaves_the_rest_off_sale_until_restocked(shop):
    call, url = shop["call"], shop["url"]
    code = _ready(shop)["pickup"]["code"]
    partial = {"pickup_code": code, "lines": [{"sku": "TSH-001-M", "quantity": 1}], "reason": "too_small"}
    collected = call("POST", f"{url}/collect", json=partial)
    assert collected.status_code == 200, collected.json
    assert collected.json["status"] == "collected" and collected.json["pickup"]["put_back"] is True
    # collected: 1 shirt leaves; 1 shirt and the cap stay reserved (off sale) on the put-back list
    assert _level(shop, shop["shirt"]) == (4, 1) and _level(shop, shop["cap"]) == (5, 1)

    some = call("POST", f"{url}/restock", json={"lines": [{"sku": "CAP-002", "quantity": 1}]})
    assert some.status_code == 200, some.json
    assert some.json["restocked"] == {"CAP-002": 1} and some.json["pickup"]["put_back"] is True
    assert _level(shop, shop["cap"]) == (5, 0) and _level(shop, shop["shirt"]) == (4, 1)
    rest = call("POST", f"{url}/restock", json={})
    assert rest.status_code == 200 and rest.json["restocked"] == {"TSH-001-M": 1}
    assert rest.json["pickup"]["put_back"] is False
    assert _level(shop, shop["shirt"]) == (4, 0)
    again = call("POST", f"{url}/restock")  # nothing waits any more: nothing changes
    assert again.status_code == 200 and again.json["restocked"] == {}
    assert call("POST", f"{url}/restock", json={"lines": [{"sku": "CAP-002", "quantity": 1}]}).status_code == 409
    assert _event_types(shop).count("pickup.restocked") == 2


def test_a_partial_collection_needs_a_reason_and_lines_of_the_order(shop):
    call, url = shop["call"], shop["url"]
    code = _ready(shop)["pickup"]["code"]
    before = _state(shop)
    no_reason = call("POST", f"{url}/collect", json={"pickup_code": code, "lines": [{"sku": "CAP-002", "quantity": 1}]})
    assert no_reason.status_code == 422 and "reason" in no_reason.json["fields"]
    other = {"pickup_code": code, "lines": [{"sku": "NOPE", "quantity": 1}], "reason": "damaged"}
    unknown = call("POST", f"{url}/collect", json=other)
    assert unknown.status_code == 422 and "lines.0.sku" in unknown.json["fields"]
    assert _state(shop) == before


def test_a_repeat_with_the_same_key_answers_the_same_and_changes_nothing(shop):
    call, url = shop["call"], shop["url"]
    first = call("POST", f"{url}/accept", key="accept-1")
    again = call("POST", f"{url}/accept", key="accept-1")
    assert again.status_code == 200 and again.json == first.json
    assert again.headers["Idempotent-Replayed"] == "true"
    resent = call("POST", f"{url}/accept")  # a new key: accepted already, answered as it is (as on the screen)
    assert resent.status_code == 200 and resent.json == first.json
    picked = {"lines": [{"sku": "TSH-001-M", "quantity": 2}, {"sku": "CAP-002", "quantity": 1}]}
    call("POST", f"{url}/pick", json=picked, key="pick-1")
    ready = call("POST", f"{url}/ready", json={"slot": "A-01"}, key="ready-1")
    code = ready.json["pickup"]["code"]
    collect = {"pickup_code": code, "lines": [{"sku": "TSH-001-M", "quantity": 2}], "reason": "changed_mind"}
    collected = call("POST", f"{url}/collect", json=collect, key="collect-1")
    restocked = call("POST", f"{url}/restock", key="restock-1")
    assert restocked.json["restocked"] == {"CAP-002": 1}
    before = _state(shop)
    assert call("POST", f"{url}/accept").status_code == 409  # collected: too late to accept
    assert call("POST", f"{url}/collect", json={"pickup_code": "ACDEFH"}).status_code == 403  # not its code
    assert call("POST", f"{url}/collect", json={"pickup_code": code}).json["status"] == "collected"
    for path, body, key, answer in (
        ("pick", picked, "pick-1", None),
        ("ready", {"slot": "A-01"}, "ready-1", ready),
        ("collect", collect, "collect-1", collected),
        ("restock", None, "restock-1", restocked),
    ):
        repeat = call("POST", f"{url}/{path}", json=body, key=key)
        assert repeat.status_code == 200 and repeat.headers["Idempotent-Replayed"] == "true", path
        if answer is not None:
            assert repeat.json == answer.json, path
    assert _state(shop) == before
    other = call("POST", f"{url}/ready", json={"slot": "B-02"}, key="ready-1")  # the same key, another body
    assert other.status_code == 409 and other.json["error"] == "idempotency_conflict"
    missing = call("POST", f"{url}/restock", key=None)
    assert missing.status_code == 422 and "Idempotency-Key" in missing.json["fields"]
    assert _state(shop) == before


def test_a_wrong_code_is_refused_changes_nothing_and_five_lock_the_order_out(shop):
    call, url = shop["call"], shop["url"]
    code = _ready(shop)["pickup"]["code"]
    wrong = "".join("A" if c != "A" else "C" for c in code)
    before = _state(shop)
    typed = call("POST", f"{url}/collect", json={"pickup_code": "ÉÀÜ-ÇÑØ"})  # a code in other letters: no 500
    assert typed.status_code == 403 and typed.json["error"] == "wrong_pickup_code"
    db.session.execute(update(Pickup).where(Pickup.fulfilment_id == shop["id"]).values(failed_attempts=0))
    db.session.commit()
    for attempt in range(1, pickups.WRONG_CODES_ALLOWED + 1):
        refused = call("POST", f"{url}/collect", json={"pickup_code": wrong})
        assert refused.status_code == 403, refused.json
        assert refused.json["error"] == "wrong_pickup_code" and refused.json["message"]
        assert set(refused.json) == {"error", "message", "fields"} and "pickup_code" in refused.json["fields"]
        assert _state(shop) == before
        pickup = db.session.scalar(select(Pickup).where(Pickup.fulfilment_id == shop["id"]))
        assert pickup.failed_attempts == attempt % pickups.WRONG_CODES_ALLOWED
    assert pickup.locked_until is not None
    locked = call("POST", f"{url}/collect", json={"pickup_code": code})  # even the right code, for a while
    assert locked.status_code == 429 and locked.json["error"] == "pickup_code_locked"
    assert _state(shop) == before
    pickup.locked_until = datetime.now(UTC) - timedelta(seconds=1)  # the lock-out is over
    db.session.commit()
    assert call("POST", f"{url}/collect", json={"pickup_code": code}).status_code == 200


def test_the_fulfilments_write_scope_is_needed_to_change_and_orders_read_to_read(shop, client):
    call, url = shop["call"], shop["url"]
    before = _state(shop)
    refused = call("POST", f"{url}/accept", token=shop["reader"])
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"
    assert "fulfilments:write" in refused.json["message"]
    assert (
        call("PATCH", f"{url}/pickup", token=shop["reader"], json={"expires_at": "2030-01-01T00:00:00Z"}).status_code
        == 403
    )
    assert call("GET", url, token=shop["settings"]).status_code == 403
    assert client.post(f"{url}/accept", headers={"Idempotency-Key": "k"}).status_code == 401
    assert client.get(url).status_code == 401
    assert _state(shop) == before


def test_a_hold_is_extended_or_shortened_but_never_into_the_past(shop):
    call, url = shop["call"], shop["url"]
    early = call("PATCH", f"{url}/pickup", json={"expires_at": "2099-01-01T00:00:00Z"})
    assert early.status_code == 409 and early.json["error"] == "pickup_refused"  # not on the hold shelf yet
    _ready(shop)
    before = _state(shop)
    past = (datetime.now(UTC) - timedelta(hours=1)).isoformat()
    refused = call("PATCH", f"{url}/pickup", json={"expires_at": past})
    assert refused.status_code == 422 and "expires_at" in refused.json["fields"]
    far = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    assert call("PATCH", f"{url}/pickup", json={"expires_at": far}).status_code == 422
    naive = call("PATCH", f"{url}/pickup", json={"expires_at": "2030-01-01T10:00:00"})
    assert naive.status_code == 422 and "expires_at" in naive.json["fields"]
    assert _state(shop) == before
    later = (datetime.now(UTC) + timedelta(days=10)).replace(microsecond=0)
    extended = call("PATCH", f"{url}/pickup", json={"expires_at": later.isoformat()})
    assert extended.status_code == 200, extended.json
    assert datetime.fromisoformat(extended.json["pickup"]["expires_at"]) == later
    assert "pickup.hold_changed" in _event_types(shop)
    again = call("PATCH", f"{url}/pickup", json={"expires_at": later.isoformat()})
    assert again.status_code == 200 and again.json == extended.json


def test_an_unknown_fulfilment_is_404_as_json(shop):
    call = shop["call"]
    for method, path, body in (
        ("GET", "/api/v1/fulfilments/999999", None),
        ("GET", "/api/v1/fulfilments/99999999999999999999", None),
        ("POST", "/api/v1/fulfilments/999999/accept", None),
        ("POST", "/api/v1/fulfilments/999999/ready", {"slot": "A-01"}),
        ("POST", "/api/v1/fulfilments/999999/collect", {"pickup_code": "ACDEFH"}),
        ("PATCH", "/api/v1/fulfilments/999999/pickup", {"expires_at": "2099-01-01T00:00:00Z"}),
        ("GET", "/api/v1/fulfilments/nope", None),
    ):
        response = call(method, path, json=body)
        assert response.status_code == 404, (method, path)
        assert set(response.json) == {"error", "message", "fields"} and response.json["message"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("pick", None, "lines"),
        ("pick", {"lines": []}, "lines"),
        ("pick", {"lines": [{"sku": "TSH-001-M", "quantity": "2"}]}, "lines.0.quantity"),
        ("pick", {"lines": [{"sku": "TSH-001-M", "quantity": -1}]}, "lines.0.quantity"),
        ("pick", {"lines": [{"quantity": 1}]}, "lines.0.sku"),
        ("pick", {"lines": [{"sku": "TSH-001-M", "quantity": 2}]}, "lines"),  # the cap is not given
        ("pick", {"lines": [{"sku": "NOPE", "quantity": 1}, {"sku": "CAP-002", "quantity": 1}]}, "lines.0.sku"),
        (
            "pick",
            {"lines": [{"sku": "TSH-001-M", "quantity": 3}, {"sku": "CAP-002", "quantity": 1}]},
            "lines.0.quantity",
        ),
        ("pick", {"lines": [{"sku": "TSH-001-M", "quantity": 2}], "reason": "lost"}, "reason"),
        ("pick", {"lines": "all"}, "lines"),
        ("pick", {"lines": [{"sku": "TSH-001-M", "quantity": 2}], "extra": 1}, "extra"),
        ("ready", {}, "slot"),
        ("ready", {"slot": 12}, "slot"),
        ("ready", {"slot": "Z-99"}, "slot"),
        ("ready", {"slot": "SLOT-LYO01-A-01"}, "slot"),
        ("ready", {"slot": "A-01", "bags": 0}, "bags"),
        ("collect", {}, "pickup_code"),
        ("collect", {"pickup_code": ""}, "pickup_code"),
        ("collect", {"pickup_code": "ACDEFH", "reason": "whatever"}, "reason"),
        ("collect", {"pickup_code": "ACDEFH", "lines": [{"sku": "CAP-002", "quantity": 1.5}]}, "lines.0.quantity"),
        ("collect", {"pickup_code": "ACDEFH", "bags": "BAG-1-1"}, "bags"),
        ("restock", {"lines": []}, "lines"),
        ("restock", {"lines": [{"sku": "CAP-002", "quantity": 0}]}, "lines.0.quantity"),
        ("pickup", {}, "expires_at"),
        ("pickup", {"expires_at": "tomorrow"}, "expires_at"),
        ("pickup", {"expires_at": None}, "expires_at"),
    ],
)
def test_bad_bodies_are_422_naming_the_field_and_change_nothing(shop, path, body, field):
    call, url = shop["call"], shop["url"]
    if path != "pick":
        call("POST", f"{url}/accept")
        lines = [{"sku": "TSH-001-M", "quantity": 2}, {"sku": "CAP-002", "quantity": 1}]
        call("POST", f"{url}/pick", json={"lines": lines})
    before = _state(shop)
    method = "PATCH" if path == "pickup" else "POST"
    response = call(method, f"{url}/{path}", json=body)
    assert response.status_code == 422, response.json
    assert field in response.json["fields"], response.json
    assert set(response.json) == {"error", "message", "fields"}
    assert _state(shop) == before


@pytest.mark.parametrize("path", ["pick", "ready", "collect", "restock"])
@pytest.mark.parametrize("body", ["not json", "[1, 2]", "{", '{"lines": [[[[]]]]}'])
def test_bodies_that_are_not_objects_are_refused_never_a_500(shop, path, body):
    response = shop["call"]("POST", f"{shop['url']}/{path}", data=body, content_type="application/json")
    assert response.status_code in {400, 422}
    assert set(response.json) == {"error", "message", "fields"}


def test_store_steps_out_of_order_are_409_and_a_shipment_has_no_pickup(shop):
    call, url = shop["call"], shop["url"]
    assert call("POST", f"{url}/ready", json={"slot": "A-01"}).json["error"] == "pickup_refused"  # not picked
    assert call("POST", f"{url}/collect", json={"pickup_code": "ACDEFH"}).status_code == 409
    order, _ = orders.create_order(ship_draft((shop["cap"], 1)), actor=ACTOR)
    shipment = orders.assign_fulfilment(order, shop["store"], {line: 1 for line in order.lines}, actor=ACTOR)
    db.session.commit()
    read = call("GET", f"/api/v1/fulfilments/{shipment.id}", token=shop["reader"])
    assert read.status_code == 200 and read.json["pickup"] is None and read.json["delivery_method"] == "ship"
    for path, body in (("ready", {"slot": "A-01"}), ("collect", {"pickup_code": "ACDEFH"}), ("restock", {})):
        refused = call("POST", f"/api/v1/fulfilments/{shipment.id}/{path}", json=body)
        assert refused.status_code == 409 and refused.json["error"] == "pickup_refused", path
    picked = call(
        "POST", f"/api/v1/fulfilments/{shipment.id}/pick", json={"lines": [{"sku": "CAP-002", "quantity": 1}]}
    )
    assert picked.status_code == 200 and picked.json["status"] == "picked"  # created -> picked, accepted on the way


def test_a_short_pick_by_api_reroutes_the_rest_and_bags_are_counted_where_the_store_counts_them(shop):
    call, url = shop["call"], shop["url"]
    store = shop["store"]
    store.pickup_bag_step = True
    other = make_location(code="LYO01", click_and_collect=True)
    stocked(other, shop["cap"], 3)
    rules.update_rules({"collect_shortage": "transfer"}, actor=ACTOR)
    db.session.commit()
    lines = [{"sku": "TSH-001-M", "quantity": 2}, {"sku": "CAP-002", "quantity": 0}]
    picked = call("POST", f"{url}/pick", json={"lines": lines, "reason": "damaged"})
    assert picked.status_code == 200, picked.json
    assert [(line["picked"], line["short"]) for line in picked.json["lines"]] == [(2, 0), (0, 1)]
    assert _level(shop, shop["cap"]) == (4, 0)  # the damaged cap is set aside, its reservation given back
    order = shop["call"]("GET", f"/api/v1/orders/{picked.json['order_id']}", token=shop["reader"]).json
    transfers = [f for f in order["fulfilments"] if f["location"] == "LYO01"]
    assert [(f["transfer_to"], f["lines"][0]["sku"], f["lines"][0]["quantity"]) for f in transfers] == [
        ("PAR01", "CAP-002", 1)
    ]  # the missing cap comes from Lyon to the pickup store, as the retailer's rule says
    refused = call("POST", f"{url}/ready", json={"slot": "A-01"})
    assert refused.status_code == 409  # this store counts bags first
    ready = call("POST", f"{url}/ready", json={"slot": "B-02", "bags": 2})
    assert ready.status_code == 200, ready.json
    assert ready.json["pickup"]["bags"] == 2 and ready.json["pickup"]["slots"] == ["B-02"]
    code = ready.json["pickup"]["code"]
    one_bag = call("POST", f"{url}/collect", json={"pickup_code": code, "bags": [bag_barcode(shop["id"], 1)]})
    assert one_bag.status_code == 409 and one_bag.json["error"] == "bags_missing"
    assert "2/2" in one_bag.json["message"]
    both = [bag_barcode(shop["id"], 1), bag_barcode(shop["id"], 2)]
    assert call("POST", f"{url}/collect", json={"pickup_code": code, "bags": both}).status_code == 200


def test_expiry_arrival_and_put_back_reach_the_feed_and_webhooks(shop):
    call, url = shop["call"], shop["url"]
    worker.subscribe("https://pos.example.com/hooks", "s" * 32, "*", actor=ACTOR)
    db.session.commit()
    _ready(shop)
    pickup = db.session.scalar(select(Pickup).where(Pickup.fulfilment_id == shop["id"]))
    pickups.customer_arrived(pickup, note="blue van")
    db.session.commit()
    assert call("GET", url, token=shop["reader"]).json["pickup"]["customer_arrived_at"]
    assert pickups.expire_due(now=datetime.now(UTC) + timedelta(days=30)) == 1
    expired = call("GET", url, token=shop["reader"]).json
    assert expired["status"] == "expired" and expired["pickup"]["put_back"] is True
    assert _level(shop, shop["shirt"]) == (5, 2)  # off sale until put back
    assert call("POST", f"{url}/restock").json["restocked"] == {"TSH-001-M": 2, "CAP-002": 1}
    assert _level(shop, shop["shirt"]) == (5, 0)
    wanted = {
        "fulfilment.ready_for_pickup",
        "pickup.customer_arrived",
        "fulfilment.expired",
        "pickup.restocked",
    }
    assert wanted <= set(_event_types(shop))
    delivered = db.session.scalars(
        select(OutboxEvent.type).join(WebhookDelivery, WebhookDelivery.event_id == OutboxEvent.id)
    ).all()
    assert wanted <= set(delivered)


def test_a_location_lists_its_pickup_slots_in_use(shop):
    slot = pickups.slots(shop["store"])[1]
    pickups.set_slot_active(slot, False, actor=ACTOR)
    pickups.add_slots(shop["store"], ["C-03"], actor=ACTOR)
    db.session.commit()
    response = shop["call"]("GET", "/api/v1/locations/PAR01", token=shop["settings"])
    assert response.status_code == 200
    assert response.json["pickup_slots"] == ["A-01", "C-03"]
    listed = shop["call"]("GET", "/api/v1/locations", token=shop["settings"]).json
    assert [place["pickup_slots"] for place in listed if place["code"] == "PAR01"] == [["A-01", "C-03"]]


def test_the_cli_creates_a_client_with_the_fulfilments_write_scope(app, runner):
    result = runner.invoke(args=["api-client", "create", "till", "--scopes", "orders:read,fulfilments:write"])
    assert result.exit_code == 0, result.output
    assert "fulfilments:write" in result.output


def test_the_openapi_document_describes_the_fulfilment_operations(client):
    spec = client.get("/api/v1/openapi.json").json
    paths = spec["paths"]
    for path in ("accept", "pick", "ready", "collect", "restock"):
        operation = paths[f"/api/v1/fulfilments/{{fulfilment_id}}/{path}"]["post"]
        assert any(p["name"] == "Idempotency-Key" for p in operation["parameters"]), path
        assert operation.get("summary"), path
    assert "patch" in paths["/api/v1/fulfilments/{fulfilment_id}/pickup"]
    pickup = spec["components"]["schemas"]["PickupOut"]["properties"]
    assert {"status", "code", "slot", "ready_at", "expires_at", "customer_arrived_at", "collected_at"} <= set(pickup)
    assert all(field.get("description") for field in pickup.values())
    assert "pickup_slots" in spec["components"]["schemas"]["LocationSettings"]["properties"]
    events = paths["/api/v1/events"]["get"]["description"]
    for event in ("fulfilment.ready_for_pickup", "pickup.customer_arrived", "fulfilment.collected"):
        assert event in events
    assert "fulfilment.expired" in events or "`expired`" in events
    assert "pickup.restocked" in events


def test_the_same_hand_over_sent_at_once_from_several_tills_consumes_the_units_once(app, shop):
    code = _ready(shop)["pickup"]["code"]
    token = shop["pos"]
    tills = 4
    barrier = threading.Barrier(tills)
    answers, lock = [], threading.Lock()

    def till(number):
        with app.app_context():
            client = app.test_client()
            barrier.wait()
            response = client.post(
                f"{shop['url']}/collect",
                json={"pickup_code": code},
                headers={"Authorization": f"Bearer {token}", "Idempotency-Key": f"till-{number}"},
            )
            with lock:
                answers.append((response.status_code, response.json["status"]))
            db.session.remove()

    threads = [threading.Thread(target=till, args=(n,)) for n in range(tills)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert answers == [(200, "collected")] * tills
    db.session.expire_all()
    assert _level(shop, shop["shirt"]) == (3, 0) and _level(shop, shop["cap"]) == (4, 0)
    assert _count(OutboxEvent, OutboxEvent.type == "fulfilment.collected") == 1


def test_a_customer_without_the_code_collects_after_an_id_check_recorded_as_an_override(shop):
    call, url = shop["call"], shop["url"]
    _ready(shop)
    before = _state(shop)
    for body in (
        {},  # neither the code nor an ID check
        {"pickup_code": "AAAAAA", "id_check": {"kind": "passport", "last_digits": "4421", "reason": "lost phone"}},
        {"id_check": {"kind": "passport", "last_digits": "4421"}},  # no reason
        {"id_check": {"kind": "library_card", "last_digits": "4421", "reason": "lost phone"}},
    ):
        refused = call("POST", f"{url}/collect", json=body)
        assert refused.status_code == 422, (body, refused.json)
    assert _state(shop) == before
    check = {"kind": "passport", "last_digits": "4421", "reason": "lost phone"}
    done = call("POST", f"{url}/collect", json={"id_check": check})
    assert done.status_code == 200, done.json
    assert done.json["pickup"]["status"] == "collected"
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pickup.collected"))
    assert audit.after["by"] == "id_check" and audit.after["id_check"]["last_digits"] == "4421"
    assert audit.actor == f"api:{WRITER}"
    # again with the same check (a till that lost the answer): the same answer; another document: refused
    assert call("POST", f"{url}/collect", json={"id_check": check}).status_code == 200
    other = {**check, "last_digits": "9999"}
    assert call("POST", f"{url}/collect", json={"id_check": other}).status_code == 409


def test_a_pos_finds_the_order_by_the_code_its_scanner_read_then_collects_it(shop):
    call = shop["call"]
    code = _ready(shop)["pickup"]["code"]
    found = call("GET", f"/api/v1/fulfilments?location=PAR01&q={code[:3]}-{code[3:]}")
    assert found.status_code == 200, found.json
    assert [f["id"] for f in found.json["fulfilments"]] == [shop["id"]]
    assert found.json["fulfilments"][0]["pickup"]["code"] == code
    assert call("GET", "/api/v1/fulfilments?location=PAR01&q=nobody-at-all").json == {"fulfilments": []}
    assert call("GET", f"/api/v1/fulfilments?location=XX99&q={code}").status_code == 404
    assert call("GET", "/api/v1/fulfilments?location=PAR01").status_code == 422  # q is required
    assert call("GET", f"/api/v1/fulfilments?location=PAR01&q={code}", token=shop["settings"]).status_code == 403
    done = call("POST", f"{shop['url']}/collect", json={"pickup_code": code})
    assert done.status_code == 200 and done.json["pickup"]["status"] == "collected"
