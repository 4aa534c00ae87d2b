"""Shelf places (aisle-bay-level) and the store's walk: the pick path an associate follows."""

import pytest
from sqlalchemy import select

from app.core.errors import InvalidInput
from app.core.floor import picking
from app.core.inventory import shelves
from app.core.models import AuditEvent, ShelfLocation
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, make_user, ship_draft, stocked


@pytest.mark.parametrize(
    ("text", "parsed"),
    [("A3-12-2", ("A3", "12", "2")), (" b1 - 4 ", ("B1", "4", "")), ("10-02-A", ("10", "02", "A"))],
)
def test_a_shelf_place_is_read_as_on_its_label(text, parsed):
    assert shelves.parse_shelf(text) == parsed


@pytest.mark.parametrize("text", ["", "A3", "A3-", "A3-12-2-1", "A3/12", "ALLÉE-1", None, 12])
def test_anything_else_is_refused_naming_the_shelf(text):
    with pytest.raises(InvalidInput) as refused:
        shelves.parse_shelf(text)
    assert set(refused.value.fields) == {"shelf"}


def test_natural_order_puts_2_before_10():
    assert sorted(["A10", "A2", "B1", "A1"], key=shelves.natural) == ["A1", "A2", "A10", "B1"]


def test_placing_a_product_is_idempotent_and_audited(app):
    store, product = make_location(), make_product()
    place, created, changed = shelves.place_product(store, product, "a3-12-2", actor=ACTOR)
    assert (created, changed) == (True, True) and place.code == "A3-12-2"
    again = shelves.place_product(store, product, "A3-12-2", actor=ACTOR)
    assert again == (place, False, False)
    moved = shelves.place_product(store, product, "B1-1", sequence=5, actor=ACTOR)
    assert moved[1:] == (False, True) and (place.code, place.pick_sequence) == ("B1-1", 5)
    assert db.session.scalar(select(ShelfLocation.level).where(ShelfLocation.id == place.id)) == ""
    actions = db.session.scalars(select(AuditEvent.after).where(AuditEvent.action == "shelf.place")).all()
    assert [a["aisle"] for a in actions] == ["A3", "B1"]
    with pytest.raises(InvalidInput):
        shelves.place_product(store, product, "B1-1", sequence=-1, actor=ACTOR)


def test_a_walk_is_checked_and_setting_the_same_one_changes_nothing(app):
    store = make_location()
    assert shelves.set_walk(store, ["c", "A", "B"], actor=ACTOR) == ["C", "A", "B"]
    assert shelves.set_walk(store, ["C", "A", "B"], actor=ACTOR) == ["C", "A", "B"]
    assert db.session.scalar(select(AuditEvent.after).where(AuditEvent.action == "location.walk")) == {
        "walk": ["C", "A", "B"]
    }
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "location.walk")).all()) == 1
    with pytest.raises(InvalidInput) as refused:
        shelves.set_walk(store, ["A", "A", "É"], actor=ACTOR)
    assert set(refused.value.fields) == {"aisles.1", "aisles.2"}
    assert store.walk == ["C", "A", "B"]


def test_the_pick_list_follows_the_walk_then_bays_in_natural_order(app):
    store = make_location(code="WALK1")
    products = {name: make_product(sku=name) for name in ("A-10", "A-2", "B-1", "C-1", "NOWHERE")}
    for product in products.values():
        stocked(store, product, 5)
    shelves.place_product(store, products["A-10"], "A-10", actor=ACTOR)
    shelves.place_product(store, products["A-2"], "A-2", actor=ACTOR)
    shelves.place_product(store, products["B-1"], "B-1", actor=ACTOR)
    shelves.place_product(store, products["C-1"], "C-1", actor=ACTOR)
    shelves.set_walk(store, ["C", "A"], actor=ACTOR)  # C by the door, then A; B is not in the walk: after
    order = orders.create_order(ship_draft(*[(p, 1) for p in products.values()]), actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    [fulfilment] = order.fulfilments
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    user = make_user(stores=[store])
    pick_list = picking.start_pick(store, [fulfilment], user=user, actor=ACTOR)
    assert [g.product.sku for g in picking.groups(pick_list)] == ["C-1", "A-2", "A-10", "B-1", "NOWHERE"]
    assert [g.shelf_text for g in picking.groups(pick_list)] == ["C-1", "A-2", "A-10", "B-1", ""]
