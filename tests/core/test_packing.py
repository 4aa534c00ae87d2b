from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.core.errors import CollectNotShipped, IllegalTransition, InvalidInput
from app.core.floor import carriers, dispatch, packing
from app.core.models import AuditEvent, Parcel, ParcelItem, Scan, ShippingLabel
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, collect_draft, make_location, make_product, ship_draft, stocked

MONDAY = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


def picked_fulfilment(*quantities, store=None, gift=False, products=None, collect=False, **order):
    """A ship-from-store (or, with collect, a click & collect) fulfilment picked in full, with a box at its store:
    quantities per line (default 2 and 1)."""
    quantities = quantities or (2, 1)
    store = store or make_location()
    products = products or [make_product(weight_grams=400 + 100 * i) for i in range(len(quantities))]
    for product, quantity in zip(products, quantities, strict=True):
        stocked(store, product, quantity + 3)
    lines = zip(products, quantities, strict=True)
    draft = collect_draft(store, *lines) if collect else ship_draft(*lines)
    for name, value in order.items():
        setattr(draft, name, value)
    created, _ = orders.create_order(draft, actor=ACTOR)
    if gift:
        created.gift_wrap, created.gift_message = True, "Joyeux anniversaire !"
    fulfilment = orders.assign_fulfilment(
        created, store, {line: line.quantity for line in created.lines}, actor=ACTOR, now=MONDAY
    )
    for status in ("accepted", "picking", "picked"):
        orders.transition(fulfilment, status, actor=ACTOR)
    if not packing.package_types(store):
        packing.add_package_type(
            store,
            {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250},
            actor=ACTOR,
        )
    carriers.ensure_builtin_carriers()
    db.session.flush()
    return fulfilment


def ready(fulfilment, weight=1500):
    """Every parcel given the store's first box and a weight."""
    packing.start_packing(fulfilment, actor=ACTOR)
    box = packing.package_types(fulfilment.location)[0]
    for parcel in fulfilment.parcels:
        packing.set_parcel(parcel, package_type=box, weight_grams=weight, actor=ACTOR)
    return fulfilment


def finished(fulfilment):
    ready(fulfilment)
    if packing.needs_gift_step(fulfilment):
        packing.gift_done(fulfilment, actor=ACTOR)
    return packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)


def _actions(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_packing_starts_with_every_picked_unit_in_parcel_one_and_is_idempotent(app):
    fulfilment = picked_fulfilment(2, 1)
    parcels = packing.start_packing(fulfilment, actor=ACTOR)
    again = packing.start_packing(fulfilment, actor=ACTOR)
    assert [p.id for p in parcels] == [p.id for p in again]
    assert len(parcels) == 1 and parcels[0].number == 1
    assert sorted(i.quantity for i in parcels[0].items) == [1, 2]


def test_package_types_are_validated(app):
    store = make_location()
    with pytest.raises(InvalidInput) as error:
        packing.add_package_type(
            store, {"name": " ", "length_mm": 0, "width_mm": "abc", "height_mm": 10, "tare_grams": -1}, actor=ACTOR
        )
    assert set(error.value.fields) == {"name", "length_mm", "width_mm", "tare_grams"}
    box = packing.add_package_type(
        store, {"name": "Bag", "length_mm": "400", "width_mm": 300, "height_mm": 20, "tare_grams": 0}, actor=ACTOR
    )
    with pytest.raises(InvalidInput) as error:
        packing.add_package_type(
            store, {"name": "bag", "length_mm": 1, "width_mm": 1, "height_mm": 1, "tare_grams": 0}, actor=ACTOR
        )
    assert "name" in error.value.fields
    packing.deactivate_package_type(box, actor=ACTOR)
    packing.deactivate_package_type(box, actor=ACTOR)
    assert packing.package_types(store) == []
    assert len(_actions("package_type.deactivate")) == 1
    packing.update_package_type(box, {"tare_grams": 15}, actor=ACTOR)
    assert box.tare_grams == 15


def test_units_move_between_parcels_and_the_estimate_follows(app):
    fulfilment = picked_fulfilment(2, 1)
    packing.start_packing(fulfilment, actor=ACTOR)
    first = fulfilment.parcels[0]
    second = packing.new_parcel(fulfilment, actor=ACTOR)
    assert packing.new_parcel(fulfilment, actor=ACTOR) is second  # a repeated tap: the empty parcel again
    line = fulfilment.lines[0]
    packing.move_items(fulfilment, second, {line: 1}, actor=ACTOR, source=first, expected=2)
    with pytest.raises(packing.PackRefused):  # the same move sent again: the source no longer holds 2
        packing.move_items(fulfilment, second, {line: 1}, actor=ACTOR, source=first, expected=2)
    with pytest.raises(InvalidInput):
        packing.move_items(fulfilment, second, {line: 5}, actor=ACTOR)
    assert [(i.fulfilment_line_id, i.quantity) for i in second.items] == [(line.id, 1)]
    box = packing.package_types(fulfilment.location)[0]
    assert packing.estimated_weight(second, box) == 250 + line.product.weight_grams


def test_finishing_names_every_missing_thing_and_changes_nothing(app):
    fulfilment = picked_fulfilment(2, 1, gift=True)
    packing.start_packing(fulfilment, actor=ACTOR)
    empty = packing.new_parcel(fulfilment, actor=ACTOR)
    with pytest.raises(packing.NotReady) as error:
        packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert set(error.value.fields) == {"parcel.2.items", "gift"}  # parcel 1 goes with the suggested box and weight
    assert fulfilment.status == "picked"
    assert db.session.scalar(select(func.count()).select_from(ShippingLabel)) == 0
    packing.remove_parcel(fulfilment, empty, actor=ACTOR)
    ready(fulfilment)
    with pytest.raises(packing.NotReady) as error:
        packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert set(error.value.fields) == {"gift"}
    assert error.value.message == "The gift step is not done."
    packing.gift_done(fulfilment, actor=ACTOR)
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert fulfilment.status == "packed"


def test_a_unit_outside_every_parcel_or_a_parcel_too_heavy_is_refused(app):
    fulfilment = ready(picked_fulfilment(2))
    item = fulfilment.parcels[0].items[0]
    item.quantity = 1  # a unit went missing between parcels
    db.session.flush()
    with pytest.raises(packing.NotReady) as error:
        packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert list(error.value.fields) == [f"line.{fulfilment.lines[0].id}"]
    item.quantity = 2
    with pytest.raises(InvalidInput):
        packing.set_parcel(fulfilment.parcels[0], package_type=None, weight_grams=0, actor=ACTOR)
    packing.set_parcel(
        fulfilment.parcels[0], package_type=fulfilment.parcels[0].package_type, weight_grams=40_000, actor=ACTOR
    )
    with pytest.raises(packing.NotReady) as error:
        packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert list(error.value.fields) == ["parcel.1.service"]


def test_finishing_issues_one_label_per_parcel_by_rule_and_twice_changes_nothing(app):
    fulfilment = picked_fulfilment(2, 1)
    ready(fulfilment)
    second = packing.new_parcel(fulfilment, actor=ACTOR)
    packing.move_items(fulfilment, second, {fulfilment.lines[1]: 1}, actor=ACTOR)
    ready(fulfilment)
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    labels = db.session.scalars(select(ShippingLabel)).all()
    assert len(labels) == 2
    assert {label.service.code for label in labels} == {"STD"}
    assert all(carriers.validate_tracking(label.carrier, label.tracking_number) for label in labels)
    assert fulfilment.status == "packed"
    assert len(_actions("fulfilment.packed")) == 1
    with pytest.raises(packing.PackRefused):
        packing.new_parcel(fulfilment, actor=ACTOR)


def test_void_relabel_and_reprint_are_audited(app):
    fulfilment = finished(picked_fulfilment(1))
    parcel = fulfilment.parcels[0]
    label = parcel.label
    packing.reprint(label, actor=ACTOR)
    packing.reprint(label, actor=ACTOR)
    assert label.print_count == 2
    packing.void_label(label, actor=ACTOR)
    packing.void_label(label, actor=ACTOR)
    assert parcel.label is None
    with pytest.raises(packing.PackRefused):
        packing.reprint(label, actor=ACTOR)
    express = next(s for s in parcel.service.carrier.services if s.code == "EXP")
    new = packing.relabel(parcel, express, actor=ACTOR)
    assert packing.relabel(parcel, express, actor=ACTOR) is new
    assert (new.service, new.tracking_number) == (express, label.tracking_number)
    assert [len(_actions(a)) for a in ("label.reprint", "label.void", "label.issue", "pack.change_service")] == [
        2,
        1,
        2,
        1,
    ]


def test_scan_to_pack_refuses_wrong_unknown_and_extra_units_and_counts_a_resend_once(app):
    other = make_product()
    fulfilment = picked_fulfilment(2, 1)
    fulfilment.location.scan_to_pack = True
    packing.start_packing(fulfilment, actor=ACTOR)
    product = fulfilment.lines[0].product

    def scan(code, client_id):
        return packing.pack_scan(fulfilment, None, code, client_id, actor=ACTOR)

    first = scan(product.gtin, "scan-0001")
    again = scan(product.gtin, "scan-0001")
    assert (first.ok, first.outcome, again.replayed) == (True, "packed", True)
    assert packing.scanned_units(fulfilment)[fulfilment.lines[0].id] == 1
    assert scan(other.gtin, "scan-0002").outcome == "wrong_product"
    assert scan("0000000", "scan-0003").outcome == "unknown"
    assert scan(product.sku, "scan-0004").ok
    over = scan(product.gtin, "scan-0005")
    assert (over.ok, over.outcome) == (False, "over")
    ready(fulfilment)
    with pytest.raises(packing.NotReady) as error:
        packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert error.value.params == {"n": 1}
    assert scan(fulfilment.lines[1].product.gtin, "scan-0006").ok
    rows = db.session.scalars(select(Scan).where(Scan.purpose == "pack")).all()
    assert len(rows) == 6
    with pytest.raises(InvalidInput):
        scan(product.gtin, "bad")


def test_a_scan_into_a_new_parcel_moves_the_unit_and_commands_drive_the_packing(app):
    fulfilment = picked_fulfilment(2, gift=True)
    packing.start_packing(fulfilment, actor=ACTOR)
    product = fulfilment.lines[0].product
    opened = packing.pack_scan(fulfilment, None, "cmd:new-parcel", "scan-1001", actor=ACTOR)
    assert (opened.outcome, opened.params) == ("new_parcel", {"n": 2})
    packing.pack_scan(fulfilment, None, product.gtin, "scan-1002", actor=ACTOR)
    assert [[i.quantity for i in p.items] for p in fulfilment.parcels] == [[1], [1]]
    refused = None
    try:
        packing.pack_scan(fulfilment, None, "CMD:CONFIRM", "scan-1003", actor=ACTOR)
    except packing.NotReady as error:
        refused = error
    assert refused is not None and set(refused.fields) == {"gift"} and fulfilment.status == "picked"
    packing.gift_done(fulfilment, actor=ACTOR)
    done = packing.pack_scan(fulfilment, None, "CMD:CONFIRM", "scan-1004", actor=ACTOR)
    assert (done.outcome, fulfilment.status) == ("finished", "packed")
    assert len(db.session.scalars(select(ShippingLabel)).all()) == 2


def test_only_picked_fulfilments_are_packed(app):
    fulfilment = picked_fulfilment(1)
    orders.transition(fulfilment, "cancelled", actor=ACTOR)
    with pytest.raises(IllegalTransition):
        packing.start_packing(fulfilment, actor=ACTOR)


def test_a_click_and_collect_fulfilment_is_never_packed_into_a_carrier_parcel(app):
    fulfilment = picked_fulfilment(1, collect=True)
    product = fulfilment.lines[0].product
    attempts = [
        lambda: packing.start_packing(fulfilment, actor=ACTOR),
        lambda: packing.new_parcel(fulfilment, actor=ACTOR),
        lambda: packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY),
        lambda: packing.pack_scan(fulfilment, None, product.gtin, "scan-c001", actor=ACTOR),
        lambda: packing.pack_scan(fulfilment, None, "CMD:CONFIRM", "scan-c002", actor=ACTOR),
    ]
    for attempt in attempts:
        with pytest.raises(CollectNotShipped) as error:
            attempt()
        assert error.value.http_status == 409 and error.value.params == {"ref": fulfilment.order.reference}
    assert (fulfilment.status, fulfilment.parcels) == ("picked", [])
    assert db.session.scalar(select(func.count()).select_from(ShippingLabel)) == 0
    assert db.session.scalar(select(func.count()).select_from(Scan)) == 0


def labelled_collect_parcel():
    """A click & collect order packed and labelled before packing refused it (as on main before issue 10)."""
    fulfilment = picked_fulfilment(1, collect=True)
    box = packing.package_types(fulfilment.location)[0]
    parcel = Parcel(fulfilment_id=fulfilment.id, number=1, package_type=box, weight_grams=900)
    parcel.items.append(ParcelItem(fulfilment_line=fulfilment.lines[0], quantity=1))
    db.session.add(parcel)
    orders.transition(fulfilment, "packed", actor=ACTOR)  # a bag for the hold shelf: the state machine allows it
    service = carriers.active_services()[0]
    number = carriers.next_tracking_number(service.carrier)
    db.session.add(
        ShippingLabel(parcel=parcel, carrier_id=service.carrier_id, service_id=service.id, tracking_number=number)
    )
    db.session.flush()
    return parcel


def test_a_click_and_collect_parcel_made_before_the_rule_is_never_labelled_printed_or_handed_over(app):
    parcel = labelled_collect_parcel()
    fulfilment, label = parcel.fulfilment, parcel.label
    for attempt in (
        lambda: packing.printable_label(parcel),
        lambda: packing.reprint(label, actor=ACTOR),
        lambda: dispatch.hand_over(fulfilment.location, label.tracking_number, "scan-c003", actor=ACTOR),
    ):
        with pytest.raises(CollectNotShipped):
            attempt()
    packing.void_label(label, actor=ACTOR)  # taking the wrong label back out of use is allowed
    with pytest.raises(CollectNotShipped):
        packing.relabel(parcel, carriers.active_services()[0], actor=ACTOR)
    assert packing.ready_parcels(fulfilment.location) == []
    assert (label.print_count, parcel.handed_over_at, parcel.label, fulfilment.status) == (0, None, None, "packed")


def test_a_parcel_finished_without_saving_goes_with_the_box_and_weight_shown(app):
    fulfilment = picked_fulfilment(2, 1)
    packing.start_packing(fulfilment, actor=ACTOR)
    parcel = fulfilment.parcels[0]
    shown = packing.parcel_choice(parcel)
    box = packing.package_types(fulfilment.location)[0]
    products = 2 * fulfilment.lines[0].product.weight_grams + fulfilment.lines[1].product.weight_grams
    assert (shown.package_type, shown.weight_grams, shown.estimate, shown.saved) == (
        box,
        box.tare_grams + products,
        box.tare_grams + products,
        False,
    )
    assert packing.problems(fulfilment) == {}
    packing.finish_packing(fulfilment, actor=ACTOR, now=MONDAY)
    assert (parcel.package_type, parcel.weight_grams, fulfilment.status) == (box, shown.weight_grams, "packed")
    assert parcel.label is not None
    assert _actions("pack.set_parcel")[0].after["suggested"] is True


def test_a_parcel_finished_by_the_confirm_scan_alone_goes_with_the_suggestion(app):
    fulfilment = picked_fulfilment(1)
    fulfilment.location.scan_to_pack = True
    packing.start_packing(fulfilment, actor=ACTOR)
    packing.pack_scan(fulfilment, None, fulfilment.lines[0].product.gtin, "scan-s001", actor=ACTOR)
    done = packing.pack_scan(fulfilment, None, "CMD:CONFIRM", "scan-s002", actor=ACTOR)
    assert (done.ok, done.outcome, fulfilment.status) == (True, "finished", "packed")
    assert fulfilment.parcels[0].weight_grams == packing.parcel_choice(fulfilment.parcels[0]).estimate


def test_a_saved_weight_wins_over_the_suggestion_and_no_box_means_no_suggestion(app):
    fulfilment = picked_fulfilment(1)
    ready(fulfilment, weight=2100)
    assert packing.parcel_choice(fulfilment.parcels[0]).weight_grams == 2100
    assert packing.parcel_choice(fulfilment.parcels[0]).saved
    bare = picked_fulfilment(1, products=[make_product(weight_grams=None)])
    for box in packing.package_types(bare.location):
        packing.deactivate_package_type(box, actor=ACTOR)
    packing.start_packing(bare, actor=ACTOR)
    with pytest.raises(packing.NotReady) as error:
        packing.finish_packing(bare, actor=ACTOR, now=MONDAY)
    assert set(error.value.fields) == {"parcel.1.package_type", "parcel.1.weight_grams"}
    assert bare.parcels[0].package_type is None and bare.status == "picked"


def test_the_suggested_box_is_the_smallest_that_holds_the_items_by_their_dimensions(app):
    store = make_location()
    for name, sides in (("A small", (200, 150, 100)), ("B medium", (350, 250, 150)), ("C large", (500, 400, 300))):
        packing.add_package_type(
            store,
            {"name": name, "length_mm": sides[0], "width_mm": sides[1], "height_mm": sides[2], "tare_grams": 100},
            actor=ACTOR,
        )
    shirt = make_product(weight_grams=300, length_mm=280, width_mm=200, height_mm=40)  # too long for the small box
    boots = make_product(weight_grams=1500, length_mm=340, width_mm=240, height_mm=140)  # the medium box, alone
    unknown = make_product(weight_grams=200)  # no dimensions in the catalogue
    cases = [([shirt], [1], "B medium"), ([boots, shirt], [2, 1], "C large"), ([shirt, unknown], [1, 1], "A small")]
    for products, quantities, expected in cases:
        fulfilment = picked_fulfilment(*quantities, store=store, products=products)
        packing.start_packing(fulfilment, actor=ACTOR)
        assert packing.parcel_choice(fulfilment.parcels[0]).package_type.name == expected, products
    huge = make_product(length_mm=900, width_mm=100, height_mm=100)
    fulfilment = picked_fulfilment(1, store=store, products=[huge])
    packing.start_packing(fulfilment, actor=ACTOR)
    assert packing.parcel_choice(fulfilment.parcels[0]).package_type.name == "C large"  # nothing holds it: the largest
