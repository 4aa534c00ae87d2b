"""The pick screens over HTTP: start, scan through the scan bar, resend, short form, takeover warning."""

import json
import re
import uuid

from app.core.inventory import catalogue
from app.core.models import FulfilmentStatus as S
from app.core.models import PickList
from app.core.ordering import orders
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import (
    ACTOR,
    PASSWORD,
    collect_draft,
    make_location,
    make_product,
    make_user,
    ship_draft,
    stocked,
)

HTMX = {"HX-Request": "true", "HX-Target": "pick"}
SCAN_BAR = {"HX-Request": "true", "HX-Target": "pick-live"}  # what base.html's scan bar sends on the pick screen


def _floor():
    store = make_location(code="NTE9")
    lamp, mug = make_product(sku="LAMP-1", name="Lampe"), make_product(sku="MUG-1", name="Mug")
    catalogue.place_on_shelf(store, lamp, aisle="2", bay="5", pick_sequence=1)
    for product in (lamp, mug):
        stocked(store, product, 5)
    order, _ = orders.create_order(ship_draft((lamp, 2), ref="P-100"), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=ACTOR)
    orders.accept_fulfilment(fulfilment, actor=ACTOR)
    alice = make_user(stores=[store], name="Alice")
    bruno = make_user(stores=[store], name="Bruno")
    db.session.commit()
    return store, fulfilment, alice, bruno


def _start(client, store, fulfilment, user):
    login(client, user.email, PASSWORD)
    token = csrf_token(client, f"/stores/{store.code}/picks/new")
    response = client.post(f"/stores/{store.code}/picks", data={"csrf_token": token, "fulfilment": fulfilment.id})
    assert response.status_code == 303
    pick_list = db.session.scalar(db.select(PickList))
    assert response.headers["Location"].endswith(f"/picks/{pick_list.id}")
    return pick_list, token


def _scan(client, store, pick_list, token, code, scan_id=None):
    return client.post(
        f"/stores/{store.code}/picks/{pick_list.id}/scan",
        data={"code": code, "scan_id": uuid.uuid4().hex if scan_id is None else scan_id},
        headers={**SCAN_BAR, "X-CSRFToken": token},
    )


def test_the_choose_screen_ticks_the_batch_and_the_pick_screen_takes_scans(client):
    store, fulfilment, alice, _ = _floor()
    login(client, alice.email, PASSWORD)
    choose = client.get(f"/stores/{store.code}/picks/new").get_data(as_text=True)
    assert re.search(rf'value="{fulfilment.id}" checked', choose)
    pick_list, token = _start(client, store, fulfilment, alice)
    page = client.get(f"/stores/{store.code}/picks/{pick_list.id}").get_data(as_text=True)
    assert f'action="/stores/{store.code}/picks/{pick_list.id}/scan"' in page  # the scan bar posts here
    assert "Aisle 2, bay 5" in page
    ok = _scan(client, store, pick_list, token, "LAMP-1")
    assert ok.status_code == 200 and "<html" not in ok.get_data(as_text=True)
    assert json.loads(ok.headers["HX-Trigger"])["scan"] == {"ok": True}
    body = ok.get_data(as_text=True)
    assert "Lampe into tote A: 1 more for this order." in body
    # Only what the scan changed: the live area and, out of band, the pick path row of the lamp.
    assert 'id="pick-live"' in body and "Pick path" not in body
    assert re.search(r'<template><tr id="group-\d+" class="[^"]*" data-hx-swap-oob="true">', body)
    assert "1 unit left" in body


def test_wrong_unknown_and_resent_scans_over_http(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    wrong = _scan(client, store, pick_list, token, "MUG-1")
    assert json.loads(wrong.headers["HX-Trigger"])["scan"] == {"ok": False}
    assert "Wrong product: Mug is not on this pick list." in wrong.get_data(as_text=True)
    unknown = _scan(client, store, pick_list, token, "<b>nope</b>")
    assert "Unknown code &lt;b&gt;nope&lt;/b&gt;." in unknown.get_data(as_text=True)
    scan_id = uuid.uuid4().hex
    _scan(client, store, pick_list, token, "LAMP-1", scan_id)
    again = _scan(client, store, pick_list, token, "LAMP-1", scan_id)
    assert "already received: counted once" in again.get_data(as_text=True)
    db.session.expire_all()
    assert fulfilment.lines[0].picked == 1
    missing_id = _scan(client, store, pick_list, token, "LAMP-1", "")
    assert missing_id.status_code == 422
    db.session.expire_all()
    assert fulfilment.lines[0].picked == 1


def test_a_bad_short_form_is_422_and_changes_nothing_then_a_good_one_reroutes(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    line = fulfilment.lines[0]
    url = f"/stores/{store.code}/picks/{pick_list.id}/short"
    bad = client.post(
        url,
        data={"csrf_token": token, "line": line.id, "expected_short": 0, "quantity": "lots", "reason": "bogus"},
        headers=HTMX,
    )
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    db.session.expire_all()
    assert line.short == 0
    good = {"csrf_token": token, "line": line.id, "expected_short": 0, "quantity": 1, "reason": "cannot_find"}
    assert client.post(url, data=good, headers=HTMX).status_code == 200
    resent = client.post(url, data=good, headers=HTMX)
    assert "already recorded" in resent.headers["HX-Trigger"]
    db.session.expire_all()
    assert line.short == 1 and fulfilment.status == S.PICKING


def test_a_second_associate_sees_who_is_picking_and_can_take_over(client):
    store, fulfilment, alice, bruno = _floor()
    pick_list, _ = _start(client, store, fulfilment, alice)
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, bruno.email, PASSWORD)
    page = client.get(f"/stores/{store.code}/picks/{pick_list.id}").get_data(as_text=True)
    assert "Alice is picking this list" in page and "Take over" in page
    token = csrf_token(client, f"/stores/{store.code}/picks/{pick_list.id}")
    refused = _scan(client, store, pick_list, token, "LAMP-1")
    assert refused.status_code == 409
    taken = client.post(f"/stores/{store.code}/picks/{pick_list.id}/takeover", headers={**HTMX, "X-CSRFToken": token})
    assert "You are now picking this list." in taken.headers["HX-Trigger"]
    assert _scan(client, store, pick_list, token, "LAMP-1").status_code == 200
    db.session.expire_all()
    assert pick_list.user_id == bruno.id and fulfilment.lines[0].picked == 1


def test_the_printed_pick_list_is_a_pdf(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, _ = _start(client, store, fulfilment, alice)
    response = client.get(f"/stores/{store.code}/picks/{pick_list.id}/pick-list.pdf")
    assert response.status_code == 200 and response.data.startswith(b"%PDF")


def test_a_scan_is_refused_as_soon_as_the_associate_leaves_the_store(client):
    """Membership is checked on every request (one query with the store), never remembered from an earlier one."""
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    assert _scan(client, store, pick_list, token, "LAMP-1").status_code == 200
    alice.stores = []
    db.session.commit()
    refused = _scan(client, store, pick_list, token, "LAMP-1")
    assert refused.status_code == 403
    db.session.expire_all()
    assert fulfilment.lines[0].picked == 1
    alice.stores = [store]
    db.session.commit()
    assert _scan(client, store, pick_list, token, "LAMP-1").status_code == 200
    db.session.expire_all()
    assert fulfilment.lines[0].picked == 2


def test_the_scan_answer_and_the_whole_pick_screen_show_the_same_counts(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    answer = _scan(client, store, pick_list, token, "LAMP-1").get_data(as_text=True)
    assert "Aisle 2, bay 5" in answer and "1 of 2" in answer  # the current card, its shelf from the same load
    assert re.search(r'name="last" value="\d+"', answer)  # the undo button names the scan just stored
    page = client.get(f"/stores/{store.code}/picks/{pick_list.id}", headers=HTMX).get_data(as_text=True)
    assert "1 of 2" in page and "A: 1/2" in page
    last = re.search(r'name="last" value="(\d+)"', answer).group(1)
    assert f'name="last" value="{last}"' in page


def test_the_pick_screen_hears_of_a_cancellation_without_a_scan(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    _scan(client, store, pick_list, token, "LAMP-1")
    url = f"/stores/{store.code}/picks/{pick_list.id}/notices"
    quiet = client.get(url, query_string={"shown": 0}, headers={"HX-Request": "true", "HX-Target": "pick-notices"})
    assert quiet.status_code == 204  # nothing new: nothing swapped, nothing announced again
    orders.cancel_order(fulfilment.order, reason="customer", actor=ACTOR)
    db.session.commit()
    heard = client.get(url, query_string={"shown": 0}, headers={"HX-Request": "true", "HX-Target": "pick-notices"})
    body = heard.get_data(as_text=True)
    assert heard.status_code == 200 and 'id="pick-notices"' in body
    assert "Order WEB-P-100 was cancelled: stop picking it." in body
    assert "1 × Lampe — shelf 2-5" in body  # what to take out of the tote and where it goes back
    assert client.get(url, query_string={"shown": 1}).status_code == 204


def _finished_panel_shows_the_picked_list(body: str, store, fulfilment) -> None:
    assert "Picking finished" in body
    assert re.search(r'<tr id="group-\d+" class="complete">', body)  # the pick path keeps what was picked
    assert "A: 2/2" in body
    assert '<span class="badge s-picked">Picked</span>' in body and "s-picking" not in body
    go = re.search(r'<a class="button primary" href="([^"]+)">Go to packing</a>', body)
    assert go.group(1) == f"/stores/{store.code}/fulfilments/{fulfilment.id}/pack"


def test_finishing_by_button_shows_the_picked_path_the_totes_picked_and_goes_to_the_orders_pack_screen(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    _scan(client, store, pick_list, token, "LAMP-1")
    _scan(client, store, pick_list, token, "LAMP-1")
    done = client.post(f"/stores/{store.code}/picks/{pick_list.id}/finish", headers={**HTMX, "X-CSRFToken": token})
    assert done.status_code == 200
    _finished_panel_shows_the_picked_list(done.get_data(as_text=True), store, fulfilment)
    page = client.get(f"/stores/{store.code}/picks/{pick_list.id}").get_data(as_text=True)
    _finished_panel_shows_the_picked_list(page, store, fulfilment)


def test_finishing_by_the_confirm_scan_redraws_the_whole_pick_screen(client):
    store, fulfilment, alice, _ = _floor()
    pick_list, token = _start(client, store, fulfilment, alice)
    _scan(client, store, pick_list, token, "LAMP-1")
    before = _scan(client, store, pick_list, token, "LAMP-1")
    assert "HX-Retarget" not in before.headers  # while picking, a scan swaps only the live area
    done = _scan(client, store, pick_list, token, "CMD:CONFIRM")
    assert (done.headers["HX-Retarget"], done.headers["HX-Reswap"]) == ("#pick", "outerHTML")
    body = done.get_data(as_text=True)
    assert body.lstrip().startswith("<div") and 'id="pick"' in body
    _finished_panel_shows_the_picked_list(body, store, fulfilment)


def test_a_finished_batch_sends_each_shipped_order_to_its_pack_screen_and_collect_to_the_hold_shelf(client):
    store, fulfilment, alice, _ = _floor()
    mug = catalogue.find_product("MUG-1")
    collect, _ = orders.create_order(collect_draft(store, (mug, 1), ref="C-200"), actor=ACTOR)
    held = orders.assign_fulfilment(collect, store, {collect.lines[0]: 1}, actor=ACTOR)
    orders.accept_fulfilment(held, actor=ACTOR)
    db.session.commit()
    login(client, alice.email, PASSWORD)
    token = csrf_token(client, f"/stores/{store.code}/picks/new")
    data = {"csrf_token": token, "fulfilment": [fulfilment.id, held.id]}
    client.post(f"/stores/{store.code}/picks", data=data)
    pick_list = db.session.scalar(db.select(PickList))
    for code in ("LAMP-1", "LAMP-1", "MUG-1"):
        _scan(client, store, pick_list, token, code)
    body = _scan(client, store, pick_list, token, "CMD:CONFIRM").get_data(as_text=True)
    assert f'href="/stores/{store.code}/fulfilments/{fulfilment.id}/pack">Go to packing</a>' in body
    assert f"/fulfilments/{held.id}/pack" not in body
    assert f'href="/stores/{store.code}/fulfilments/{held.id}/prepare">Prepare for pickup</a>' in body
