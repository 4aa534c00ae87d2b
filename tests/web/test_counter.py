"""Click & collect at the counter: finding the order, the hand-over (code, bags, ID check, partial), holds, the
put-back list by scans, and the customer's arrival on the queue."""

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.core.floor import pickups
from app.core.models import AuditEvent, Fulfilment, Pickup, StockLevel, StockMovement
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders
from app.extensions import db
from app.formatting import store_time
from tests.conftest import csrf_token, login
from tests.factories import ACTOR, PASSWORD, collect_draft, make_location, make_product, make_user, stocked

HX = {"HX-Request": "true", "HX-Target": "pickup"}


def _picked(store, quantities=(2, 1), *, name="Giulia Rossi", email="giulia@example.it", phone="+39 345 678 9012"):
    products = [make_product(name=f"Pull {i} {store.code}") for i in range(len(quantities))]
    for product in products:
        stocked(store, product, 5)
    draft = collect_draft(store, *zip(products, quantities, strict=True))
    draft.customer_name, draft.customer_email = name, email
    order, _ = orders.create_order(draft, actor=ACTOR)
    order.customer_phone = phone
    fulfilment = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    return products, fulfilment


def _ready(store, quantities=(2, 1), *, bags=None, slot="A-01", **customer):
    products, fulfilment = _picked(store, quantities, **customer)
    (shelf,) = pickups.add_slots(store, [slot], actor=ACTOR)
    if bags:
        pickups.set_bags(fulfilment, bags, actor=ACTOR)
    pickups.stage(fulfilment, shelf, actor=ACTOR)
    return products, fulfilment


def _level(store, product):
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    db.session.refresh(level)
    on_hand, reserved = db.session.execute(
        select(func.sum(StockMovement.on_hand_delta), func.sum(StockMovement.reserved_delta)).where(
            StockMovement.location_id == store.id, StockMovement.product_id == product.id
        )
    ).one()
    assert (on_hand or 0, reserved or 0) == (level.on_hand, level.reserved)  # the ledger explains the level
    return level.on_hand, level.reserved


@pytest.fixture
def shop(app, client):
    """Store HERE (bag scans required) with one ready order of two lines (2 + 1 units) on slot A-01, and store
    THERE with its own; HERE's associate is signed in."""
    here, there = make_location(code="HERE"), make_location(code="THERE")
    products, fulfilment = _ready(here)
    _, elsewhere = _ready(there, name="Marco Bianchi", email="marco@example.it", phone="+39 333 111 2222")
    associate = make_user(stores=[here])
    manager = make_user(stores=[here], role="manager")
    stranger = make_user(stores=[there])
    db.session.commit()
    login(client, associate.email, PASSWORD)
    return {
        "here": here,
        "there": there,
        "products": products,
        "f": fulfilment,
        "elsewhere": elsewhere,
        "associate": associate,
        "manager": manager,
        "stranger": stranger,
        "token": csrf_token(client, f"/stores/{here.code}/counter"),
    }


def _page(shop, fulfilment=None):
    return f"/stores/{shop['here'].code}/pickups/{(fulfilment or shop['f']).id}"


def _search(client, shop, text, headers=None):
    return client.post(
        f"/stores/{shop['here'].code}/counter", data={"q": text, "csrf_token": shop["token"]}, headers=headers or {}
    )


def _collect(client, shop, fulfilment=None, **fields):
    fulfilment = fulfilment or shop["f"]
    data = {"csrf_token": shop["token"], "by": "code", **fields}
    if "bag" not in data:
        data["bag"] = [pickups.bag_barcode(fulfilment.id, b.number) for b in fulfilment.pickup.bag_rows]
    return client.post(_page(shop, fulfilment) + "/collect", data=data, headers=HX)


def _fresh(fulfilment) -> Fulfilment:
    db.session.expire_all()
    return db.session.get(Fulfilment, fulfilment.id)


def _text(response) -> str:
    return response.get_data(as_text=True)


# --- finding the order ---


def test_the_code_in_any_case_with_or_without_the_dash_opens_the_pickup_with_the_code_filled(client, shop):
    code = shop["f"].pickup.code
    for text in (code.lower(), pickups.format_code(code), pickups.format_code(code).lower()):
        response = _search(client, shop, text)
        assert response.status_code == 303, text
        assert response.headers["Location"].endswith(_page(shop))
    page = _text(client.get(_page(shop)))
    assert f'value="{pickups.format_code(code)}"' in page
    # through htmx the browser is sent there without a reload
    response = _search(client, shop, code, headers={"HX-Request": "true", "HX-Target": "counter-results"})
    assert response.status_code == 204 and response.headers["HX-Location"] == _page(shop)


@pytest.mark.parametrize("text", ["giulia ross", "GIULIA@example.it", "345 678 9012", "order", "bag"])
def test_a_name_phone_email_order_number_or_bag_label_opens_the_one_open_order(client, shop, text):
    f = shop["f"]
    text = {"order": f.order.reference, "bag": pickups.bag_barcode(f.id, 1)}.get(text, text)
    response = _search(client, shop, text)
    assert response.status_code == 303 and response.headers["Location"].endswith(_page(shop))
    assert 'id="pickup-code" name="code" value=""' in _text(client.get(_page(shop)))  # no code filled in


def test_several_orders_are_listed_with_status_customer_and_slot(client, shop):
    _, other = _ready(shop["here"], slot="B-02")
    db.session.commit()
    response = _search(client, shop, "Giulia", headers={"HX-Request": "true", "HX-Target": "counter-results"})
    page = _text(response)
    assert response.status_code == 200
    for f in (shop["f"], other):
        assert f.order.reference in page and _page(shop, f) in page
    assert "Slot A-01" in page and "Slot B-02" in page and "On the hold shelf" in page
    response = _search(client, shop, "nobody-like-this")
    assert response.status_code == 404 and "No click &amp; collect order of this store matches" in _text(response)


def test_another_stores_associate_cannot_open_or_find_this_stores_pickup(app, client, shop):
    client.post("/logout", data={"csrf_token": shop["token"]})
    login(client, shop["stranger"].email, PASSWORD)
    there = shop["there"].code
    assert client.get(f"/stores/{there}/pickups/{shop['f'].id}").status_code == 404
    assert client.get(f"/stores/{there}/pickups/{shop['elsewhere'].id}").status_code == 200
    assert client.get(_page(shop)).status_code == 403  # not a member of HERE
    token = csrf_token(client, f"/stores/{there}/counter")
    response = client.post(f"/stores/{there}/counter", data={"q": shop["f"].pickup.code, "csrf_token": token})
    assert response.status_code == 404
    response = client.post(
        f"/stores/{there}/pickups/{shop['f'].id}/collect",
        data={"csrf_token": token, "code": shop["f"].pickup.code},
    )
    assert response.status_code == 404 and _fresh(shop["f"]).status == S.READY_FOR_PICKUP


# --- the pickup page and the hand-over ---


def test_the_pickup_page_shows_customer_items_bags_slot_and_deadline_in_store_time(client, shop):
    f = shop["f"]
    pickups.customer_arrived(f.pickup, note="red Fiat, bay 3")
    db.session.commit()
    page = _text(client.get(_page(shop)))
    assert "Giulia Rossi" in page and f.order.reference in page and "Customer is here" in page
    assert "Bag 1 of 1 — slot A-01" in page and "red Fiat, bay 3" in page
    assert "Hold ends" in page and "11:59" in page  # 23:59 on the store's clock, 22:59 UTC in December
    for product in shop["products"]:
        assert product.sku in page


def test_a_wrong_code_is_refused_changes_nothing_is_counted_and_locks_after_five(client, shop):
    f, store = shop["f"], shop["here"]
    before = [_level(store, p) for p in shop["products"]]
    for attempt in range(1, pickups.WRONG_CODES_ALLOWED + 1):
        response = _collect(client, shop, code="bbb-bbb")
        assert response.status_code == 403
        assert _fresh(f).status == S.READY_FOR_PICKUP
        assert [_level(store, p) for p in shop["products"]] == before
        pickup = db.session.get(Pickup, f.pickup.id)
        if attempt < pickups.WRONG_CODES_ALLOWED:
            assert "This is not the pickup code of this order." in _text(response)
            assert pickup.failed_attempts == attempt and pickup.locked_until is None
    page = _text(response)
    assert pickup.locked_until is not None
    assert "Too many wrong codes for this order" in page and 'id="id-kind"' in page  # the ID check is offered
    # locked: even the right code is refused for now
    response = _collect(client, shop, code=pickup.code)
    assert response.status_code == 429 and _fresh(f).status == S.READY_FOR_PICKUP
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "pickup.collected")) == 0


def test_a_missing_bag_is_named_and_scanning_every_bag_hands_the_order_over_once(client, shop):
    store = shop["here"]
    products, f = _ready(store, (1,), bags=2, slot="C-03")
    db.session.commit()
    first, second = (pickups.bag_barcode(f.id, n) for n in (1, 2))
    response = _collect(client, shop, f, code=f.pickup.code, bag=[first])
    assert response.status_code == 409 and "2/2 not scanned" in _text(response)
    assert _fresh(f).status == S.READY_FOR_PICKUP
    # the scan box ticks a bag, and says when a label is not this order's
    response = client.post(
        _page(shop, f) + "/bags", data={"csrf_token": shop["token"], "scan": second.lower(), "bag": [first]}, headers=HX
    )
    page = _text(response)
    assert response.status_code == 200 and "Bag 2 of 2 scanned." in page
    assert page.count(f'name="bag" value="{second}"') == 2 and page.count(f'name="bag" value="{first}"') == 2
    response = client.post(
        _page(shop, f) + "/bags", data={"csrf_token": shop["token"], "scan": "BAG-999999-1"}, headers=HX
    )
    assert response.status_code == 422 and "This is not a bag label of this order." in _text(response)
    # scanning the customer's QR there fills the code
    response = client.post(_page(shop, f) + "/bags", data={"csrf_token": shop["token"], "scan": f.pickup.code})
    assert f'value="{pickups.format_code(f.pickup.code)}"' in _text(response)
    response = _collect(client, shop, f, code=f.pickup.code, bag=[first, second])
    assert response.status_code == 200 and "handed over" in _text(response)
    assert _fresh(f).status == S.COLLECTED and _level(store, products[0]) == (4, 0)
    # a double tap or a resend: no failure, nothing consumed twice
    response = _collect(client, shop, f, code=f.pickup.code, bag=[first, second])
    assert response.status_code == 200 and _level(store, products[0]) == (4, 0)


def test_without_the_code_an_id_check_is_required_in_full_and_audited(client, shop):
    f = shop["f"]
    bag = pickups.bag_barcode(f.id, 1)
    page = _text(client.post(_page(shop) + "/bags", data={"csrf_token": shop["token"], "scan": bag}))
    assert f"?by=id&amp;bag={bag}" in page  # "Customer has no code" keeps the bags already scanned
    page = _text(client.get(_page(shop) + f"?by=id&bag={bag}"))
    assert 'id="id-kind"' in page and 'id="pickup-code"' not in page
    assert f'name="bag" value="{bag}"' in page and "✓" in page
    response = _collect(client, shop, by="id", id_kind="passport", id_digits="", id_reason="")
    page = _text(response)
    assert response.status_code == 422 and 'id="id_digits-error"' in page and 'id="id_reason-error"' in page
    assert _fresh(f).status == S.READY_FOR_PICKUP
    response = _collect(client, shop, by="id", id_kind="passport", id_digits="4421", id_reason="phone lost")
    assert response.status_code == 200 and _fresh(f).status == S.COLLECTED
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pickup.collected"))
    assert audit.after["by"] == "id_check"
    assert audit.after["id_check"]["kind"] == "passport" and audit.after["id_check"]["last_digits"] == "4421"
    assert audit.after["id_check"]["reason"] == "phone lost" and audit.actor_user_id == shop["associate"].id
    assert "4421" in _text(client.get(_page(shop)))


def test_a_partial_collection_consumes_what_was_taken_and_puts_the_rest_on_the_put_back_list(client, shop):
    f, store, (first, second) = shop["f"], shop["here"], shop["products"]
    lines = {line.product_id: line for line in f.lines}
    taken = {f"qty-{lines[first.id].id}": "1", f"qty-{lines[second.id].id}": ""}  # blank: all of it
    response = _collect(client, shop, code=f.pickup.code, **taken)
    assert response.status_code == 422 and 'id="reason-error"' in _text(response)  # say why the rest stays
    assert _fresh(f).status == S.READY_FOR_PICKUP and _level(store, first) == (5, 2)
    response = _collect(client, shop, code=f.pickup.code, **{f"qty-{lines[first.id].id}": "9"})
    assert response.status_code == 422 and _fresh(f).status == S.READY_FOR_PICKUP
    response = _collect(client, shop, code=f.pickup.code, reason="too_small", **taken)
    assert response.status_code == 200 and "1 unit waits on the put-back list." in _text(response)
    assert _fresh(f).status == S.COLLECTED
    assert _level(store, first) == (4, 1)  # one left the store; one waits on the shelf, off sale
    assert _level(store, second) == (4, 0)
    page = _text(client.get(f"/stores/{store.code}/put-back"))
    assert f.order.reference in page and "Partly collected: Too small" in page and "Slot A-01" in page
    assert re.search(r"1 × Pull 0 HERE", page)


def test_put_back_by_scans_selects_the_entry_then_puts_each_item_back_once(client, shop):
    f, store, (first, second) = shop["f"], shop["here"], shop["products"]
    line = next(line for line in f.lines if line.product_id == first.id)
    _collect(client, shop, code=f.pickup.code, reason="damaged", **{f"qty-{line.id}": "0"})
    assert _level(store, first) == (5, 2)
    url = f"/stores/{store.code}/put-back/scan"
    hx = {"HX-Request": "true", "HX-Target": "put-back"}
    slot = pickups.slot_from_scan(store, "A-01")
    response = client.post(url, data={"csrf_token": shop["token"], "code": slot.barcode}, headers=hx)
    page = _text(response)
    assert response.status_code == 200 and f'name="entry" value="{f.id}"' in page
    assert "0 of 2 units put back" in page
    response = client.post(
        url, data={"csrf_token": shop["token"], "code": second.sku, "entry": f.id, "scan_id": "scan-0001"}, headers=hx
    )
    assert response.status_code == 422 and "does not wait to be put back from order" in _text(response)
    for scan_id, reserved in (("scan-0002", 1), ("scan-0002", 1), ("scan-0003", 0)):  # the second is a resend
        response = client.post(
            url, data={"csrf_token": shop["token"], "code": first.gtin, "entry": f.id, "scan_id": scan_id}, headers=hx
        )
        assert response.status_code == 200, _text(response)
        assert _level(store, first) == (5, reserved)
    assert _level(store, first) == (5, 0) and _level(store, second) == (4, 0)
    assert "Everything of order" in _text(response)
    assert pickups.put_back_list(store) == [] and "Nothing waits to be put back." in _text(response)
    moves = db.session.scalar(
        select(func.count()).where(StockMovement.product_id == first.id, StockMovement.reason == "put back")
    )
    assert moves == 2


def test_an_expired_hold_waits_on_the_put_back_list_until_put_back_whole(client, shop):
    f, store, (first, _second) = shop["f"], shop["here"], shop["products"]
    pickups.expire(f, actor=ACTOR, now=f.pickup.expires_at + timedelta(minutes=1))
    db.session.commit()
    assert _level(store, first) == (5, 2)  # still off sale
    page = _text(client.get(f"/stores/{store.code}/put-back"))
    assert f.order.reference in page and "Hold ended: not collected" in page
    page = _text(client.get(f"/stores/{store.code}/put-back?entry={f.id}"))
    assert "0 of 3 units put back" in page
    page = _text(client.get(_page(shop)))
    assert "Expired" in page and f"/put-back?entry={f.id}" in page and 'id="handover-form"' not in page
    url = f"/stores/{store.code}/put-back/{f.id}/restock"
    response = client.post(url, data={"csrf_token": shop["token"]})
    assert response.status_code == 200 and "3 units of order" in _text(response)
    assert _level(store, first) == (5, 0)
    response = client.post(url, data={"csrf_token": shop["token"]})  # again: nothing left, nothing changed
    assert response.status_code == 200 and "waits to be put back any more" in _text(response)
    assert _level(store, first) == (5, 0)


def test_a_manager_changes_the_end_of_a_hold_an_associate_cannot(client, shop):
    f, store = shop["f"], shop["here"]
    before = f.pickup.expires_at
    zone = ZoneInfo(store.timezone)
    day = (datetime.now(UTC).astimezone(zone) + timedelta(days=12)).date()
    url = _page(shop) + "/hold"
    assert 'id="expires-on"' not in _text(client.get(_page(shop)))
    assert client.post(url, data={"csrf_token": shop["token"], "expires_on": day.isoformat()}).status_code == 403
    client.post("/logout", data={"csrf_token": shop["token"]})
    login(client, shop["manager"].email, PASSWORD)
    token = csrf_token(client, _page(shop))
    response = client.post(url, data={"csrf_token": token, "expires_on": "not a day"}, headers=HX)
    assert response.status_code == 422 and db.session.get(Pickup, f.pickup.id).expires_at == before
    response = client.post(url, data={"csrf_token": token, "expires_on": "2001-01-01"}, headers=HX)
    assert response.status_code == 422 and "must be in the future" in _text(response)
    response = client.post(url, data={"csrf_token": token, "expires_on": day.isoformat()}, headers=HX)
    assert response.status_code == 200 and "The hold now ends" in _text(response)
    db.session.expire_all()
    ends = db.session.get(Pickup, f.pickup.id).expires_at
    ends = ends if ends.tzinfo else ends.replace(tzinfo=UTC)
    assert ends.astimezone(zone).date() == day and f"{ends.astimezone(zone):%H:%M}" == "23:59"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "pickup.hold_changed"))


# --- the queue ---


def test_the_queue_shows_an_arrival_at_once_first_with_how_long_they_have_waited(app, client, shop):
    store, f = shop["here"], shop["f"]
    _, later = _ready(store, (1,), slot="B-02", name="Anna Verdi", email="anna@example.it", phone="")
    pickups.customer_arrived(later.pickup, now=datetime.now(UTC) - timedelta(minutes=3, seconds=10))
    db.session.commit()
    response = client.get(
        f"/stores/{store.code}/queue?tab=collect", headers={"HX-Request": "true", "HX-Target": "queue-live"}
    )
    page = _text(response)
    banner = f"Customer here for order {later.order.reference} — waiting 3 min"
    assert banner in page and page.index(banner) < page.index('class="tabs"')
    assert f'data-arrival="{later.pickup.id}"' in page and _page(shop, later) in page
    assert page.index(f"work-{later.id}") < page.index(f"work-{f.id}")  # the arrived order first
    assert page.count("Customer is here") == 1  # its row says so
    with app.test_request_context():
        held = store_time(later.pickup.expires_at, store)
    assert f"Held until {held}" in page  # an order on the shelf: until when it is held, not its old ready-by
    page = _text(client.get(f"/stores/{store.code}/queue?tab=accept"))
    assert banner in page and "js/arrivals.js" in page and "sounds/arrival.wav" in page
    page = _text(client.get(f"/stores/{store.code}/counter"))
    assert "Customers here" in page and "Waiting 3 min" in page
    assert page.index(later.order.reference) < page.index(f.order.reference)
    # the nav links to the counter and the put-back list
    assert f'href="/stores/{store.code}/counter"' in page and f'href="/stores/{store.code}/put-back"' in page


def test_the_chime_is_a_small_sound_served_by_the_app_itself(client, shop):
    with client.get("/static/sounds/arrival.wav") as response:
        assert response.status_code == 200 and response.data[:4] == b"RIFF" and len(response.data) < 20_000
    policy = client.get(f"/stores/{shop['here'].code}/counter").headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "media-src" not in policy  # the chime comes from the app, no CDN


def test_the_counter_speaks_french_and_italian(client, shop):
    for language, word in (("fr", "Clients sur place"), ("it", "Clienti arrivati")):
        client.post("/language", data={"language": language, "csrf_token": shop["token"], "next": "/"})
        page = _text(client.get(f"/stores/{shop['here'].code}/counter"))
        assert word in page, language


def test_the_partial_collection_offers_only_the_reasons_the_store_chose(client, shop):
    from app.core.ordering import rules

    rules.update_location(shop["here"], {"pickup_refusal_reasons": ["too_large", "damaged"]}, actor=ACTOR)
    db.session.commit()
    html = _text(client.get(_page(shop)))
    offered = re.findall(r'<option value="([a-z_]+)"', html[html.index('id="refusal-reason"') :].split("</select>")[0])
    assert offered == ["too_large", "damaged"]
