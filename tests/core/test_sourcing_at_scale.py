"""Sourcing as many clients meet it: merged demand per SKU, plans made on locked figures, bounded decisions."""

import json
import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from app.core.errors import InvalidInput
from app.core.inventory import stock
from app.core.models import Fulfilment, Location, StockLevel
from app.core.ordering import hours, rules, sourcing
from app.extensions import db
from tests.conftest import ENGINE
from tests.core.test_sourcing import _ship_order, _store
from tests.factories import ACTOR, make_location, make_product, stocked


def _served(order):
    served: dict = {}
    for f in order.fulfilments:
        for line in f.lines:
            served.setdefault(f.location.code, {}).setdefault(line.order_line.line_no, 0)
            served[f.location.code][line.order_line.line_no] += line.quantity
    return served


def test_the_same_sku_on_two_lines_is_one_demand_served_from_two_stores(app):
    product = make_product()
    stocked(_store("PAR", 48.87, 2.33), product, 1)
    stocked(_store("LYO", 45.76, 4.84), product, 1)
    order = _ship_order((product, 1), (product, 1))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert decision.unfulfilled == {}
    assert _served(order) == {"PAR": {1: 1}, "LYO": {2: 1}}
    assert sorted(p["location"] for p in decision.plan) == ["LYO", "PAR"]


def test_the_same_sku_on_two_lines_with_one_unit_left_allocates_one_and_leaves_one_unfulfilled(app):
    product = make_product()
    stocked(_store("PAR", 48.87, 2.33), product, 1)
    order = _ship_order((product, 1), (product, 1))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert _served(order) == {"PAR": {1: 1}}
    assert decision.unfulfilled == {"2": 1}
    assert order.needs_customer_service is True


def test_a_plan_is_made_on_locked_figures_when_stock_moved_after_it_was_read(app, monkeypatch):
    product = make_product()
    near, far = _store("NEAR", 48.87, 2.33), _store("FAR", 45.76, 4.84)
    stocked(near, product, 2)
    stocked(far, product, 2)
    read = sourcing._stocked_sites

    def read_then_another_order_takes_the_near_units(*args, **kwargs):
        found = read(*args, **kwargs)  # the candidates as they were a moment ago...
        db.session.execute(update(StockLevel).where(StockLevel.location_id == near.id).values(reserved=2, on_hand=2))
        return found  # ...and then another order reserved NEAR's units before this one locked them

    monkeypatch.setattr(sourcing, "_stocked_sites", read_then_another_order_takes_the_near_units)
    order = _ship_order((product, 2))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert _served(order) == {"FAR": {1: 2}}
    assert decision.unfulfilled == {}
    near_row = next(c for c in decision.candidates if c["location"] == "NEAR")
    assert near_row["covers"] == 0 and near_row["chosen"] is False  # the decision shows the fresh figure


def _stores_selling_out_once_read(monkeypatch, *, stores: int, sold_out: int, apart: float):
    """Stores S0, S1... one unit each, each `apart` degrees further north of Paris; the nearest `sold_out` sell
    their unit at the till just after sourcing read the candidates. Returns the product."""
    product = make_product()
    places = [_store(f"S{i}", 48.87 + i * apart, 2.33) for i in range(stores)]
    for store in places:
        stocked(store, product, 1)
    read = sourcing._stocked_sites

    def read_then_the_nearest_sell_out(*args, **kwargs):
        found = read(*args, **kwargs)
        for store in places[:sold_out] if not sold else ():  # once, after the first read
            stock.adjust(store, product, -1, reason="sold at the till", actor=ACTOR)
        sold.append(True)
        return found

    sold = []

    monkeypatch.setattr(sourcing, "_stocked_sites", read_then_the_nearest_sell_out)
    return product


def test_candidates_past_the_first_pool_serve_what_the_pool_cannot(app, monkeypatch):
    monkeypatch.setattr(sourcing, "POOL", 2)
    product = _stores_selling_out_once_read(monkeypatch, stores=4, sold_out=2, apart=0.1)
    order = _ship_order((product, 2))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert decision.unfulfilled == {}
    assert sorted(_served(order)) == ["S2", "S3"]


def test_a_decision_keeps_the_best_candidates_and_counts_the_rest(app):
    product = make_product()
    for i in range(40):
        stocked(_store(f"C{i:02d}", 44 + i / 10, 2 + i / 10), product, 1)
    for i in range(15):
        stocked(_store(f"P{i:02d}", 48, 2, ship_paused=True), product, 1)
    order = _ship_order((product, 1))
    decision = sourcing.source_order(order, actor=ACTOR)
    eligible = [c for c in decision.candidates if c["eligible"]]
    refused = [c for c in decision.candidates if not c["eligible"]]
    assert len(eligible) == sourcing.KEEP and eligible[0]["chosen"] is True
    assert len(refused) == sourcing.KEEP and {c["refusal"] for c in refused} == {"paused"}
    # The nearest SITES of the 40 were examined (their workload read and ranked), the other 20 not at all.
    assert sourcing.SITES == 20
    assert "20 farther locations holding stock not examined" in decision.notes
    assert "10 more eligible locations not listed" in decision.notes
    assert "5 more refused locations not listed" in decision.notes
    assert len(json.dumps(decision.candidates)) < 8_000


def _spy_workload(monkeypatch) -> list:
    """The locations examined (their workload read and ranked), one list a batch: _examine is given them, whether
    their workload came with the first look (PostgreSQL) or is read then (SQLite)."""
    asked = []
    original = sourcing._examine

    def spy(waiting, *args):
        asked.append(sorted(w.site.code for w in waiting))
        return original(waiting, *args)

    monkeypatch.setattr(sourcing, "_examine", spy)
    return asked


def test_only_the_nearest_locations_have_their_workload_read_and_are_ranked(app, monkeypatch):
    monkeypatch.setattr(sourcing, "SITES", 3)
    product = make_product()
    for i in range(8):  # N0 is the nearest to the customer in Paris, N7 the farthest
        stocked(_store(f"N{i}", 48.87 + i / 2, 2.33), product, 1)
    asked = _spy_workload(monkeypatch)
    order = _ship_order((product, 1))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert asked == [["N0", "N1", "N2"]]
    assert _served(order) == {"N0": {1: 1}}
    assert [c["location"] for c in decision.candidates] == ["N0", "N1", "N2"]
    assert "5 farther locations holding stock not examined" in decision.notes


def test_the_next_nearest_are_examined_when_the_nearest_cannot_serve(app, monkeypatch):
    monkeypatch.setattr(sourcing, "SITES", 2)
    product = _stores_selling_out_once_read(monkeypatch, stores=5, sold_out=3, apart=0.5)
    asked = _spy_workload(monkeypatch)
    order = _ship_order((product, 2))
    decision = sourcing.source_order(order, actor=ACTOR)
    # The nearest two had sold out by the time they were locked: the rest are read again, with fresh figures (S2 sold
    # out too, so it is not examined), and examined two at a time until every unit is placed.
    assert asked == [["S0", "S1"], ["S3", "S4"]]
    assert decision.unfulfilled == {}
    assert _served(order) == {"S3": {1: 1}, "S4": {1: 1}}
    assert "no capacity" not in json.dumps(decision.candidates)


def test_a_far_location_serving_every_unit_is_examined_before_near_ones_serving_part(app, monkeypatch):
    monkeypatch.setattr(sourcing, "SITES", 2)
    shoe, sock = make_product(), make_product()
    for i in range(4):  # near stores with the shoe only
        stocked(_store(f"PART{i}", 48.87 + i / 10, 2.33), shoe, 1)
    far = _store("WHOLE", 43.6, 1.44)  # Toulouse, with both
    stocked(far, shoe, 1)
    stocked(far, sock, 1)
    asked = _spy_workload(monkeypatch)
    order = _ship_order((shoe, 1), (sock, 1))
    decision = sourcing.source_order(order, actor=ACTOR)
    assert asked[0] == ["PART0", "WHOLE"]
    assert _served(order) == {"WHOLE": {1: 1, 2: 1}}
    assert decision.unfulfilled == {}


def test_opposite_movement_batches_lock_rows_in_one_order(app, monkeypatch):
    product, other = make_product(), make_product()
    one, two = make_location(), make_location()
    rows = [
        {"location": two.code, "sku": other.sku, "delta": 1, "reason": "", "reference": "a"},
        {"location": one.code, "sku": product.sku, "delta": 2, "reason": "", "reference": "b"},
        {"location": two.code, "sku": product.sku, "delta": 3, "reason": "", "reference": "c"},
    ]
    locked = []
    original = stock.lock_levels

    def spy(pairs, **kwargs):
        locked.append(sorted(set(pairs)))
        return original(pairs, **kwargs)

    monkeypatch.setattr(stock, "lock_levels", spy)
    assert stock.apply_movements(rows, actor=ACTOR) == 3
    assert locked == [sorted({(two.id, other.id), (one.id, product.id), (two.id, product.id)})]
    assert stock.ledger_totals(two.id, product.id) == (3, 0)


def test_a_ten_thousand_line_movement_batch_is_applied_whole_or_not_at_all(app):
    products = [make_product() for _ in range(50)]
    stores = [make_location() for _ in range(4)]
    rows = [
        {"location": stores[i % 4].code, "sku": products[i % 50].sku, "delta": 1, "reason": "", "reference": f"r{i}"}
        for i in range(10_000)
    ]
    assert stock.apply_movements(rows, actor=ACTOR) == 10_000
    assert stock.ledger_totals(stores[0].id, products[0].id) == (100, 0)
    level = db.session.get(StockLevel, stock.level_for_update(stores[0], products[0]).id)
    assert level.on_hand == 100
    rows[-1] = {**rows[-1], "delta": -1_000}
    with pytest.raises(InvalidInput) as refused:
        stock.apply_movements(rows, actor=ACTOR)
    assert list(refused.value.fields) == ["movements.9999.delta"]
    assert stock.ledger_totals(stores[0].id, products[0].id) == (100, 0)


def test_the_first_look_ranks_in_sql_as_sourcing_ranks_in_python(app):
    """The first look orders the locations in SQL (haversine distance less priority, after every unit then most
    units): the same order as the figures sourcing shows, computed in Python, on any coordinates."""
    rnd = random.Random(9)
    shoe, sock = make_product(), make_product()
    for i in range(30):
        store = _store(f"R{i:02d}", round(rnd.uniform(37.5, 50.9), 6), round(rnd.uniform(-4.5, 15.5), 6))
        store.sourcing_priority = rnd.choice((0, 0, 1, 3))
        stocked(store, shoe, rnd.randint(1, 2))
        if rnd.random() < 0.5:
            stocked(store, sock, 1)
    _store("NOWHERE", 48.0, 2.0).latitude = None  # no coordinates: the neutral distance
    stocked(db.session.scalars(select(Location).where(Location.code == "NOWHERE")).one(), shoe, 1)
    r = rules.current_rules()
    order = _ship_order((shoe, 2), (sock, 1))
    origin = sourcing._customer_origin(order)
    demand = {shoe.id: 2, sock.id: 1}
    look = sourcing._stocked_sites(demand, r, origin=origin, exclude=set(), shipping=True)
    distance = sourcing._distances_from(origin.latitude, origin.longitude)

    def expected(w):
        covers = sum(min(w.available[pid], qty) for pid, qty in demand.items())
        km = distance(w.site.latitude, w.site.longitude)
        least = (r.unknown_distance_km if km is None else km) - r.priority_km * w.site.sourcing_priority
        return (covers != 3, -covers, least, w.site.code)

    assert len(look.waiting) == look.eligible == 31
    assert [w.site.code for w in look.waiting] == [w.site.code for w in sorted(look.waiting, key=expected)]
    assert [w.distance for w in look.waiting if w.site.code == "NOWHERE"] == [None]


def test_the_first_look_reads_only_the_locations_it_shows(app):
    product = make_product()
    for i in range(30):
        stocked(_store(f"E{i:02d}", 44 + i / 10, 2), product, 1)
    for i in range(12):
        stocked(_store(f"P{i:02d}", 48, 2, ship_paused=True), product, 1)
    order = _ship_order((product, 1))
    look = sourcing._stocked_sites(
        {product.id: 1},
        rules.current_rules(),
        origin=sourcing._customer_origin(order),
        exclude=set(),
        shipping=True,
        upto=sourcing.SITES,
        keep=sourcing.KEEP,
    )
    assert [w.site.code for w in look.waiting] == [f"E{i:02d}" for i in range(29, 9, -1)]  # the nearest 20
    assert look.eligible == 30
    assert [c["location"] for c in look.refused] == [f"P{i:02d}" for i in range(10)]
    assert look.refused_count == 12


def test_a_location_that_failed_is_told_apart_when_more_are_refused_than_listed(app):
    """The failed location holds stock but sorts after the refusals listed: it is counted once, not listed again as
    failed without stock."""
    product = make_product()
    for i in range(12):
        stocked(_store(f"P{i:02d}", 48, 2, ship_paused=True), product, 1)
    stocked(_store("ZZZ", 48.8, 2.3), product, 1)
    order = _ship_order((product, 1))
    sourcing.source_order(order, actor=ACTOR)
    assert _served(order) == {"ZZZ": {1: 1}}
    decision = sourcing.reject_and_reroute(order.fulfilments[0], reason="cannot_find", actor=ACTOR)
    refused = [c for c in decision.candidates if not c["eligible"]]
    assert [c["location"] for c in refused] == [f"P{i:02d}" for i in range(10)]
    assert "3 more refused locations not listed" in decision.notes  # P10, P11 and ZZZ
    assert decision.unfulfilled == {"1": 1}


@pytest.mark.skipif(
    ENGINE != "postgresql", reason="the first look reads the workload on PostgreSQL (SQLite: _workload)"
)
def test_the_first_look_counts_each_locations_day_from_its_own_local_midnight(app):
    """Paris, Tokyo and Montreal start their day at three different instants: a fulfilment a minute before a store's
    local midnight is not today's, one a minute after is; open work counts whatever the day. As _workload counts."""
    now = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)
    product = make_product()
    order = _ship_order((product, 1))
    stores = {}
    for zone in ("Europe/Paris", "Asia/Tokyo", "America/Montreal"):
        store = stores[zone] = make_location(code=zone[-5:].upper(), timezone=zone, daily_capacity=50)
        stocked(store, product, 3)
        midnight = hours.local_day_start(zone, now)
        for created, status in (
            (midnight - timedelta(minutes=1), "shipped"),
            (midnight + timedelta(minutes=1), "created"),
        ):
            db.session.add(Fulfilment(order_id=order.id, location_id=store.id, status=status, created_at=created))
    db.session.add(Fulfilment(order_id=order.id, location_id=stores["Asia/Tokyo"].id, status="picking", created_at=now))
    db.session.flush()
    look = sourcing._stocked_sites(
        {product.id: 1}, rules.current_rules(), origin=None, exclude=set(), shipping=True, keep=0, now=now
    )
    got = {w.site.code: (w.open_work, w.today) for w in look.waiting}
    assert got == {"PARIS": (1, 1), "TOKYO": (2, 2), "TREAL": (1, 1)}
    open_work, today = sourcing._workload([w.site for w in look.waiting], now)
    assert got == {w.site.code: (open_work.get(w.site.id, 0), today.get(w.site.id, 0)) for w in look.waiting}
