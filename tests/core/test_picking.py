"""Picking: batch pick lists in pick sequence, scans (wrong, unknown, over, resend, undo), short, takeover, cancel."""

import uuid

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.core.actor import Actor
from app.core.errors import DomainError, InvalidInput
from app.core.floor import commands, picking
from app.core.inventory import catalogue, stock
from app.core.models import AuditEvent, Fulfilment, ProductBarcode, Scan, StockLevel
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, make_user, ship_draft, stocked


def sid() -> str:
    return uuid.uuid4().hex


@pytest.fixture
def floor(app):
    """A store with three products on shelves (pick sequence differs from SKU order) and two accepted orders."""
    store = make_location(code="PAR9", pick_batch_size=3)
    other = make_location(code="LYO9")
    scarf = make_product(sku="A-SCARF", name="Écharpe")
    lamp = make_product(sku="B-LAMP", name="Lampe")
    mug = make_product(sku="C-MUG", name="Mug")
    db.session.add(ProductBarcode(product=mug, code="SUPPLIER-MUG-1"))
    catalogue.place_on_shelf(store, scarf, aisle="9", bay="2", pick_sequence=30)
    catalogue.place_on_shelf(store, lamp, aisle="1", bay="4", pick_sequence=10)
    catalogue.place_on_shelf(store, mug, aisle="3", bay="1", pick_sequence=20)
    for product in (scarf, lamp, mug):
        stocked(store, product, 10)
        stocked(other, product, 10)
    first = _accepted(store, (lamp, 2), (scarf, 1))
    second = _accepted(store, (lamp, 1), (mug, 3))
    alice, bruno = make_user(stores=[store], name="Alice"), make_user(stores=[store], name="Bruno")
    db.session.flush()
    return {
        "store": store,
        "other": other,
        "scarf": scarf,
        "lamp": lamp,
        "mug": mug,
        "first": first,
        "second": second,
        "alice": alice,
        "bruno": bruno,
        "actor": Actor.for_user(alice),
    }


def _accepted(store, *lines):
    order, _ = orders.create_order(ship_draft(*lines), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {ol: ol.quantity for ol in order.lines}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    return fulfilment


def _start(floor, *fulfilments, user="alice"):
    fulfilments = fulfilments or (floor["first"], floor["second"])
    return picking.start_pick(floor["store"], list(fulfilments), user=floor[user], actor=floor["actor"])


def _scan(floor, pick_list, code, client_id=None, user="alice"):
    return picking.scan(pick_list, code, client_id or sid(), user=floor[user], actor=Actor.for_user(floor[user]))


def test_a_batch_is_sorted_by_pick_sequence_grouped_by_product_and_split_by_tote(floor):
    pick_list = _start(floor)
    assert {f.tote for f in pick_list.fulfilments} == {"A", "B"}
    assert all(f.status == S.PICKING and f.picker_id == floor["alice"].id for f in pick_list.fulfilments)
    groups = picking.groups(pick_list)
    assert [g.product.sku for g in groups] == ["B-LAMP", "C-MUG", "A-SCARF"]  # 1-4, 3-1, 9-2: the walk
    lamp = groups[0]
    assert lamp.total == 3
    assert sorted((s.tote, s.line.quantity) for s in lamp.splits) == [("A", 2), ("B", 1)]
    assert picking.current_group(pick_list).product.sku == "B-LAMP"
    # Starting the same orders again (a resend of the tap) returns the same list.
    assert _start(floor).id == pick_list.id


def test_a_pick_list_takes_at_most_the_store_batch_size_and_never_more_than_50(floor):
    extra = [_accepted(floor["store"], (floor["mug"], 1)) for _ in range(2)]
    with pytest.raises(InvalidInput) as error:
        _start(floor, floor["first"], floor["second"], *extra)
    assert error.value.params == {"limit": 3}
    assert floor["first"].status == S.ACCEPTED
    floor["store"].pick_batch_size = 60
    with pytest.raises(IntegrityError):  # the database refuses a batch size above 50
        db.session.flush()
    db.session.rollback()


def test_scans_count_one_unit_each_by_gtin_sku_or_extra_barcode_and_never_over(floor):
    pick_list = _start(floor)
    mug_line = floor["second"].lines[1]
    results = [_scan(floor, pick_list, code) for code in (floor["mug"].gtin, "C-MUG", "SUPPLIER-MUG-1")]
    assert [r.outcome for r in results] == ["counted", "counted", "counted"]
    assert results[0].params == {"name": "Mug", "tote": "B", "left": 2}
    assert mug_line.picked == 3
    over = _scan(floor, pick_list, "C-MUG")
    assert (over.ok, over.outcome, over.params["total"]) == (False, "over", 3)
    assert mug_line.picked == 3
    # Lamp: tote A needs 2 and tote B 1; units go to A first, then B.
    totes = [_scan(floor, pick_list, "B-LAMP").params["tote"] for _ in range(3)]
    assert totes == ["A", "A", "B"]


def test_a_wrong_product_or_an_unknown_code_is_refused_and_counts_nothing(floor):
    pick_list = _start(floor)
    stranger = make_product(sku="Z-OTHER", name="Vase")
    wrong = _scan(floor, pick_list, stranger.gtin)
    unknown = _scan(floor, pick_list, "NO-SUCH-CODE")
    assert (wrong.ok, wrong.outcome, wrong.params) == (False, "wrong_product", {"name": "Vase"})
    assert (unknown.ok, unknown.outcome) == (False, "unknown")
    assert sum(line.picked for f in pick_list.fulfilments for line in f.lines) == 0
    # The refusals are kept (they show up in the scan history) but count no unit.
    rows = db.session.scalars(select(Scan).where(Scan.pick_list_id == pick_list.id)).all()
    assert sorted((r.outcome, r.quantity) for r in rows) == [("unknown", 0), ("wrong_product", 0)]


def test_the_same_scan_id_twice_counts_once_and_answers_the_same(floor):
    pick_list = _start(floor)
    client_id = sid()
    first = _scan(floor, pick_list, "B-LAMP", client_id)
    again = _scan(floor, pick_list, "B-LAMP", client_id)
    assert (first.outcome, again.outcome, again.replayed) == ("counted", "counted", True)
    assert again.params == first.params
    assert floor["first"].lines[0].picked == 1
    with pytest.raises(InvalidInput):  # an id that is not a scan id at all
        _scan(floor, pick_list, "B-LAMP", "x")


def test_undo_takes_back_the_last_counted_scan_once_and_is_audited(floor):
    pick_list = _start(floor)
    _scan(floor, pick_list, "B-LAMP")
    second = _scan(floor, pick_list, "C-MUG")
    assert second.outcome == "counted"
    last = picking.last_scan(pick_list)
    undo_id = sid()
    undone = picking.undo_last(pick_list, undo_id, user=floor["alice"], actor=floor["actor"], expected=last.id)
    assert undone.outcome == "undone"
    assert floor["second"].lines[1].picked == 0
    again = picking.undo_last(pick_list, undo_id, user=floor["alice"], actor=floor["actor"], expected=last.id)
    assert again.replayed and floor["first"].lines[0].picked == 1  # the resend did not undo the lamp
    stale = picking.undo_last(pick_list, sid(), user=floor["alice"], actor=floor["actor"], expected=last.id)
    assert stale.outcome == "nothing_to_undo" and floor["first"].lines[0].picked == 1
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "pick.undo")).all()
    assert len(audit) == 1 and audit[0].after["sku"] == "C-MUG"
    by_command = _scan(floor, pick_list, commands.UNDO)
    assert by_command.outcome == "undone" and floor["first"].lines[0].picked == 0


def test_another_associate_is_warned_and_must_take_over_which_is_audited(floor):
    pick_list = _start(floor)
    with pytest.raises(DomainError) as error:
        _scan(floor, pick_list, "B-LAMP", user="bruno")
    assert error.value.params == {"name": "Alice"}
    with pytest.raises(DomainError):  # nor can Bruno start a list of his own with Alice's orders
        _start(floor, floor["first"], user="bruno")
    picking.take_over(pick_list, user=floor["bruno"], actor=Actor.for_user(floor["bruno"]))
    assert _scan(floor, pick_list, "B-LAMP", user="bruno").outcome == "counted"
    assert all(f.picker_id == floor["bruno"].id for f in pick_list.fulfilments)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pick.takeover"))
    assert (event.before, event.after) == ({"user": floor["alice"].email}, {"user": floor["bruno"].email})


def test_first_unit_mode_verifies_the_product_then_confirms_the_quantity(floor):
    floor["store"].scan_mode = "first"
    pick_list = _start(floor, floor["second"])
    mug_line = floor["second"].lines[1]
    verified = _scan(floor, pick_list, "C-MUG")
    assert (verified.outcome, mug_line.picked) == ("verified", 1)
    confirmed = _scan(floor, pick_list, commands.CONFIRM)  # the CONFIRM barcode takes the rest of that line
    assert (confirmed.outcome, mug_line.picked) == ("confirmed", 3)
    with pytest.raises(InvalidInput):  # never more than needed
        picking.confirm(pick_list, floor["second"].lines[0], 2, sid(), user=floor["alice"], actor=floor["actor"])


def test_no_scan_mode_confirms_by_tap_and_finish_moves_orders_to_packing(floor):
    floor["store"].scan_mode = "none"
    pick_list = _start(floor, floor["first"])
    with pytest.raises(DomainError):  # not everything is picked yet
        picking.finish(pick_list, user=floor["alice"], actor=floor["actor"])
    tap = sid()
    for line in floor["first"].lines:
        picking.confirm(pick_list, line, line.quantity, sid(), user=floor["alice"], actor=floor["actor"])
    assert picking.current_group(pick_list) is None
    finished = _scan(floor, pick_list, commands.CONFIRM, tap)
    assert finished.outcome == "finished"
    assert floor["first"].status == S.PICKED and pick_list.status == "done"
    # Stock stays reserved until the parcel leaves the store.
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == floor["store"].id, StockLevel.product_id == floor["lamp"].id)
    )
    assert (level.on_hand, level.reserved) == (10, 3)


def test_next_puts_a_product_off_until_the_end(floor):
    pick_list = _start(floor)
    assert picking.current_group(pick_list).product.sku == "B-LAMP"
    assert _scan(floor, pick_list, commands.NEXT).outcome == "skipped"
    assert picking.current_group(pick_list).product.sku == "C-MUG"
    _scan(floor, pick_list, "B-LAMP")  # counting the lamp brings it back into the walk
    assert picking.current_group(pick_list).product.sku == "B-LAMP"


def test_a_short_line_reroutes_its_units_says_the_shelf_is_empty_and_the_rest_goes_on(floor):
    pick_list = _start(floor)
    _scan(floor, pick_list, "B-LAMP")
    scarf_line = floor["first"].lines[1]
    picking.short(pick_list, scarf_line, 1, "out_of_stock", "", user=floor["alice"], actor=floor["actor"])
    assert scarf_line.short == 1 and floor["first"].status == S.PICKING
    rerouted = [f for f in floor["first"].order.fulfilments if f.location_id == floor["other"].id]
    assert [(f.lines[0].product.sku, f.lines[0].quantity) for f in rerouted] == [("A-SCARF", 1)]
    level = db.session.scalar(
        select(StockLevel).where(
            StockLevel.location_id == floor["store"].id, StockLevel.product_id == floor["scarf"].id
        )
    )
    assert level.on_hand == level.reserved == 0  # nothing more is promised from this shelf
    assert stock.ledger_totals(floor["store"].id, floor["scarf"].id) == (level.on_hand, level.reserved)
    with pytest.raises(InvalidInput):  # "other" needs words
        picking.short(pick_list, floor["second"].lines[1], 1, "other", " ", user=floor["alice"], actor=floor["actor"])


def test_damaged_units_move_to_the_damaged_count_through_the_ledger(floor):
    pick_list = _start(floor)
    mug_line = floor["second"].lines[1]
    picking.short(pick_list, mug_line, 2, "damaged", "cracked", user=floor["alice"], actor=floor["actor"])
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == floor["store"].id, StockLevel.product_id == floor["mug"].id)
    )
    assert (level.on_hand, level.reserved, level.damaged) == (8, 1, 2)
    assert stock.ledger_totals(floor["store"].id, floor["mug"].id) == (8, 1)


def test_a_cancellation_mid_pick_stops_the_work_and_says_where_to_put_items_back(floor):
    pick_list = _start(floor)
    _scan(floor, pick_list, "B-LAMP")  # one lamp into tote A
    orders.cancel_order(floor["first"].order, reason="customer cancelled", actor=ACTOR)
    notices = picking.stop_cancelled(pick_list)
    assert notices == [
        {
            "reference": floor["first"].order.reference,
            "status": "cancelled",
            "tote": "A",
            "items": [{"name": "Lampe", "quantity": 1, "shelf": "1-4"}],
        }
    ]
    scarf = _scan(floor, pick_list, "A-SCARF")  # only the cancelled order needed it
    assert (scarf.ok, scarf.outcome, scarf.params["shelf"]) == (False, "cancelled", "9-2")
    lamp = _scan(floor, pick_list, "B-LAMP")  # the other order still needs one lamp: into tote B
    assert (lamp.outcome, lamp.params["tote"]) == ("counted", "B")
    assert db.session.get(Fulfilment, floor["first"].id).status == S.CANCELLED


def test_a_held_order_cannot_be_picked_until_released(floor):
    floor["first"].order.needs_review = True
    with pytest.raises(DomainError):
        _start(floor, floor["first"])
    assert floor["first"].status == S.ACCEPTED
    orders.release_review(floor["first"].order, note="called the customer", actor=ACTOR)
    assert _start(floor, floor["first"]).fulfilments == [floor["first"]]


def test_a_unit_another_device_counted_meanwhile_is_never_counted_twice(floor):
    """The count is one guarded UPDATE: what this request loaded may be stale, the database row is not."""
    from sqlalchemy import update

    from app.core.models import FulfilmentLine

    pick_list = _start(floor)
    mug_line = floor["second"].lines[1]
    lamp_a, lamp_b = floor["first"].lines[0], floor["second"].lines[0]
    assert (mug_line.quantity, lamp_a.quantity, lamp_b.quantity) == (3, 2, 1)
    # Another device counted every mug and both lamps of tote A; this session still holds the old counts.
    table = FulfilmentLine.__table__
    for line in (mug_line, lamp_a):
        db.session.execute(update(table).where(table.c.id == line.id).values(picked=line.quantity))
    assert (mug_line.picked, lamp_a.picked) == (0, 0)
    over = _scan(floor, pick_list, "C-MUG")
    assert (over.ok, over.outcome, over.params["total"]) == (False, "over", 3)
    assert mug_line.picked == 3
    lamp = _scan(floor, pick_list, "B-LAMP")  # tote A is full in the database: the unit goes to tote B
    assert (lamp.outcome, lamp.params["tote"]) == ("counted", "B")
    assert (lamp_a.picked, lamp_b.picked) == (2, 1)
    db.session.expire_all()
    assert [line.picked for line in (mug_line, lamp_a, lamp_b)] == [3, 2, 1]
    counted = db.session.scalars(select(Scan).where(Scan.pick_list_id == pick_list.id, Scan.quantity > 0)).all()
    assert [(s.outcome, s.fulfilment_line_id) for s in counted] == [("counted", lamp_b.id)]
    assert picking.last_scan(pick_list).id == lamp.scan.id


def test_a_scan_id_already_used_on_another_list_counts_nothing(floor):
    first = _start(floor, floor["first"])
    second = _start(floor, floor["second"])
    client_id = sid()
    assert _scan(floor, first, "B-LAMP", client_id).outcome == "counted"
    with pytest.raises(InvalidInput) as error:
        _scan(floor, second, "C-MUG", client_id)
    assert set(error.value.fields) == {"scan_id"}
    db.session.expire_all()
    assert floor["second"].lines[1].picked == 0
    # The same id again on its own list is the first answer replayed, still one unit.
    again = _scan(floor, first, "B-LAMP", client_id)
    assert (again.replayed, floor["first"].lines[0].picked) == (True, 1)


def test_short_then_confirm_from_a_handheld_marks_the_rest_of_the_line_short_and_reroutes_it(floor):
    pick_list = _start(floor)
    _scan(floor, pick_list, "B-LAMP")  # one of tote A's two lamps
    prompt = _scan(floor, pick_list, commands.SHORT)
    assert prompt.outcome == "short_prompt" and prompt.line_id == floor["first"].lines[0].id
    done = _scan(floor, pick_list, commands.CONFIRM)
    assert (done.outcome, done.params) == ("shorted", {"quantity": 1, "name": "Lampe"})
    lamp_line = floor["first"].lines[0]
    assert (lamp_line.picked, lamp_line.short) == (1, 1)
    rerouted = [f for f in floor["first"].order.fulfilments if f.location_id == floor["other"].id]
    assert [(f.lines[0].product.sku, f.lines[0].quantity) for f in rerouted] == [("B-LAMP", 1)]
    again = _scan(floor, pick_list, commands.CONFIRM)  # the next CONFIRM is a plain confirm again, not a second short
    assert again.outcome == "not_done" and lamp_line.short == 1


# --- picked quantities confirmed without scans (the API's .../pick) ---------------------------------------------


def _level(floor, product, store="store"):
    return db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == floor[store].id, StockLevel.product_id == product.id)
    )


def test_confirming_every_unit_picked_moves_an_accepted_order_to_picked_and_keeps_its_units_reserved(floor):
    first = floor["first"]
    picking.confirm_picked(first, [{"sku": "B-LAMP", "quantity": 2}, {"sku": "A-SCARF", "quantity": 1}], actor=ACTOR)
    assert first.status == S.PICKED
    assert [(line.picked, line.short) for line in first.lines] == [(2, 0), (1, 0)]
    assert (_level(floor, floor["lamp"]).on_hand, _level(floor, floor["lamp"]).reserved) == (10, 3)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pick.confirmed"))
    assert audit.after == {"picked": {"B-LAMP": 2, "A-SCARF": 1}}
    with pytest.raises(DomainError) as again:  # picked already: a second confirmation is refused
        picking.confirm_picked(first, [{"sku": "B-LAMP", "quantity": 2}], actor=ACTOR)
    assert again.value.code == "illegal_transition"


def test_units_not_confirmed_are_short_with_the_reason_rerouted_and_the_rest_goes_on(floor):
    first = floor["first"]
    lines = [{"sku": "B-LAMP", "quantity": 1}, {"sku": "A-SCARF", "quantity": 0}]
    picking.confirm_picked(first, lines, actor=ACTOR, reason="out_of_stock")
    assert first.status == S.PICKED
    assert [(line.picked, line.short) for line in first.lines] == [(1, 1), (0, 1)]
    rerouted = sorted(
        (line.product.sku, line.quantity)
        for f in first.order.fulfilments
        if f.location_id == floor["other"].id
        for line in f.lines
    )
    assert rerouted == [("A-SCARF", 1), ("B-LAMP", 1)]
    scarf = _level(floor, floor["scarf"])
    assert scarf.on_hand == scarf.reserved == 0  # out of stock: nothing more promised from this shelf
    assert stock.ledger_totals(floor["store"].id, floor["scarf"].id) == (scarf.on_hand, scarf.reserved)


def test_a_created_order_is_accepted_on_the_way_and_nothing_picked_rejects_it(floor):
    order, _ = orders.create_order(ship_draft((floor["mug"], 2)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, floor["store"], {ol: ol.quantity for ol in order.lines}, actor=ACTOR)
    assert fulfilment.status == S.CREATED
    picking.confirm_picked(fulfilment, [{"sku": "C-MUG", "quantity": 0}], actor=ACTOR)
    assert fulfilment.status == S.REJECTED
    assert [(line.picked, line.short) for line in fulfilment.lines] == [(0, 2)]
    statuses = db.session.scalars(
        select(AuditEvent.action).where(AuditEvent.subject_id == str(fulfilment.id)).order_by(AuditEvent.id)
    ).all()
    assert "fulfilment.accepted" in statuses and "fulfilment.picking" in statuses


@pytest.mark.parametrize(
    ("lines", "field"),
    [
        ([{"sku": "B-LAMP", "quantity": 2}], "lines"),  # the scarf is not given
        ([{"sku": "B-LAMP", "quantity": 3}, {"sku": "A-SCARF", "quantity": 1}], "lines.0.quantity"),
        ([{"sku": "B-LAMP", "quantity": -1}, {"sku": "A-SCARF", "quantity": 1}], "lines.0.quantity"),
        ([{"sku": "B-LAMP", "quantity": "2"}, {"sku": "A-SCARF", "quantity": 1}], "lines.0.quantity"),
        ([{"sku": "C-MUG", "quantity": 1}, {"sku": "A-SCARF", "quantity": 1}], "lines.0.sku"),
        ([{"sku": "A-SCARF", "quantity": 1}, {"sku": "A-SCARF", "quantity": 1}], "lines.1.sku"),
        ([], "lines"),
        ("lamp", "lines"),
    ],
)
def test_quantities_that_do_not_fit_the_order_are_refused_and_nothing_changes(floor, lines, field):
    first = floor["first"]
    with pytest.raises(InvalidInput) as error:
        picking.confirm_picked(first, lines, actor=ACTOR)
    assert field in error.value.fields
    assert first.status == S.ACCEPTED and all(line.picked == line.short == 0 for line in first.lines)


def test_other_needs_a_note_and_an_order_on_an_open_pick_list_is_left_to_its_picker(floor):
    lines = [{"sku": "B-LAMP", "quantity": 1}, {"sku": "A-SCARF", "quantity": 1}]
    with pytest.raises(InvalidInput) as error:
        picking.confirm_picked(floor["first"], lines, actor=ACTOR, reason="other")
    assert "note" in error.value.fields and floor["first"].status == S.ACCEPTED
    with pytest.raises(InvalidInput):
        picking.confirm_picked(floor["first"], lines, actor=ACTOR, reason="lost")
    _start(floor, floor["second"])
    with pytest.raises(picking.PickRefused) as refused:
        picking.confirm_picked(floor["second"], [{"sku": "B-LAMP", "quantity": 1}], actor=ACTOR)
    assert refused.value.params["name"] == "Alice"
    picking.confirm_picked(floor["first"], lines, actor=ACTOR, reason="other", note="fell behind the shelf")
    assert [line.short for line in floor["first"].lines] == [1, 0] and floor["first"].status == S.PICKED
