"""The queue and fulfilment screens: countdowns, the poll, rejecting all or some lines, manager actions, holds."""

import re
from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.core.inventory import stock
from app.core.models import AuditEvent, Fulfilment, StockLevel
from app.core.models.base import utcnow
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import ACTOR, PASSWORD, collect_draft, make_location, make_product, make_user, ship_draft, stocked

HX = {"HX-Request": "true", "HX-Target": "fulfilment"}


@pytest.fixture
def floor(app):
    """Store HERE with one ship order of two lines (3 + 1 units); THERE can take what HERE gives back."""
    here = make_location(code="HERE", name="Lyon Part-Dieu", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    there = make_location(code="THERE", latitude=Decimal("45.76"), longitude=Decimal("4.84"))
    a, b = make_product(name="Pull laine mérinos"), make_product(name="Bonnet rayé")
    for store in (here, there):
        stocked(store, a, 10)
        stocked(store, b, 10)
    draft = ship_draft((a, 3), (b, 1), ref="W-7001")
    draft.ship_to.update(latitude=Decimal("48.86"), longitude=Decimal("2.33"))
    order = orders.create_order(draft, actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    [fulfilment] = order.fulfilments
    associate = make_user(stores=[here])
    manager = make_user(stores=[here], role="manager")
    db.session.commit()
    return {
        "here": here,
        "there": there,
        "a": a,
        "b": b,
        "order": order,
        "f": fulfilment,
        "associate": associate,
        "manager": manager,
    }


def _sign_in(client, user):
    login(client, user.email, PASSWORD)
    return csrf_token(client, "/")


def _lines(fulfilment):
    return sorted(fulfilment.lines, key=lambda line: line.id)


def _reserved(store, product):
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    db.session.refresh(level)
    return level.reserved


def _add_order(store, product, ref, method="ship"):
    draft = ship_draft((product, 1), ref=ref) if method == "ship" else collect_draft(store, (product, 1), ref=ref)
    order = orders.create_order(draft, actor=ACTOR)[0]
    return orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)


# --- the queue ---


def test_rows_count_down_to_their_deadline_with_words_not_only_colour(client, floor):
    here, a = floor["here"], floor["a"]
    now = utcnow()
    soon, late = _add_order(here, a, "W-SOON"), _add_order(here, a, "W-LATE")
    floor["f"].created_at, floor["f"].accept_by = now - timedelta(minutes=5), now + timedelta(minutes=55)
    soon.created_at, soon.accept_by = now - timedelta(minutes=50), now + timedelta(minutes=10)
    late.created_at, late.accept_by = now - timedelta(minutes=72), now - timedelta(minutes=12) + timedelta(seconds=5)
    db.session.commit()
    _sign_in(client, floor["associate"])
    body = client.get("/stores/HERE/queue").get_data(as_text=True)
    rows = re.findall(r'<a id="work-(\d+)" class="work-item ([^"]*)"', body)
    assert [int(i) for i, _ in rows] == [late.id, soon.id, floor["f"].id]  # most urgent first
    assert [c.split()[0] for _, c in rows] == ["u-late", "u-soon", "u-ok"]
    assert "late by 12 min" in body and "in 10 min" in body and "in 55 min" in body
    assert ">Late<" in body and ">Due soon<" in body and ">On time<" in body
    assert f'data-deadline="{late.accept_by.isoformat()}"' in body
    assert 'data-start="' in body
    assert 'src="/static/js/queue.js"' in body and "<script>" not in body
    assert 'data-hx-trigger="every 15s"' in body and 'data-hx-include="#queue-filters"' in body
    assert 'aria-live="polite"' in body


def test_the_poll_answers_with_the_tabs_and_list_only_and_keeps_the_filter(client, floor):
    here, a = floor["here"], floor["a"]
    collect = _add_order(here, a, "C-1", method="collect")
    db.session.commit()
    _sign_in(client, floor["associate"])
    poll = client.get(
        "/stores/HERE/queue?tab=accept&method=collect", headers={"HX-Request": "true", "HX-Target": "queue-live"}
    )
    body = poll.get_data(as_text=True)
    assert poll.status_code == 200 and "<html" not in body
    assert 'id="queue-filters"' not in body  # the filter is outside the refreshed region: never reset
    assert collect.order.reference in body and "WEB-W-7001" not in body
    assert f'data-latest="{collect.id}"' in body
    assert re.search(r'id="tab-accept"[^>]*>[^<]*<span class="count">2</span>', body)
    everything = client.get("/stores/HERE/queue", headers={"HX-Request": "true", "HX-Target": "queue-live"})
    assert "WEB-W-7001" in everything.get_data(as_text=True)
    assert client.get("/stores/HERE/queue?tab=nope").status_code == 404


def test_held_orders_show_as_held_in_the_queue(client, floor):
    floor["order"].needs_review = True
    db.session.commit()
    _sign_in(client, floor["associate"])
    body = client.get("/stores/HERE/queue").get_data(as_text=True)
    assert "Held for review" in body
    assert re.search(r'class="work-item [^"]*held', body)


# --- rejecting ---


def _reject(client, floor, token, data, confirm=True, **kwargs):
    """Post the reject form; confirm=True: the confirmation step's post (confirm=1), which rejects."""
    url = f"/stores/HERE/fulfilments/{floor['f'].id}/reject"
    data = {"csrf_token": token, "version": floor["f"].version, **data, **({"confirm": "1"} if confirm else {})}
    return client.post(url, data=data, headers=HX, **kwargs)


def test_rejecting_some_lines_through_the_form_reroutes_them_and_keeps_the_rest(client, floor):
    token = _sign_in(client, floor["associate"])
    form = client.get(f"/stores/HERE/fulfilments/{floor['f'].id}").get_data(as_text=True)
    line_a, line_b = _lines(floor["f"])
    assert f'name="qty-{line_a.id}"' in form and 'name="version"' in form
    assert "Reject the chosen units" in form and "Reject the whole order" in form
    response = _reject(
        client, floor, token, {"reason": "too_busy", "scope": "some", f"qty-{line_a.id}": "2", f"qty-{line_b.id}": ""}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "2 units given back" in response.headers["HX-Trigger"]
    db.session.expire_all()
    assert floor["f"].status == "created"
    assert (line_a.short, line_b.short) == (2, 0)
    assert _reserved(floor["here"], floor["a"]) == 1
    there = [f for f in floor["order"].fulfilments if f.location.code == "THERE"]
    assert [(f.status, f.lines[0].quantity) for f in there] == [("created", 2)]
    assert "Given back" in response.get_data(as_text=True)


def test_a_repeated_rejection_does_not_reject_twice(client, floor):
    token = _sign_in(client, floor["associate"])
    line_a, _ = _lines(floor["f"])
    data = {"reason": "cannot_find", "scope": "some", f"qty-{line_a.id}": "1"}
    version = floor["f"].version
    first = _reject(client, floor, token, data)
    assert first.status_code == 200
    again = client.post(
        f"/stores/HERE/fulfilments/{floor['f'].id}/reject",
        data={"csrf_token": token, "version": version, "confirm": "1", **data},
        headers=HX,
    )
    assert again.status_code == 409
    assert "changed since you opened it" in again.headers["HX-Trigger"]
    db.session.expire_all()
    assert line_a.short == 1
    assert len(floor["order"].fulfilments) == 2
    # a resent whole rejection is answered as done
    whole = _reject(client, floor, token, {"reason": "too_busy", "scope": "all"})
    assert whole.status_code == 200
    resend = _reject(client, floor, token, {"reason": "too_busy", "scope": "all"})
    assert resend.status_code == 200 and "Order rejected." in resend.headers["HX-Trigger"]
    db.session.expire_all()
    assert floor["f"].status == "rejected"
    assert db.session.scalar(select(db.func.count()).where(AuditEvent.action == "fulfilment.rejected")) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"reason": "too_busy", "scope": "some"}, "Choose at least one unit to reject."),
        ({"reason": "too_busy", "scope": "some", "qty-A": "4"}, "Must be a whole number from 0 to 3."),
        ({"reason": "too_busy", "scope": "some", "qty-A": "-1"}, "Must be a whole number from 0 to 3."),
        ({"reason": "too_busy", "scope": "some", "qty-A": "x"}, "Must be a whole number from 0 to 3."),
        ({"reason": "other", "scope": "some", "qty-A": "1"}, "Say why in the note when the reason is Other."),
        ({"reason": "other", "scope": "all", "note": "  "}, "Say why in the note when the reason is Other."),
        ({"reason": "nope", "scope": "all"}, "Not a valid choice."),
    ],
)
@pytest.mark.parametrize("confirm", [False, True])
def test_an_invalid_rejection_is_422_with_a_clear_message_and_changes_nothing(client, floor, data, message, confirm):
    token = _sign_in(client, floor["associate"])
    line_a, _ = _lines(floor["f"])
    data = {k.replace("qty-A", f"qty-{line_a.id}"): v for k, v in data.items()}
    response = _reject(client, floor, token, data, confirm=confirm)
    body = response.get_data(as_text=True)
    assert response.status_code == 422
    assert message in body
    assert 'aria-invalid="true"' in body
    db.session.expire_all()
    assert floor["f"].status == "created"
    assert line_a.short == 0
    assert _reserved(floor["here"], floor["a"]) == 3
    assert len(floor["order"].fulfilments) == 1


def test_a_rejection_without_the_version_it_was_shown_is_refused(client, floor):
    token = _sign_in(client, floor["associate"])
    url = f"/stores/HERE/fulfilments/{floor['f'].id}/reject"
    data = {"csrf_token": token, "reason": "too_busy", "scope": "all", "confirm": "1"}
    response = client.post(url, data=data, headers=HX)
    assert response.status_code == 422
    db.session.expire_all()
    assert floor["f"].status == "created"


def test_out_of_stock_through_the_screen_leaves_nothing_available(client, floor):
    token = _sign_in(client, floor["associate"])
    _, line_b = _lines(floor["f"])
    response = _reject(client, floor, token, {"reason": "out_of_stock", "scope": "some", f"qty-{line_b.id}": "1"})
    assert response.status_code == 200
    assert stock.available_to_promise(floor["here"], floor["b"]) == 0
    assert stock.available_to_promise(floor["here"], floor["a"]) == 7


# --- manager actions ---


def test_associates_get_403_on_manager_actions(client, floor):
    token = _sign_in(client, floor["associate"])
    floor["order"].needs_review = True
    db.session.commit()
    f = floor["f"].id
    assert client.post("/stores/HERE/ship-paused", data={"csrf_token": token, "paused": "1"}).status_code == 403
    assert client.get("/stores/HERE/reject-all").status_code == 403
    assert client.post("/stores/HERE/reject-all", data={"csrf_token": token, "reason": "too_busy"}).status_code == 403
    review = client.post(
        f"/stores/HERE/fulfilments/{f}/review", data={"csrf_token": token, "review-note": "ok", "action": "release"}
    )
    assert review.status_code == 403
    page = client.get("/stores/HERE/queue").get_data(as_text=True)
    assert "Pause ship-from-store" not in page and "Reject all open work" not in page
    db.session.expire_all()
    assert not floor["here"].ship_paused and floor["order"].needs_review and floor["f"].status == "created"


def test_a_manager_pauses_and_resumes_ship_from_store_and_everyone_sees_it(client, app, floor):
    token = _sign_in(client, floor["manager"])
    page = client.get("/stores/HERE/queue").get_data(as_text=True)
    assert "Pause ship-from-store" in page
    for _ in range(2):  # a resend changes nothing more
        response = client.post("/stores/HERE/ship-paused", data={"csrf_token": token, "paused": "1"})
        assert response.status_code == 303
    db.session.expire_all()
    assert floor["here"].ship_paused
    audits = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "location.settings")).all()
    assert [a.after for a in audits] == [{"ship_paused": True}]
    page = client.get("/stores/HERE/queue").get_data(as_text=True)
    assert "Resume ship-from-store" in page and "Ship-from-store is paused." in page
    other = app.test_client()
    login(other, floor["associate"].email, PASSWORD)
    assert "Ship-from-store is paused." in other.get("/stores/HERE/queue").get_data(as_text=True)
    poll = other.get("/stores/HERE/queue", headers={"HX-Request": "true", "HX-Target": "queue-live"})
    assert "Ship-from-store is paused." in poll.get_data(as_text=True)
    client.post("/stores/HERE/ship-paused", data={"csrf_token": token, "paused": "0"})
    db.session.expire_all()
    assert not floor["here"].ship_paused
    assert client.post("/stores/HERE/ship-paused", data={"csrf_token": token, "paused": "maybe"}).status_code == 400


def test_a_manager_rejects_all_open_work_after_confirming_with_a_reason(client, floor):
    here, a = floor["here"], floor["a"]
    accepted = _add_order(here, a, "W-ACC")
    orders.accept_fulfilment(accepted, actor=ACTOR)
    picking = _add_order(here, a, "W-PICK")
    orders.accept_fulfilment(picking, actor=ACTOR)
    orders.transition(picking, "picking", actor=ACTOR)
    db.session.commit()
    token = _sign_in(client, floor["manager"])
    confirm = client.get("/stores/HERE/reject-all").get_data(as_text=True)
    assert "2 orders not yet being picked" in confirm
    missing = client.post("/stores/HERE/reject-all", data={"csrf_token": token, "reason": "other", "note": ""})
    assert missing.status_code == 422
    assert "Say why in the note" in missing.get_data(as_text=True)
    done = client.post(
        "/stores/HERE/reject-all", data={"csrf_token": token, "reason": "too_busy"}, follow_redirects=True
    )
    assert "2 orders given back and sent to other stores." in done.get_data(as_text=True)
    db.session.expire_all()
    assert (floor["f"].status, accepted.status, picking.status) == ("rejected", "rejected", "picking")
    again = client.post(
        "/stores/HERE/reject-all", data={"csrf_token": token, "reason": "too_busy"}, follow_redirects=True
    )
    assert "Nothing left to give back." in again.get_data(as_text=True)


# --- review holds ---


def test_a_held_order_shows_a_banner_and_offers_no_start_picking(client, floor):
    floor["order"].needs_review = True
    orders.accept_fulfilment(floor["f"], actor=ACTOR)
    db.session.commit()
    _sign_in(client, floor["associate"])
    body = client.get(f"/stores/HERE/fulfilments/{floor['f'].id}").get_data(as_text=True)
    assert "Held for review." in body
    assert "Start picking" not in body
    assert "Release for picking" not in body  # managers only


def test_a_manager_releases_a_held_order_with_a_note_shown_from_the_audit(client, floor):
    floor["order"].needs_review = True
    db.session.commit()
    token = _sign_in(client, floor["manager"])
    url = f"/stores/HERE/fulfilments/{floor['f'].id}/review"
    page = client.get(f"/stores/HERE/fulfilments/{floor['f'].id}").get_data(as_text=True)
    assert "Release for picking" in page and "Cancel the order" in page
    empty = client.post(url, data={"csrf_token": token, "review-note": " ", "action": "release"}, headers=HX)
    assert empty.status_code == 422
    db.session.expire_all()
    assert floor["order"].needs_review
    for _ in range(2):
        ok = client.post(
            url, data={"csrf_token": token, "review-note": "ID checked by phone", "action": "release"}, headers=HX
        )
        assert ok.status_code == 200
    db.session.expire_all()
    assert not floor["order"].needs_review
    assert db.session.scalar(select(db.func.count()).where(AuditEvent.action == "order.review_released")) == 1
    body = client.get(f"/stores/HERE/fulfilments/{floor['f'].id}").get_data(as_text=True)
    assert "ID checked by phone" in body and "Held for review." not in body


def test_a_manager_cancels_a_held_order_with_a_note(client, floor):
    floor["order"].needs_review = True
    db.session.commit()
    token = _sign_in(client, floor["manager"])
    url = f"/stores/HERE/fulfilments/{floor['f'].id}/review"
    response = client.post(
        url, data={"csrf_token": token, "review-note": "Fraud confirmed", "action": "cancel"}, headers=HX
    )
    assert response.status_code == 200
    db.session.expire_all()
    assert (floor["order"].status, floor["f"].status, floor["f"].status_reason) == (
        "cancelled",
        "cancelled",
        "Fraud confirmed",
    )
    assert _reserved(floor["here"], floor["a"]) == 0
    not_held = _add_order(floor["here"], floor["a"], "W-OK")
    db.session.commit()
    refused = client.post(
        f"/stores/HERE/fulfilments/{not_held.id}/review",
        data={"csrf_token": token, "review-note": "x", "action": "cancel"},
        headers=HX,
    )
    assert refused.status_code == 409
    db.session.expire_all()
    assert db.session.get(Fulfilment, not_held.id).status == "created"


# --- open work only: a store's closed history changes neither the counts nor the work done to show them ---

CLOSED = ("shipped", "collected", "cancelled", "rejected", "expired")


def _closed_history(store, count):
    """Orders long done at the store: one closed fulfilment each, written directly (no lines needed)."""
    from app.core.models import Order

    for n in range(count):
        order = Order(
            channel="web",
            external_ref=f"OLD-{store.code}-{n}",
            fingerprint="old",
            customer_name="Old customer",
            delivery_method="ship",
            status="cancelled" if CLOSED[n % len(CLOSED)] == "cancelled" else "completed",
        )
        order.fulfilments.append(Fulfilment(location_id=store.id, status=CLOSED[n % len(CLOSED)]))
        db.session.add(order)
    db.session.commit()


def _tabs(client):
    from tests.factories import sql_statements

    with sql_statements() as seen:
        body = client.get("/stores/HERE/queue", headers={"HX-Request": "true", "HX-Target": "queue-live"}).get_data(
            as_text=True
        )
    counts = re.findall(r'id="tab-(\w+)"[^>]*>[^<]*<span class="count">(\d+)</span>', body)
    [latest] = re.findall(r'data-latest="(\d+)"', body)
    return {tab: int(n) for tab, n in counts}, len(seen), int(latest)


def test_the_queue_counts_open_work_only_whatever_the_stores_history(client, floor):
    here, there, a = floor["here"], floor["there"], floor["a"]
    picking = _add_order(here, a, "W-PICK")
    orders.transition(picking, "accepted", actor=ACTOR)
    collect = _add_order(here, a, "C-READY", method="collect")
    for status in ("accepted", "picking", "picked", "ready_for_pickup"):
        orders.transition(collect, status, actor=ACTOR)
    _add_order(there, a, "W-ELSEWHERE")
    db.session.commit()
    _sign_in(client, floor["associate"])
    expected = {"accept": 1, "pick": 1, "pack": 0, "ship": 0, "collect": 1}
    counts, statements, latest = _tabs(client)
    assert counts == expected
    assert latest == collect.id
    _closed_history(here, 250)
    _closed_history(there, 50)
    counts_after, statements_after, latest_after = _tabs(client)
    assert counts_after == expected
    assert statements_after == statements
    newest = db.session.scalar(
        select(Fulfilment.id).where(Fulfilment.location_id == here.id).order_by(Fulfilment.id.desc())
    )
    assert latest_after == newest
    # Each tab lists its own open work and nothing closed.
    for tab, shown in (("accept", floor["f"]), ("pick", picking), ("collect", collect)):
        body = client.get(f"/stores/HERE/queue?tab={tab}").get_data(as_text=True)
        assert [int(i) for i in re.findall(r'<a id="work-(\d+)"', body)] == [shown.id]


def _packed_here(store):
    """A fulfilment of `store` packed with a label of the built-in carrier, its ready-by long gone."""
    from tests.core.test_packing import finished, picked_fulfilment

    fulfilment = finished(picked_fulfilment(1, store=store))
    fulfilment.ready_by = utcnow() - timedelta(hours=6)
    db.session.commit()
    return fulfilment


def test_a_packed_order_waiting_for_its_carrier_is_not_shown_late(client, floor):
    packed = _packed_here(floor["here"])
    carrier = packed.parcels[0].label.carrier
    token = _sign_in(client, floor["manager"])
    page = client.get("/stores/HERE/collection-times")
    assert page.status_code == 200 and carrier.name in page.text
    coming = (utcnow() + timedelta(hours=1)).astimezone(ZoneInfo("Europe/Paris"))
    response = client.post(
        "/stores/HERE/collection-times",
        data={"csrf_token": token, f"collect-{carrier.id}": coming.strftime("%H:%M")},
    )
    assert response.status_code == 303
    queue = client.get("/stores/HERE/queue?tab=ship").text
    row = re.search(rf'id="work-{packed.id}".*?</a>', queue, re.S).group(0)
    assert "late by" not in row and "u-late" not in row
    assert "Carrier collects" in row


def test_a_collection_time_that_is_not_a_time_is_refused_and_changes_nothing(client, floor):
    packed = _packed_here(floor["here"])
    carrier = packed.parcels[0].label.carrier
    token = _sign_in(client, floor["manager"])
    response = client.post(
        "/stores/HERE/collection-times", data={"csrf_token": token, f"collect-{carrier.id}": "x" * 5000}
    )
    assert response.status_code == 422
    assert "for example 17:30" in response.text
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "location.collection_time")) is None


def test_associates_cannot_set_collection_times(client, floor):
    token = _sign_in(client, floor["associate"])
    assert client.get("/stores/HERE/collection-times").status_code == 403
    assert client.post("/stores/HERE/collection-times", data={"csrf_token": token}).status_code == 403
