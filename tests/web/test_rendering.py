from app.core.ordering import orders
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked


def _store_with_work():
    store, product = make_location(), make_product(name="Pull laine mérinos")
    stocked(store, product, 4)
    order, _ = orders.create_order(ship_draft((product, 2), ref="W-5005"), actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=ACTOR)
    user = make_user(stores=[store])
    db.session.commit()
    return store, product, fulfilment, user


def _signed_in(client):
    """A store with one order waiting, its associate signed in; returns the store, product, fulfilment and CSRF token."""
    store, product, fulfilment, user = _store_with_work()
    login(client, user.email, PASSWORD)
    return store, product, fulfilment, csrf_token(client, "/")


def test_a_targeted_htmx_request_gets_only_the_fragment_and_responses_vary_on_hx_request(client):
    store, _, _, user = _store_with_work()
    login(client, user.email, PASSWORD)
    full = client.get(f"/stores/{store.code}/queue")
    part = client.get(f"/stores/{store.code}/queue", headers={"HX-Request": "true", "HX-Target": "work"})
    assert "<html" in full.get_data(as_text=True)
    assert "WEB-W-5005" in full.get_data(as_text=True)
    assert "<html" not in part.get_data(as_text=True)
    assert "WEB-W-5005" in part.get_data(as_text=True)
    assert "HX-Request" in full.headers["Vary"]
    assert "HX-Request" in part.headers["Vary"]
    boosted = client.get(f"/stores/{store.code}/queue", headers={"HX-Request": "true", "HX-Boosted": "true"})
    assert "<html" in boosted.get_data(as_text=True)  # a boosted link gets the whole page (base.html loads queue.js)


def test_accepting_twice_is_idempotent_and_says_so(client):
    store, _, fulfilment, token = _signed_in(client)
    url = f"/stores/{store.code}/fulfilments/{fulfilment.id}/accept"
    headers = {"HX-Request": "true", "HX-Target": "fulfilment", "X-CSRFToken": token}
    first, again = client.post(url, headers=headers), client.post(url, headers=headers)
    assert (first.status_code, again.status_code) == (200, 200)
    assert "Order accepted." in again.headers["HX-Trigger"]
    db.session.expire_all()
    assert fulfilment.status == "accepted"


def test_a_reject_without_a_valid_reason_is_422_swapped_in_and_changes_nothing(client):
    store, _, fulfilment, token = _signed_in(client)
    url = f"/stores/{store.code}/fulfilments/{fulfilment.id}/reject"
    response = client.post(
        url, data={"reason": "bogus", "csrf_token": token}, headers={"HX-Request": "true", "HX-Target": "fulfilment"}
    )
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    db.session.expire_all()
    assert fulfilment.status == "created"


def test_rejecting_with_a_reason_releases_the_stock(client):
    store, _, fulfilment, token = _signed_in(client)
    url = f"/stores/{store.code}/fulfilments/{fulfilment.id}/reject"
    data = {"reason": "damaged", "note": "box crushed", "version": fulfilment.version, "csrf_token": token}
    data["confirm"] = "1"
    response = client.post(url, data=data)
    assert response.status_code == 200
    db.session.expire_all()
    assert (fulfilment.status, fulfilment.status_reason) == ("rejected", "damaged: box crushed")


def test_a_scan_answers_with_the_product_or_a_clear_error(client):
    store, product, _, token = _signed_in(client)
    ok = client.post(f"/stores/{store.code}/scan", data={"code": product.gtin, "csrf_token": token})
    assert ok.status_code == 200
    assert "Pull laine mérinos" in ok.get_data(as_text=True)
    assert '"ok": true' in ok.headers["HX-Trigger"]
    bad = client.post(f"/stores/{store.code}/scan", data={"code": "0000", "csrf_token": token})
    assert bad.status_code == 422
    assert "Unknown code: 0000" in bad.get_data(as_text=True)
    assert '"ok": false' in bad.headers["HX-Trigger"]


def test_a_manager_count_goes_through_the_ledger_and_bad_counts_change_nothing(client):
    store, product, _, _ = _store_with_work()
    manager = make_user(stores=[store], role="manager")
    db.session.commit()
    login(client, manager.email, PASSWORD)
    token = csrf_token(client, "/")
    url = f"/stores/{store.code}/stock/{product.id}/count"
    for bad in ["-1", "abc", ""]:
        assert client.post(url, data={"on_hand": bad, "csrf_token": token}).status_code == 422
    below_reserved = client.post(url, data={"on_hand": "1", "csrf_token": token})
    assert below_reserved.status_code == 409
    assert client.post(url, data={"on_hand": "9", "reason": "inventaire", "csrf_token": token}).status_code == 200
    from app.core.inventory import stock

    assert stock.ledger_totals(store.id, product.id) == (9, 2)


def test_unknown_pages_get_a_translated_error_page(client):
    response = client.get("/nowhere", headers={"Accept-Language": "en"})
    assert response.status_code == 404
    assert "This page does not exist." in response.get_data(as_text=True)


def test_a_scan_without_javascript_gets_a_whole_page(client):
    store, product, _, token = _signed_in(client)
    page = client.post(f"/stores/{store.code}/scan", data={"code": product.sku, "csrf_token": token})
    assert "<html" in page.get_data(as_text=True)
    assert "Pull laine mérinos" in page.get_data(as_text=True)


def test_nul_characters_are_refused_before_they_reach_the_database(client):
    store, _, _, token = _signed_in(client)
    assert client.post(f"/stores/{store.code}/scan", data={"code": "12\x0034", "csrf_token": token}).status_code == 400
    assert client.get(f"/stores/{store.code}/stock", query_string={"q": "a\x00"}).status_code == 400
    assert client.get("/stores/PAR%00/queue").status_code == 400
    api = client.post("/api/v1/orders", data='{"channel": "a\\u0000"}', content_type="application/json")
    assert api.status_code == 400
    assert api.json["error"] == "bad_request"


def test_the_fulfilment_screen_says_why_the_order_came_to_this_store_in_the_readers_language(app, client):
    from decimal import Decimal

    from app.core.ordering import orders, sourcing
    from app.extensions import db
    from tests.conftest import login
    from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked

    here = make_location(code="HERE", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    paused = make_location(code="PAUSED", ship_paused=True)
    product = make_product()
    stocked(here, product, 2)
    stocked(paused, product, 2)
    order = orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    user = make_user(stores=[here], language="fr")
    db.session.commit()
    login(client, user.email, PASSWORD)
    body = client.get(f"/stores/HERE/fulfilments/{order.fulfilments[0].id}").get_data(as_text=True)
    assert "Pourquoi ce magasin ?" in body
    assert "peut fournir 1 sur 1 unité" in body and "choisi" in body  # singular: one unit
    assert "expédition en pause" in body
