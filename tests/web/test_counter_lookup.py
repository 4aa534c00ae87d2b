"""The counter look-up: the queue's scan bar opens what the store scanned, within its own work only."""

import pytest

from app.core.floor import lookup, picking
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, random_ref, ship_draft, stocked

HX = {"HX-Request": "true", "HX-Target": "scan-result"}


@pytest.fixture
def counter(app, client):
    """Store HERE: an order APP-<ref> waiting, a packed parcel with its tracking number, a pick list, a product.
    Store THERE: an order and a parcel of its own. HERE's associate is signed in."""
    here, there = make_location(), make_location()
    product = make_product(name="Pull laine mérinos", barcodes=[random_ref("B")])
    stocked(here, product, 5)
    stocked(there, product, 5)
    ref = random_ref("A-")
    order, _ = orders.create_order(ship_draft((product, 2), ref=ref, channel="app"), actor=ACTOR)
    waiting = orders.assign_fulfilment(order, here, {order.lines[0]: 2}, actor=ACTOR)
    packed = finished(picked_fulfilment(1, store=here))
    other_order, _ = orders.create_order(ship_draft((product, 1), channel="app"), actor=ACTOR)
    orders.assign_fulfilment(other_order, there, {other_order.lines[0]: 1}, actor=ACTOR)
    other_packed = finished(picked_fulfilment(1, store=there))
    picker = make_user(stores=[here])
    to_pick, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    picked = orders.assign_fulfilment(to_pick, here, {to_pick.lines[0]: 1}, actor=ACTOR)
    orders.accept_fulfilment(picked, actor=ACTOR)
    pick_list = picking.start_pick(here, [picked], user=picker, actor=ACTOR)
    db.session.commit()
    login(client, picker.email, PASSWORD)
    return {
        "here": here,
        "product": product,
        "order": order,
        "waiting": waiting,
        "packed": packed,
        "other_order": other_order,
        "other_packed": other_packed,
        "pick_list": pick_list,
        "token": csrf_token(client, "/"),
    }


def _scan(client, counter, code, headers=HX):
    return client.post(
        f"/stores/{counter['here'].code}/scan", data={"code": code, "csrf_token": counter["token"]}, headers=headers
    )


def _opens(response, counter, path):
    assert response.status_code == 204
    assert response.headers["HX-Location"] == f"/stores/{counter['here'].code}{path}"


def test_an_order_number_opens_the_order(client, counter):
    path = f"/fulfilments/{counter['waiting'].id}"
    _opens(_scan(client, counter, counter["order"].reference), counter, path)  # APP-A-...
    _opens(_scan(client, counter, counter["order"].reference.lower()), counter, path)
    _opens(_scan(client, counter, f"  {counter['order'].external_ref} "), counter, path)  # the channel's reference


def test_a_tracking_number_opens_its_order(client, counter):
    tracking = counter["packed"].parcels[0].label.tracking_number
    _opens(_scan(client, counter, tracking.lower()), counter, f"/fulfilments/{counter['packed'].id}")


def test_a_pick_list_barcode_opens_the_pick_list(client, counter):
    pick_list = counter["pick_list"]
    _opens(_scan(client, counter, pick_list.number), counter, f"/picks/{pick_list.id}")


def test_a_customers_pickup_code_or_a_bag_label_opens_the_order_on_the_hold_shelf(client, counter):
    from app.core.floor import pickups
    from app.core.models import Fulfilment
    from tests.factories import collect_draft

    here, product = counter["here"], counter["product"]
    order, _ = orders.create_order(collect_draft(here, (product, 1)), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, here, {order.lines[0]: 1}, actor=ACTOR)
    for target in ("accepted", "picking", "picked"):
        orders.transition(fulfilment, target, actor=ACTOR)
    (slot,) = pickups.add_slots(here, ["Z-9"], actor=ACTOR)
    code = pickups.stage(fulfilment, slot, actor=ACTOR).code
    db.session.commit()
    path = f"/pickups/{fulfilment.id}"
    _opens(_scan(client, counter, pickups.format_code(code).lower()), counter, path)
    _opens(_scan(client, counter, pickups.bag_barcode(fulfilment.id, 1)), counter, path)
    # another store's associate: the same code names nothing there
    assert lookup.look_up(make_location(), code).kind == "unknown"
    # once collected, the code opens nothing any more
    pickups.collect(
        db.session.get(Fulfilment, fulfilment.id),
        actor=ACTOR,
        pickup_code=code,
        bags_scanned=[pickups.bag_barcode(fulfilment.id, 1)],
    )
    db.session.commit()
    assert lookup.look_up(here, code).kind == "unknown"


def test_without_javascript_the_scan_redirects_to_what_it_opens(client, counter):
    response = _scan(client, counter, counter["order"].reference, headers={})
    assert response.status_code == 303
    assert response.headers["Location"].endswith(f"/fulfilments/{counter['waiting'].id}")


def test_a_product_shows_its_stock_figures_and_the_open_orders_with_it(client, counter):
    product = counter["product"]
    for code in (product.sku, product.gtin, product.barcodes[0].code):
        answer = _scan(client, counter, code)
        assert answer.status_code == 200
        assert product.name in answer.text
        assert "Safety stock" in answer.text and "Reserved" in answer.text
        assert counter["order"].reference in answer.text  # waiting at this store with the product
        assert counter["other_order"].reference not in answer.text  # another store's


@pytest.mark.parametrize("kind", ["order", "tracking"])
def test_another_stores_order_or_parcel_is_not_in_this_store_and_reveals_nothing(client, counter, kind):
    other = counter["other_order"]
    code = other.reference if kind == "order" else counter["other_packed"].parcels[0].label.tracking_number
    answer = _scan(client, counter, code)
    assert answer.status_code == 404
    assert "is not part of this store" in answer.text
    assert other.customer_name not in answer.text and "HX-Location" not in answer.headers
    assert "/fulfilments/" not in answer.text and other.external_ref not in answer.text.replace(code, "")


def test_the_answer_is_in_the_readers_language(client, counter):
    client.post("/language", data={"language": "fr", "csrf_token": counter["token"], "next": "/"})
    answer = _scan(client, counter, counter["other_order"].reference)
    assert "ne fait pas partie du travail de ce magasin" in answer.text


@pytest.mark.parametrize("code", ["NOPE-000", "P999999999", "P999999999999", "", "x" * 5000])
def test_an_unknown_code_says_so_and_changes_nothing(client, counter, code):
    answer = _scan(client, counter, code)
    assert answer.status_code == 422
    assert '"ok": false' in answer.headers["HX-Trigger"]


def test_the_core_rule_names_what_a_code_is(app, counter):
    here = counter["here"]
    assert lookup.look_up(here, counter["order"].reference).kind == "order"
    assert lookup.look_up(here, counter["pick_list"].number).pick_list == counter["pick_list"]
    assert lookup.look_up(here, counter["product"].sku).kind == "product"
    assert lookup.look_up(here, counter["other_order"].reference).kind == "elsewhere"
    assert lookup.look_up(here, "").kind == "unknown"
