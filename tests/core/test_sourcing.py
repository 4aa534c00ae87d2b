from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from app.core.errors import IllegalTransition, InvalidInput
from app.core.inventory import stock
from app.core.models import AuditEvent, Fulfilment, SourcingDecision, StockLevel
from app.core.ordering import orders, rules, sourcing
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


def test_the_maximum_number_of_splits_is_a_rule_admins_change(app):
    a, b, c = make_product(sku="A"), make_product(sku="B"), make_product(sku="C")
    stores = [_store(f"S{i}", 48.87 + i / 100, 2.33) for i in range(3)]
    for store, product in zip(stores, (a, b, c), strict=True):
        stocked(store, product, 1)
    first = _ship_order((a, 1), (b, 1), (c, 1))
    assert sourcing.source_order(first, actor=ACTOR).unfulfilled == {"3": 1}  # default: 2 locations at most
    assert len(first.fulfilments) == 2
    rules.update_rules({"max_splits": 3}, actor=ACTOR)
    stocked(stores[0], a, 1)
    stocked(stores[1], b, 1)
    second = _ship_order((a, 1), (b, 1), (c, 1))
    stocked(stores[2], c, 1)
    decision = sourcing.source_order(second, actor=ACTOR)
    assert decision.unfulfilled == {} and len(second.fulfilments) == 3
    assert "max splits 3" in decision.notes
    change = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sourcing.rules"))
    assert change.before == {"max_splits": 2} and change.after == {"max_splits": 3}


def test_a_product_blocked_at_a_store_is_never_sourced_there(app):
    product = make_product(sku="RECALL")
    near, far = _store("NEAR", 48.87, 2.33), _store("FAR", 45.76, 4.84)
    stocked(near, product, 5)
    stocked(far, product, 5)
    rules.block_product(near, product, reason="display stock only", actor=ACTOR)
    rules.block_product(near, product, reason="again", actor=ACTOR)  # blocking twice changes nothing
    decision = sourcing.source_order(_ship_order((product, 1)), actor=ACTOR)
    assert decision.plan[0]["location"] == "FAR"
    assert {c["location"]: c["reasons"] for c in decision.candidates}["NEAR"] == ["product blocked here: RECALL"]
    assert rules.unblock_product(near, product, actor=ACTOR) is True
    assert sourcing.source_order(_ship_order((product, 1)), actor=ACTOR).plan[0]["location"] == "NEAR"


def test_priority_and_workload_weights_come_from_the_rules(app):
    product = make_product()
    near, favoured = _store("NEAR", 48.87, 2.33), _store("FAV", 48.95, 2.45, sourcing_priority=1)  # ~12 km
    stocked(near, product, 5)
    stocked(favoured, product, 5)
    rules.update_rules({"priority_km": 0}, actor=ACTOR)
    assert sourcing.source_order(_ship_order((product, 1)), actor=ACTOR).plan[0]["location"] == "NEAR"
    rules.update_rules({"priority_km": 100}, actor=ACTOR)
    decision = sourcing.source_order(_ship_order((product, 1)), actor=ACTOR)
    assert decision.plan[0]["location"] == "FAV"
    scores = {c["location"]: c["score"] for c in decision.candidates}
    assert scores["FAV"] < scores["NEAR"]


def test_invalid_rules_are_refused_whole_and_name_each_field(app):
    with pytest.raises(InvalidInput) as refused:
        rules.update_rules({"max_splits": 0, "collect_shortage": "teleport", "capacity_km": 10, "x": 1}, actor=ACTOR)
    assert set(refused.value.fields) == {"max_splits", "collect_shortage", "x"}
    assert rules.current_rules().capacity_km == 50  # nothing applied


def test_click_and_collect_short_at_the_pickup_store_is_refused_or_transferred_by_rule(app):
    product = make_product(sku="BAG")
    pickup, other = _store("PICK", 45.76, 4.84), _store("OTHER", 45.75, 4.85)
    stocked(pickup, product, 1)
    stocked(other, product, 5)
    refused = orders.create_order(collect_draft(pickup, (product, 3)), actor=ACTOR)[0]
    decision = sourcing.source_order(refused, actor=ACTOR)
    assert _served(refused) == {"PICK": {"BAG": 1}}
    assert decision.unfulfilled == {"1": 2} and refused.needs_customer_service
    assert "pickup store PICK lacks stock: refused (rule)" in decision.notes
    rules.update_rules({"collect_shortage": "transfer"}, actor=ACTOR)
    stocked(pickup, product, 1)
    moved = orders.create_order(collect_draft(pickup, (product, 3)), actor=ACTOR)[0]
    decision = sourcing.source_order(moved, actor=ACTOR)
    assert _served(moved) == {"PICK": {"BAG": 1}, "OTHER": {"BAG": 2}}
    assert decision.unfulfilled == {}
    transfer = next(f for f in moved.fulfilments if f.location.code == "OTHER")
    assert transfer.transfer_to.code == "PICK"
    assert {"location": "OTHER", "lines": {"1": 2}, "transfer_to": "PICK"} in decision.plan


def test_without_coordinates_the_postcode_area_gives_them(app):
    product = make_product()
    paris, marseille = _store("PAR", 48.87, 2.33), _store("MRS", 43.30, 5.37)
    stocked(paris, product, 1)
    stocked(marseille, product, 1)
    draft = ship_draft((product, 1))
    draft.ship_to.update(postcode="13001", city="Marseille")
    decision = sourcing.source_order(orders.create_order(draft, actor=ACTOR)[0], actor=ACTOR)
    assert decision.plan[0]["location"] == "MRS"
    assert any(note.startswith("customer coordinates from postcode area") for note in decision.notes)
    unknown = ship_draft((product, 1))
    unknown.ship_to.update(postcode="10115", city="Berlin", country="DE")
    decision = sourcing.source_order(orders.create_order(unknown, actor=ACTOR)[0], actor=ACTOR)
    assert "no coordinates for the address or its postcode: distance neutral" in decision.notes


def test_capacity_counts_the_store_local_day(app):
    product = make_product()
    store = _store("ONE", 48.87, 2.33, daily_capacity=1)
    stocked(store, product, 5)
    # Work from before local midnight does not count against the new day.
    late_evening = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 Paris, 10 June
    after_midnight = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)  # 00:30 Paris, 11 June
    sourcing.source_order(_ship_order((product, 1)), actor=ACTOR, now=late_evening)
    full = sourcing.source_order(_ship_order((product, 1)), actor=ACTOR, now=late_evening)
    assert full.unfulfilled == {"1": 1}
    next_day = sourcing.source_order(_ship_order((product, 1)), actor=ACTOR, now=after_midnight)
    assert next_day.unfulfilled == {}


def test_capacity_counts_each_candidates_own_local_day_when_their_midnights_differ(app):
    """One sourcing run, two zones whose midnights are different instants: each store's count starts at its own."""
    only_here, only_there, both = make_product(), make_product(), make_product()
    # LON is nearer the customer; its day starts an hour after PAR's (23:00 and 22:00 UTC in June).
    london = _store("LON", 48.87, 2.33, daily_capacity=1, timezone="Europe/London")
    paris = _store("PAR", 48.95, 2.50, daily_capacity=1, timezone="Europe/Paris")
    stocked(paris, only_here, 5)
    stocked(london, only_there, 5)
    for store in (paris, london):
        stocked(store, both, 5)
    evening = datetime(2026, 6, 10, 21, 30, tzinfo=UTC)  # 23:30 in Paris, 22:30 in London: 10 June in both
    for product in (only_here, only_there):
        assert sourcing.source_order(_ship_order((product, 1)), actor=ACTOR, now=evening).unfulfilled == {}
    later = datetime(2026, 6, 10, 22, 30, tzinfo=UTC)  # 00:30 on 11 June in Paris, still 10 June in London
    order = _ship_order((both, 1))
    decision = sourcing.source_order(order, actor=ACTOR, now=later)
    assert _served(order) == {"PAR": {both.sku: 1}}
    reasons = {c["location"]: c["reasons"] for c in decision.candidates}
    assert reasons["LON"] == ["no capacity left today"]
    paris_row = next(c for c in decision.candidates if c["location"] == "PAR")
    assert paris_row["capacity_left"] == 1 and paris_row["open_work"] == 1


def test_a_short_pick_reroutes_the_missing_units_and_the_rest_goes_on(app):
    product, other = make_product(sku="MUG"), make_product(sku="CUP")
    near, next_best = _store("NEAR", 48.87, 2.33), _store("NEXT", 49.0, 2.5)
    stocked(near, product, 3)
    stocked(near, other, 1)
    stocked(next_best, product, 3)
    order = _ship_order((product, 3), (other, 1))
    sourcing.source_order(order, actor=ACTOR)
    [first] = order.fulfilments
    with pytest.raises(IllegalTransition):  # not accepted yet
        sourcing.short_pick(first.lines[0], 1, reason="cannot_find", actor=ACTOR)
    orders.accept_fulfilment(first, actor=ACTOR)
    with pytest.raises(InvalidInput):
        sourcing.short_pick(first.lines[0], 4, reason="cannot_find", actor=ACTOR)
    decision = sourcing.short_pick(first.lines[0], 2, reason="cannot_find", actor=ACTOR)
    assert decision.trigger == "short_pick"
    assert first.status == "accepted" and first.lines[0].short == 2
    assert _served(order)["NEXT"] == {"MUG": 2}
    assert stock.available_to_promise(near, product) == 2  # the 2 missing units were given back
    assert stock.available_to_promise(next_best, product) == 1
    assert {c["location"]: c.get("refusal") for c in decision.candidates}["NEAR"] == "failed"
    sourcing.short_pick(first.lines[0], 1, reason="cannot_find", actor=ACTOR)
    sourcing.short_pick(first.lines[1], 1, reason="damaged", actor=ACTOR)
    assert first.status == "rejected"  # nothing left to pick there
    assert order.needs_customer_service is True  # 1 MUG and the CUP have nowhere else to go
    assert db.session.scalar(select(StockLevel.reserved).where(StockLevel.location_id == near.id).limit(1)) == 0
