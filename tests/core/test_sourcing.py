from decimal import Decimal

from sqlalchemy import select

from app.core import orders, sourcing, stock
from app.core.models import Fulfilment, SourcingDecision
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, ship_draft, stocked

PARIS = (Decimal("48.8686"), Decimal("2.3314"))


def _store(code, lat, lon, **kwargs):
    return make_location(code=code, latitude=Decimal(str(lat)), longitude=Decimal(str(lon)), **kwargs)


def _ship_order(*lines):
    draft = ship_draft(*lines)
    draft.ship_to.update(latitude=PARIS[0], longitude=PARIS[1])
    return orders.create_order(draft, actor=ACTOR)[0]


def _served(order):
    return {f.location.code: {line.product.sku: line.quantity for line in f.lines} for f in order.fulfilments}


def test_the_nearest_store_with_everything_wins_and_the_decision_explains_why(app):
    product = make_product(sku="PULL-M")
    paris, lyon, lille = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84), _store("LIL", 50.63, 3.06)
    for store in (paris, lyon, lille):
        stocked(store, product, 5)
    order = _ship_order((product, 2))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert _served(order) == {"PAR": {"PULL-M": 2}}
    assert [c["location"] for c in decision.candidates] == ["PAR", "LIL", "LYO"]
    assert decision.candidates[0]["chosen"] is True
    assert decision.candidates[0]["distance_km"] < 1
    assert any("can serve 2 of 2 units" in r for r in decision.candidates[0]["reasons"])
    assert stock.available_to_promise(paris, product) == 3


def test_a_far_store_with_everything_beats_a_near_store_with_part(app):
    shirt, jeans = make_product(sku="TSH"), make_product(sku="JEAN")
    paris, lyon = _store("PAR", 48.87, 2.33), _store("LYO", 45.76, 4.84)
    stocked(paris, shirt, 5)
    stocked(lyon, shirt, 5)
    stocked(lyon, jeans, 5)
    order = _ship_order((shirt, 1), (jeans, 1))
    sourcing.source_order(order, actor=ACTOR)
    assert _served(order) == {"LYO": {"TSH": 1, "JEAN": 1}}


def test_partial_stock_everywhere_gives_the_fewest_split_plan(app):
    a, b, c = make_product(sku="A"), make_product(sku="B"), make_product(sku="C")
    one, two, three = _store("S1", 48.87, 2.33), _store("S2", 48.9, 2.4), _store("S3", 48.8, 2.2)
    stocked(one, a, 1)
    stocked(two, b, 1)
    stocked(two, c, 1)
    stocked(three, a, 1)
    stocked(three, b, 1)
    order = _ship_order((a, 1), (b, 1), (c, 1))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert len(order.fulfilments) == 2
    assert sorted(_served(order)) in (["S2", "S3"], ["S1", "S2"])
    assert decision.unfulfilled == {}


def test_paused_full_and_excluded_stores_are_skipped_with_a_reason(app):
    product = make_product(sku="SKI")
    paused = _store("PAUSED", 48.87, 2.33, ship_paused=True)
    full = _store("FULL", 48.87, 2.34, daily_capacity=0)
    failed = _store("FAILED", 48.87, 2.35)
    far = _store("FAR", 43.3, 5.37)
    for store in (paused, full, failed, far):
        stocked(store, product, 3)
    order = _ship_order((product, 1))
    decision = sourcing.source_order(order, actor=ACTOR, exclude={"FAILED"})
    assert _served(order) == {"FAR": {"SKI": 1}}
    reasons = {c["location"]: c["reasons"] for c in decision.candidates if not c["eligible"]}
    assert reasons["PAUSED"] == ["ship-from-store paused"]
    assert reasons["FULL"] == ["no capacity left today"]
    assert reasons["FAILED"] == ["already failed this order"]


def test_nowhere_with_stock_leaves_the_line_unfulfilled(app):
    product = make_product()
    _store("EMPTY", 48.87, 2.33)
    order = _ship_order((product, 2))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert order.fulfilments == []
    assert decision.unfulfilled == {"1": 2}


def test_click_and_collect_goes_to_the_pickup_store_even_if_another_is_nearer(app):
    product = make_product()
    pickup, other = _store("PICK", 45.76, 4.84), _store("NEAR", 48.87, 2.33)
    stocked(pickup, product, 2)
    stocked(other, product, 9)
    order = orders.create_order(collect_draft(pickup, (product, 1)), actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    assert [f.location.code for f in order.fulfilments] == ["PICK"]


def test_without_coordinates_distance_is_neutral_and_the_decision_says_so(app):
    product = make_product()
    store = make_location(code="NOCOORD")
    stocked(store, product, 1)
    order = orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0]
    decision = sourcing.source_order(order, actor=ACTOR)
    assert "no coordinates: distance neutral" in decision.candidates[0]["reasons"]
    assert db.session.scalar(select(SourcingDecision.order_id)) == order.id
    assert db.session.scalar(select(Fulfilment.location_id)) == store.id


def test_a_rejection_reroutes_to_the_next_best_store_and_moves_the_reservation(app):
    product = make_product(sku="BOOT")
    near, next_best = _store("NEAR", 48.87, 2.33), _store("NEXT", 49.0, 2.5)
    stocked(near, product, 2)
    stocked(next_best, product, 2)
    order = _ship_order((product, 2))
    sourcing.source_order(order, actor=ACTOR)
    [first] = order.fulfilments
    decision = sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)
    assert decision.trigger == "rejected"
    assert {f.location.code: f.status for f in order.fulfilments} == {"NEAR": "rejected", "NEXT": "created"}
    assert (stock.available_to_promise(near, product), stock.available_to_promise(next_best, product)) == (2, 0)
    assert order.needs_customer_service is False


def test_when_no_location_is_left_the_order_is_flagged_for_customer_service(app):
    product = make_product()
    only = _store("ONLY", 48.87, 2.33)
    stocked(only, product, 1)
    order = _ship_order((product, 1))
    sourcing.source_order(order, actor=ACTOR)
    decision = sourcing.reject_and_reroute(order.fulfilments[0], reason="cannot_find", actor=ACTOR)
    assert decision.unfulfilled == {"1": 1}
    assert order.needs_customer_service is True
    assert [c["reasons"] for c in decision.candidates if c["location"] == "ONLY"] == [["already failed this order"]]
