"""Sweeps over every route: store scoping and CSRF, so a new route cannot forget either."""

import re

import pytest
from flask import url_for

from app.core import returns
from app.core.floor import dispatch, packing, picking, pickups, printing
from app.core.ordering import orders
from app.core.people import sign_in
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_returns import shipped_order
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked


@pytest.fixture
def two_stores(app):
    store_a, store_b = make_location(name="Lyon Part-Dieu"), make_location(name="Milano Duomo")
    product = make_product()
    stocked(store_b, product, 5)
    order, _ = orders.create_order(ship_draft((product, 1), ref="SECRET-B-1"), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store_b, {order.lines[0]: 1}, actor=ACTOR)
    user_a = make_user(stores=[store_a], role="manager")
    floor = _floor_work(store_b, make_product())
    db.session.commit()
    return {"a": store_a, "b": store_b, "user_a": user_a, "fulfilment_b": fulfilment, "product": product, **floor}


def _floor_work(store, product) -> dict:
    """Store B's floor records (pick list, parcel, label, manifest, print job, box): ids for every route argument."""
    stocked(store, product, 5)
    order, _ = orders.create_order(ship_draft((product, 1), ref="SECRET-B-2"), actor=ACTOR)
    packed = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    orders.accept_fulfilment(packed, actor=ACTOR)
    picker = make_user(stores=[store])
    pick_list = picking.start_pick(store, [packed], user=picker, actor=ACTOR)
    picking.confirm(pick_list, packed.lines[0], 1, "authorisation-1", user=picker, actor=ACTOR)
    picking.finish(pick_list, user=picker, actor=ACTOR)
    box = packing.add_package_type(
        store, {"name": "Box", "length_mm": 300, "width_mm": 200, "height_mm": 100, "tare_grams": 100}, actor=ACTOR
    )
    (parcel,) = packing.start_packing(packed, actor=ACTOR)
    packing.set_parcel(parcel, package_type=box, weight_grams=800, actor=ACTOR)
    packing.finish_packing(packed, actor=ACTOR)
    manifest = dispatch.open_manifest(store, parcel.label.carrier, actor=ACTOR)
    job = printing.start_print_job(store, [parcel.label.id], actor=ACTOR)
    device, _ = sign_in.open_session(picker, ip="192.0.2.1", user_agent="")
    (slot,) = pickups.add_slots(store, ["A1"], actor=ACTOR)
    shipped = shipped_order()  # a return taken at the store, one line waiting for inspection
    customer_return = returns.create_return(
        shipped,
        store,
        [{"sku": shipped.lines[0].product.sku, "quantity": 1, "reason": "other", "condition": "inspect"}],
        actor=ACTOR,
    )
    return {
        "ids": {
            "user_session_id": device.id,
            "user_id": picker.id,
            "pick_list_id": pick_list.id,
            "parcel_id": parcel.id,
            "label_id": parcel.label.id,
            "manifest_id": manifest.id,
            "job_id": job.id,
            "package_type_id": box.id,
            "slot_id": slot.id,
            "order_id": shipped.id,
            "return_id": customer_return.id,
            "line_id": customer_return.lines[0].id,
        },
        "packed_b": packed,
    }


def _store_rules(app):
    return [rule for rule in app.url_map.iter_rules() if "store_code" in rule.arguments]


def _url(app, rule, store, ids):
    values = {"store_code": store.code, **{arg: ids[arg] for arg in rule.arguments if arg != "store_code"}}
    with app.test_request_context():
        return url_for(rule.endpoint, **values)


def test_every_store_scoped_route_goes_through_the_membership_check(app):
    rules = _store_rules(app)
    assert len(rules) >= 6
    for rule in rules:
        view = app.view_functions[rule.endpoint]
        assert getattr(view, "store_scoped", False), f"{rule.rule} does not use store_route"


def test_a_user_of_another_store_gets_403_on_every_store_url_and_never_its_data(app, client, two_stores):
    ids = {"fulfilment_id": two_stores["fulfilment_b"].id, "product_id": two_stores["product"].id, **two_stores["ids"]}
    login(client, two_stores["user_a"].email, PASSWORD)
    token = csrf_token(client, "/")
    checked = 0
    for rule in _store_rules(app):
        url = _url(app, rule, two_stores["b"], ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            data = {"csrf_token": token, "code": two_stores["product"].sku, "on_hand": "0", "reason": "other"}
            response = client.open(url, method=method, data=data)
            body = response.get_data(as_text=True)
            assert response.status_code in {403, 404}, f"{method} {url} -> {response.status_code}"
            assert "SECRET-B-1" not in body
            assert "Milano Duomo" not in body
            checked += 1
    assert checked >= 8
    level = db.session.scalar(
        db.select(db.text("on_hand FROM stock_level")).where(db.text(f"product_id = {two_stores['product'].id}"))
    )
    assert level == 5  # nothing was counted to zero
    db.session.expire_all()
    packed = two_stores["packed_b"]
    assert packed.status == "packed" and packed.parcels[0].label.status == "active"  # nothing voided or shipped
    assert packed.parcels[0].handed_over_at is None


def test_unknown_stores_are_404_and_anonymous_users_are_sent_to_login(app, client, two_stores):
    ids = {"fulfilment_id": two_stores["fulfilment_b"].id, "product_id": two_stores["product"].id, **two_stores["ids"]}
    for rule in _store_rules(app):
        if "GET" in rule.methods:
            assert client.get(_url(app, rule, two_stores["b"], ids)).status_code == 302
    login(client, two_stores["user_a"].email, PASSWORD)
    assert client.get("/stores/NOPE/queue").status_code == 404


def test_a_fulfilment_of_another_store_is_404_even_through_my_own_store_url(app, client, two_stores):
    login(client, two_stores["user_a"].email, PASSWORD)
    url = f"/stores/{two_stores['a'].code}/fulfilments/{two_stores['fulfilment_b'].id}"
    response = client.get(url)
    assert response.status_code == 404
    assert "SECRET-B-1" not in response.get_data(as_text=True)


def test_admins_see_every_store(app, client, two_stores):
    admin = make_user(role="admin")
    db.session.commit()
    login(client, admin.email, PASSWORD)
    response = client.get(f"/stores/{two_stores['b'].code}/fulfilments/{two_stores['fulfilment_b'].id}")
    assert response.status_code == 200
    assert "SECRET-B-1" in response.get_data(as_text=True)


def test_associates_cannot_count_stock(app, client, two_stores):
    associate = make_user(stores=[two_stores["b"]])
    db.session.commit()
    login(client, associate.email, PASSWORD)
    url = f"/stores/{two_stores['b'].code}/stock/{two_stores['product'].id}/count"
    assert client.get(url).status_code == 403


def _any_ids(path: str) -> str:
    """A concrete URL for a rule outside the store routes: 1 for every id, "X" for every code."""
    return re.sub(r"<[^>]+>", "X", re.sub(r"<int:[^>]+>", "1", path))


def test_every_state_changing_request_without_a_csrf_token_gets_400(app, client, two_stores):
    ids = {"fulfilment_id": two_stores["fulfilment_b"].id, "product_id": two_stores["product"].id, **two_stores["ids"]}
    member = make_user(stores=[two_stores["b"]], role="manager")
    db.session.commit()
    login(client, member.email, PASSWORD)
    writes = {"POST", "PUT", "PATCH", "DELETE"}
    rules = [rule for rule in app.url_map.iter_rules() if rule.methods & writes]
    # The JSON API takes no cookies: it is authenticated by bearer token instead (checked below).
    api_writes = [rule for rule in rules if rule.rule.startswith("/api/")]
    posts = [rule for rule in rules if rule not in api_writes]
    assert {frozenset(rule.methods & writes) for rule in posts} == {frozenset({"POST"})}  # screens: POST only
    for rule in api_writes:
        url = _any_ids(rule.rule)
        for method in rule.methods & writes:
            assert client.open(url, method=method, json={}).status_code == 401, f"{method} {url}"
    assert len(posts) >= 7
    for rule in posts:
        url = _url(app, rule, two_stores["b"], ids) if "store_code" in rule.arguments else _any_ids(rule.rule)
        for headers in ({}, {"HX-Request": "true", "X-CSRFToken": "forged"}):
            response = client.post(url, data={"on_hand": "0", "reason": "other", "language": "fr"}, headers=headers)
            assert response.status_code == 400, f"POST {url} without a valid token -> {response.status_code}"
    db.session.expire_all()
    assert two_stores["fulfilment_b"].status == "created"


GARBAGE = {
    "code": "<script>alert(1)</script>" + "9" * 80,  # (NUL is refused up front for every request, elsewhere)
    "scan_id": "!!",
    "quantity": "-7",
    "line": "abc",
    "expected_short": "x",
    "reason": "r" * 300,
    "note": "n" * 400,
    "paused": "maybe",
    "fulfilment": ["x", "999999999999"],
    "carrier_id": "99999999999999999999",
    "size": "a0",
    "on_hand": "-1",
    "language": "xx",
    "shown": "z",
    "scope": "everything",
    "version": "-1",
}


def test_garbage_posted_by_a_member_to_every_store_route_never_gives_a_500(app, client, two_stores):
    """Bad input gets a clear 4xx (or a page saying what is wrong), never a server error."""
    ids = {"fulfilment_id": two_stores["fulfilment_b"].id, "product_id": two_stores["product"].id, **two_stores["ids"]}
    member = make_user(stores=[two_stores["b"]], role="manager")
    db.session.commit()
    login(client, member.email, PASSWORD)
    token = csrf_token(client, "/")
    checked = 0
    for rule in _store_rules(app):
        url = _url(app, rule, two_stores["b"], ids)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            for headers in ({}, {"HX-Request": "true", "HX-Target": "pick-live"}):
                response = client.open(
                    url,
                    method=method,
                    data={**GARBAGE, "csrf_token": token},
                    query_string={"line": "abc", "size": "a0", "shown": "z"},
                    headers=headers,
                )
                assert response.status_code < 500, f"{method} {url} -> {response.status_code}"
                checked += 1
    assert checked >= 80
    db.session.expire_all()
    assert two_stores["fulfilment_b"].lines[0].picked == 0  # garbage scans counted nothing


def test_ids_beyond_the_database_integer_range_are_404_not_a_database_error(app, client, two_stores):
    member = make_user(stores=[two_stores["b"]], role="manager")
    db.session.commit()
    login(client, member.email, PASSWORD)
    token = csrf_token(client, "/")
    huge = 2**31
    rules = [rule for rule in _store_rules(app) if any(a.endswith("_id") for a in rule.arguments)]
    assert len(rules) >= 20
    for rule in rules:
        url = re.sub(r"<int:[^>]+>", str(huge), rule.rule).replace("<store_code>", two_stores["b"].code)
        method = "GET" if "GET" in rule.methods else "POST"
        assert client.open(url, method=method, data={"csrf_token": token}).status_code == 404, f"{method} {url}"
