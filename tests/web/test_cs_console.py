"""The customer service console's order page, its actions and the exception queue (app.web.cs): who may open them,
what the page tells, each action's success and its refusal (nothing changed), repeats acting once, CSRF."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from app.core.inventory import stock
from app.core.models import AuditEvent, Fulfilment, Order, OutboundEmail
from app.core.models import FulfilmentStatus as S
from app.core.ordering import orders, sourcing
from app.core.service import actions
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.core.test_payments import _after_commit, _order, _picked_at, _ship
from tests.core.test_pickups import _ready
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

D = Decimal


def _store(code, lat, lon, **kwargs):
    return make_location(code=code, latitude=D(str(lat)), longitude=D(str(lon)), **kwargs)


def _ship_order(*lines, name="Hélène Dupré"):
    draft = ship_draft(*lines)
    draft.ship_to.update(latitude=D("48.8686"), longitude=D("2.3314"))
    draft.customer_name, draft.customer_email, draft.customer_phone = name, "helene@example.fr", "+33611223344"
    return orders.create_order(draft, actor=ACTOR)[0]


def _events(order_id, action):
    return db.session.scalar(
        select(func.count())
        .select_from(AuditEvent)
        .where(
            AuditEvent.subject_type == "customer_order",
            AuditEvent.subject_id == str(order_id),
            AuditEvent.action == action,
        )
    )


@pytest.fixture
def people(app):
    store = make_location(code="FLOOR")
    found = {
        "associate": make_user(stores=[store]),
        "manager": make_user(stores=[store], role="manager"),
        "admin": make_user(role="admin"),
        "customer_service": make_user(role="customer_service"),
    }
    db.session.commit()
    return found


@pytest.fixture
def rejected(app):
    """A ship order a Paris store rejected (nothing else had stock then: flagged), Lyon now has both units, Lille one."""
    product = make_product()
    paris = _store("PAR", 48.87, 2.33, name="Paris Opéra", timezone="Europe/Paris")
    lyon, lille = _store("LYO", 45.76, 4.84, name="Lyon Part-Dieu"), _store("LIL", 50.63, 3.06, name="Lille")
    stocked(paris, product, 3)
    order = _ship_order((product, 2))
    sourcing.source_order(order, actor=ACTOR)
    (first,) = order.fulfilments
    sourcing.reject_and_reroute(first, reason="damaged", actor=ACTOR)
    stocked(lyon, product, 5)
    stocked(lille, product, 1)
    db.session.commit()
    return {"order": order.id, "fulfilment": first.id, "product": product, "lyon": lyon, "paris": paris}


def sign_in(client, person):
    login(client, person.email, PASSWORD)


def _post(client, url, data, token=None):
    return client.post(url, data={"csrf_token": token or csrf_token(client, "/cs"), **data})


def _text(response):
    return response.get_data(as_text=True)


# --- access -----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"), [("associate", 403), ("manager", 403), ("admin", 200), ("customer_service", 200)]
)
def test_only_customer_service_and_admins_open_the_order_page_and_the_queue(client, people, rejected, who, status):
    sign_in(client, people[who])
    assert client.get(f"/cs/orders/{rejected['order']}").status_code == status
    assert client.get("/cs/exceptions").status_code == status


@pytest.mark.parametrize("who", ["associate", "manager"])
def test_associates_and_managers_cannot_act_on_an_order(client, people, rejected, who):
    sign_in(client, people[who])
    token = csrf_token(client, "/")
    response = _post(client, f"/cs/orders/{rejected['order']}/note", {"note": "hello"}, token)
    assert response.status_code == 403
    assert _events(rejected["order"], "order.cs_note") == 0


def test_signed_out_people_are_sent_to_sign_in(client, rejected):
    for path in (f"/cs/orders/{rejected['order']}", "/cs/exceptions"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_an_unknown_order_is_not_found(client, people):
    sign_in(client, people["customer_service"])
    assert client.get("/cs/orders/999999").status_code == 404
    assert client.get("/cs/orders/0").status_code == 404


# --- the order page ---------------------------------------------------------------------------------------------


def test_the_order_page_tells_the_whole_story_on_the_stores_clock(client, people, rejected):
    order = db.session.get(Order, rejected["order"])
    fulfilment = db.session.get(Fulfilment, rejected["fulfilment"])
    fulfilment.ready_by = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # 00:30 on 2 March in Paris
    db.session.commit()
    sign_in(client, people["customer_service"])
    html = _text(client.get(f"/cs/orders/{order.id}"))
    assert order.reference in html and "Hélène Dupré" in html and "helene@example.fr" in html
    assert "+33611223344" in html and "English" in html  # the customer's language
    assert "Paris Opéra (PAR)" in html and "Rejected" in html and "damaged" in html
    assert "3/2/26, 12:30" in html  # ready by, on Paris's clock
    assert "Order received" in html and "Fulfilment: Rejected" in html  # the timeline, in words
    assert "Sourcing decisions" in html and "chosen" in html
    assert 'name="location" value="LYO"' in html  # Lyon covers every unit: selectable
    assert 'value="LIL" disabled' in html  # Lille has one of two: shown, not selectable
    assert 'name="csrf_token"' in html and "Needs customer service" in html


def test_the_page_is_in_french_for_a_french_reader(client, people, rejected):
    person = db.session.merge(people["customer_service"])
    person.language = "fr"
    db.session.commit()
    fulfilment = db.session.get(Fulfilment, rejected["fulfilment"])
    fulfilment.ready_by = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    db.session.commit()
    sign_in(client, person)
    html = _text(client.get(f"/cs/orders/{rejected['order']}"))
    assert 'lang="fr"' in html and "À traiter par le service client" in html
    assert "02/03/2026 00:30" in html  # ready by, on Paris's clock, as a French reader writes it


# --- a note ------------------------------------------------------------------------------------------------------


def test_a_note_is_added_once_and_a_missing_note_is_refused(client, people, rejected):
    sign_in(client, people["customer_service"])
    url = f"/cs/orders/{rejected['order']}/note"
    token = csrf_token(client, "/cs")
    missing = _post(client, url, {"note": "   "}, token)
    assert missing.status_code == 422 and "A note is required." in _text(missing)
    assert 'aria-invalid="true"' in _text(missing)
    assert _events(rejected["order"], "order.cs_note") == 0
    done = _post(client, url, {"note": "Customer called: wants it by Friday"}, token)
    assert done.status_code == 303 and done.headers["Location"].endswith(f"/cs/orders/{rejected['order']}")
    page = _text(client.get(done.headers["Location"]))
    assert "Note added to the order." in page and "Customer called: wants it by Friday" in page
    again = _post(client, url, {"note": "Customer called: wants it by Friday"}, token)  # a double submit
    assert again.status_code == 303
    assert _events(rejected["order"], "order.cs_note") == 1


def test_every_form_needs_its_csrf_token(client, people, rejected):
    sign_in(client, people["customer_service"])
    order_id, fulfilment_id = rejected["order"], rejected["fulfilment"]
    for path, data in (
        ("note", {"note": "x"}),
        (f"fulfilments/{fulfilment_id}/reroute", {"location": "LYO", "note": "x"}),
        ("goodwill", {"amount": "5", "number": "1", "note": "x"}),
    ):
        response = client.post(f"/cs/orders/{order_id}/{path}", data=data)
        assert response.status_code == 400, path
    assert _events(order_id, "order.cs_note") == 0 and _events(order_id, "order.cs_rerouted") == 0


# --- re-routing --------------------------------------------------------------------------------------------------


def test_a_rejected_fulfilment_is_rerouted_once_to_a_covering_location(client, people, rejected):
    sign_in(client, people["customer_service"])
    url = f"/cs/orders/{rejected['order']}/fulfilments/{rejected['fulfilment']}/reroute"
    token = csrf_token(client, "/cs")
    no_choice = _post(client, url, {"note": "customer agreed"}, token)
    assert no_choice.status_code == 422 and "Choose a location." in _text(no_choice)
    short = _post(client, url, {"location": "LIL", "note": "closest"}, token)
    assert short.status_code == 409 and "LIL does not have the stock" in _text(short)
    no_note = _post(client, url, {"location": "LYO", "note": ""}, token)
    assert no_note.status_code == 422 and "A note is required." in _text(no_note)
    assert _events(rejected["order"], "order.cs_rerouted") == 0
    assert stock.available_to_promise(rejected["lyon"], rejected["product"]) == 5
    done = _post(client, url, {"location": "LYO", "note": "customer agreed to wait"}, token)
    assert done.status_code == 303
    page = _text(client.get(done.headers["Location"]))
    assert "Re-routed to Lyon Part-Dieu (LYO)." in page and "Re-routed by customer service" in page
    again = _post(client, url, {"location": "LYO", "note": "customer agreed to wait"}, token)
    assert again.status_code == 409 and "Nothing of this fulfilment is left to re-route" in _text(again)
    assert _events(rejected["order"], "order.cs_rerouted") == 1
    assert stock.available_to_promise(rejected["lyon"], rejected["product"]) == 3


def test_a_fulfilment_being_picked_cannot_be_rerouted(client, people, rejected):
    order = db.session.get(Order, rejected["order"])
    picking = orders.assign_fulfilment(order, rejected["lyon"], {order.lines[0]: 2}, actor=ACTOR)
    orders.transition(picking, S.ACCEPTED, actor=ACTOR)
    orders.transition(picking, S.PICKING, actor=ACTOR)
    db.session.commit()
    sign_in(client, people["customer_service"])
    response = _post(
        client, f"/cs/orders/{order.id}/fulfilments/{picking.id}/reroute", {"location": "PAR", "note": "faster"}
    )
    assert response.status_code == 409 and "can no longer be re-routed" in _text(response)
    assert db.session.get(Fulfilment, picking.id).status == S.PICKING
    assert _events(order.id, "order.cs_rerouted") == 0


def test_a_fulfilment_of_another_order_is_not_found(client, people, rejected):
    other = _ship_order((rejected["product"], 1), name="Someone Else")
    db.session.commit()
    sign_in(client, people["customer_service"])
    response = _post(
        client, f"/cs/orders/{other.id}/fulfilments/{rejected['fulfilment']}/reroute", {"location": "LYO", "note": "x"}
    )
    assert response.status_code == 404


# --- goodwill ----------------------------------------------------------------------------------------------------


@pytest.fixture
def shipped(app):
    order, _ = _order(quantities=(2,), prices=("40.00",), fee=None)
    order.customer_name = "Marco Bianchi"
    _ship(_picked_at(order, make_location(), {order.lines[0]: 2}))
    _after_commit()
    return order.id


def test_a_goodwill_refund_above_the_limit_is_refused_and_a_double_submit_refunds_once(client, people, shipped):
    sign_in(client, people["customer_service"])
    page = _text(client.get(f"/cs/orders/{shipped}"))
    assert "At most €50.00 per order; €50.00 left." in page and 'name="number" value="1"' in page
    url = f"/cs/orders/{shipped}/goodwill"
    token = csrf_token(client, "/cs")
    over = _post(client, url, {"amount": "60", "number": "1", "note": "late delivery"}, token)
    assert over.status_code == 422 and "Goodwill refunds on one order come to at most" in _text(over)
    assert 'id="goodwill-amount-error"' in _text(over)
    nonsense = _post(client, url, {"amount": "abc", "number": "1", "note": "late delivery"}, token)
    assert nonsense.status_code == 422
    assert actions.goodwill_refunds(db.session.get(Order, shipped)) == []
    first = _post(client, url, {"amount": "15", "number": "1", "note": "late delivery"}, token)
    assert first.status_code == 303
    assert "Goodwill refund of €15.00 sent." in _text(client.get(first.headers["Location"]))
    again = _post(client, url, {"amount": "15", "number": "1", "note": "late delivery"}, token)
    assert again.status_code == 303
    refunds = actions.goodwill_refunds(db.session.get(Order, shipped))
    assert [t.amount for t in refunds] == [D("15.00")]
    assert 'name="number" value="2"' in _text(client.get(f"/cs/orders/{shipped}"))


def test_a_goodwill_refund_takes_a_french_decimal_comma(client, people, shipped):
    person = db.session.merge(people["customer_service"])
    person.language = "fr"
    db.session.commit()
    sign_in(client, person)
    over = _post(client, f"/cs/orders/{shipped}/goodwill", {"amount": "60", "number": "1", "note": "geste"})
    assert over.status_code == 422 and "50,00\u00a0€" in _text(over)  # the limit as a French reader writes it
    done = _post(client, f"/cs/orders/{shipped}/goodwill", {"amount": "12,50", "number": "1", "note": "geste"})
    assert done.status_code == 303
    assert [t.amount for t in actions.goodwill_refunds(db.session.get(Order, shipped))] == [D("12.50")]


# --- e-mails and holds --------------------------------------------------------------------------------------------


@pytest.fixture
def on_hold(app):
    _where, _products, fulfilment, _slot = _ready()
    db.session.commit()
    return fulfilment.order_id, fulfilment.id


def test_an_email_is_resent_once_and_not_while_it_waits(client, people, on_hold):
    order_id, _ = on_hold
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.order_id == order_id))
    sign_in(client, people["customer_service"])
    page = _text(client.get(f"/cs/orders/{order_id}"))
    assert email.subject in page and f"/cs/orders/{order_id}/emails/{email.id}/resend" in page
    url = f"/cs/orders/{order_id}/emails/{email.id}/resend"
    token = csrf_token(client, "/cs")
    waiting = _post(client, url, {"note": "customer lost it"}, token)
    assert waiting.status_code == 409 and "still waiting to be sent" in _text(waiting)
    email.status, email.sent_at = "sent", datetime.now(UTC)
    db.session.commit()
    done = _post(client, url, {"note": "customer lost it"}, token)
    assert done.status_code == 303
    assert "The e-mail will be sent again to" in _text(client.get(done.headers["Location"]))
    again = _post(client, url, {"note": "customer lost it"}, token)  # the copy waits: not a second one
    assert again.status_code == 409
    count = db.session.scalar(select(func.count()).select_from(OutboundEmail).where(OutboundEmail.order_id == order_id))
    assert count == 2


def test_a_hold_is_extended_in_the_pickup_stores_time_and_bad_dates_are_refused(client, people, on_hold):
    order_id, fulfilment_id = on_hold
    fulfilment = db.session.get(Fulfilment, fulfilment_id)
    zone = ZoneInfo(fulfilment.pickup.location.timezone)
    sign_in(client, people["customer_service"])
    url = f"/cs/orders/{order_id}/fulfilments/{fulfilment_id}/hold"
    token = csrf_token(client, "/cs")
    before = fulfilment.pickup.expires_at
    bad = _post(client, url, {"expires_at": "next week", "note": "holiday"}, token)
    assert bad.status_code == 422 and "Give the new end of the hold as a date and time." in _text(bad)
    past = _post(client, url, {"expires_at": "2020-01-01T10:00", "note": "holiday"}, token)
    assert past.status_code == 422 and "must be in the future" in _text(past)
    assert db.session.get(Fulfilment, fulfilment_id).pickup.expires_at == before
    local = (datetime.now(zone) + timedelta(days=10)).replace(hour=19, minute=0, second=0, microsecond=0)
    done = _post(client, url, {"expires_at": local.strftime("%Y-%m-%dT%H:%M"), "note": "customer on holiday"}, token)
    assert done.status_code == 303
    assert "The hold now ends" in _text(client.get(done.headers["Location"]))
    expires = db.session.get(Fulfilment, fulfilment_id, populate_existing=True).pickup.expires_at
    assert expires.astimezone(zone).replace(tzinfo=None) == local.replace(tzinfo=None)
    again = _post(client, url, {"expires_at": local.strftime("%Y-%m-%dT%H:%M"), "note": "customer on holiday"}, token)
    assert again.status_code == 303
    assert _events(order_id, "order.cs_hold_extended") == 1


# --- the exception queue ------------------------------------------------------------------------------------------


def test_the_exception_queue_lists_the_rejected_order_with_its_reason_and_next_step(client, people, rejected):
    product = make_product()
    late_store = _store("LAT", 48.0, 2.0, name="Late Store")
    stocked(late_store, product, 3)
    late = _ship_order((product, 1), name="Late Customer")
    fulfilment = orders.assign_fulfilment(late, late_store, {late.lines[0]: 1}, actor=ACTOR)
    fulfilment.ready_by = datetime.now(UTC) - timedelta(hours=10)
    db.session.commit()
    sign_in(client, people["customer_service"])
    html = _text(client.get("/cs/exceptions"))
    order = db.session.get(Order, rejected["order"])
    assert order.reference in html and f'href="/cs/orders/{order.id}"' in html
    assert "Nothing could source it" in html and "Re-route to a location with stock" in html
    assert late.reference in html and "Late by 10 hours" in html and "Call the store, or re-route" in html
    assert html.index(late.reference) < html.index(order.reference)  # late since its ready_by, 10 hours ago
    search = _text(client.get("/cs"))
    assert 'href="/cs/exceptions"' in search and "2 orders" in search


def test_an_empty_queue_says_so(client, people):
    sign_in(client, people["customer_service"])
    html = _text(client.get("/cs/exceptions"))
    assert "No order needs customer service right now." in html


# --- cancelling units ---------------------------------------------------------------------------------------------


def test_units_are_cancelled_once_their_stock_released_and_a_double_submit_cancels_nothing_more(
    client, people, rejected
):
    order = db.session.get(Order, rejected["order"])
    actions.reroute(db.session.get(Fulfilment, rejected["fulfilment"]), "LYO", "customer agreed", actor=ACTOR)
    db.session.commit()
    assert stock.available_to_promise(rejected["lyon"], rejected["product"]) == 3
    sign_in(client, people["customer_service"])
    page = _text(client.get(f"/cs/orders/{order.id}"))
    assert 'id="cancel-1"' in page and 'name="had-1" value="0"' in page and "at most 2" in page
    url = f"/cs/orders/{order.id}/cancel"
    token = csrf_token(client, "/cs")
    nothing = _post(client, url, {"cancel-1": "0", "had-1": "0", "note": "customer changed their mind"}, token)
    assert nothing.status_code == 422 and "Choose at least one unit to cancel." in _text(nothing)
    no_note = _post(client, url, {"cancel-1": "1", "had-1": "0", "note": ""}, token)
    assert no_note.status_code == 422 and "A note is required." in _text(no_note)
    nonsense = _post(client, url, {"cancel-1": "-1", "had-1": "0", "note": "x"}, token)
    assert nonsense.status_code == 422 and "Give a whole number, 0 or more." in _text(nonsense)
    assert db.session.get(Order, order.id).lines[0].cancelled == 0
    form = {"cancel-1": "1", "had-1": "0", "note": "customer wants one only"}
    done = _post(client, url, form, token)
    assert done.status_code == 303
    page = _text(client.get(done.headers["Location"]))
    assert "1 unit cancelled." in page and "Lines cancelled by customer service" in page
    again = _post(client, url, form, token)  # the same form again: the core answers the first cancel
    assert again.status_code == 303
    assert db.session.get(Order, order.id, populate_existing=True).lines[0].cancelled == 1
    assert stock.available_to_promise(rejected["lyon"], rejected["product"]) == 4
    assert _events(order.id, "order.cs_lines_cancelled") == 1


def test_units_that_left_a_store_cannot_be_cancelled(client, people, shipped):
    sign_in(client, people["customer_service"])
    assert 'id="cancel-1"' not in _text(client.get(f"/cs/orders/{shipped}"))  # nothing left to cancel: no form
    response = _post(client, f"/cs/orders/{shipped}/cancel", {"cancel-1": "1", "had-1": "0", "note": "too late"})
    assert response.status_code == 409 and "nothing of it can be cancelled" in _text(response)
    assert db.session.get(Order, shipped).lines[0].cancelled == 0


# --- the address and the pickup store -----------------------------------------------------------------------------


ADDRESS = {"line1": "8 quai de la Tournelle", "line2": "", "postcode": "75005", "city": "Paris", "country": "fr"}


def test_the_address_changes_before_packing_and_bad_fields_are_marked(client, people, rejected):
    sign_in(client, people["customer_service"])
    url = f"/cs/orders/{rejected['order']}/address"
    token = csrf_token(client, "/cs")
    bad = _post(client, url, {**ADDRESS, "country": "F1", "postcode": "", "note": "moved"}, token)
    assert bad.status_code == 422
    assert 'id="address-country-error"' in _text(bad) and "A two-letter country code" in _text(bad)
    assert 'id="address-postcode-error">Required.<' in _text(bad)
    assert db.session.get(Order, rejected["order"]).ship_postcode == "75002"
    done = _post(client, url, {**ADDRESS, "note": "customer moved"}, token)
    assert done.status_code == 303
    assert "The delivery address is changed." in _text(client.get(done.headers["Location"]))
    order = db.session.get(Order, rejected["order"], populate_existing=True)
    assert (order.ship_line1, order.ship_postcode, order.ship_country) == ("8 quai de la Tournelle", "75005", "FR")
    again = _post(client, url, {**ADDRESS, "note": "customer moved"}, token)
    assert again.status_code == 303
    assert "The delivery address was already this one." in _text(client.get(again.headers["Location"]))
    assert _events(rejected["order"], "order.cs_address_changed") == 1


def test_the_address_of_a_shipped_order_cannot_change(client, people, shipped):
    sign_in(client, people["customer_service"])
    assert f"/cs/orders/{shipped}/address" not in _text(client.get(f"/cs/orders/{shipped}"))  # no form offered
    response = _post(client, f"/cs/orders/{shipped}/address", {**ADDRESS, "note": "customer moved"})
    assert response.status_code == 409 and "can no longer change" in _text(response)
    assert db.session.get(Order, shipped).ship_postcode == "75002"


def test_the_pickup_store_changes_before_packing_and_not_once_on_the_hold_shelf(client, people, on_hold):
    product = make_product()
    first, second = make_location(code="PU1", name="Pickup One"), make_location(code="PU2", name="Pickup Two")
    stocked(first, product, 2)
    order = orders.create_order(collect_draft(first, (product, 1)), actor=ACTOR)[0]
    db.session.commit()
    sign_in(client, people["customer_service"])
    page = _text(client.get(f"/cs/orders/{order.id}"))
    assert '<option value="PU2">Pickup Two (PU2)</option>' in page
    url = f"/cs/orders/{order.id}/pickup-store"
    token = csrf_token(client, "/cs")
    unknown = _post(client, url, {"location": "NOPE", "note": "closer to work"}, token)
    assert unknown.status_code == 422 and "does not offer click &amp; collect" in _text(unknown)
    done = _post(client, url, {"location": "PU2", "note": "closer to work"}, token)
    assert done.status_code == 303
    assert "The pickup store is now Pickup Two." in _text(client.get(done.headers["Location"]))
    assert db.session.get(Order, order.id, populate_existing=True).pickup_location_id == second.id
    held_order, _ = on_hold
    late = _post(client, f"/cs/orders/{held_order}/pickup-store", {"location": "PU2", "note": "x"}, token)
    assert late.status_code == 409 and "can no longer change" in _text(late)


# --- re-shipping ----------------------------------------------------------------------------------------------------


def test_a_lost_parcel_is_reshipped_once_at_no_charge(client, people, shipped):
    order = db.session.get(Order, shipped)
    (first,) = order.fulfilments
    sign_in(client, people["customer_service"])
    page = _text(client.get(f"/cs/orders/{shipped}"))
    assert f"/cs/orders/{shipped}/fulfilments/{first.id}/reship" in page
    url = f"/cs/orders/{shipped}/fulfilments/{first.id}/reship"
    token = csrf_token(client, "/cs")
    no_choice = _post(client, url, {"note": "lost by the carrier"}, token)
    assert no_choice.status_code == 422 and "Choose a location." in _text(no_choice)
    done = _post(client, url, {"location": first.location.code, "note": "lost by the carrier"}, token)
    assert done.status_code == 303
    page = _text(client.get(done.headers["Location"]))
    assert "at no charge." in page and f"of fulfilment {first.id}, at no charge" in page
    again = _post(client, url, {"location": first.location.code, "note": "lost by the carrier"}, token)
    assert again.status_code == 409 and "already sent again" in _text(again)
    reships = db.session.scalars(select(Fulfilment).where(Fulfilment.reship_of_id == first.id)).all()
    assert len(reships) == 1 and reships[0].status == S.CREATED


# --- complaints and resolving -------------------------------------------------------------------------------------


def test_a_complaint_puts_the_order_in_the_queue_and_resolving_takes_it_out(client, people, shipped):
    sign_in(client, people["customer_service"])
    token = csrf_token(client, "/cs")
    order = db.session.get(Order, shipped)
    no_note = _post(client, f"/cs/orders/{shipped}/complaint", {"note": " "}, token)
    assert no_note.status_code == 422 and not db.session.get(Order, shipped).needs_customer_service
    flagged = _post(client, f"/cs/orders/{shipped}/complaint", {"note": "parcel arrived open"}, token)
    assert flagged.status_code == 303
    assert "Complaint flagged: the order is in the exception queue." in _text(client.get(flagged.headers["Location"]))
    twice = _post(client, f"/cs/orders/{shipped}/complaint", {"note": "parcel arrived open"}, token)
    assert "A complaint was already flagged on this order." in _text(client.get(twice.headers["Location"]))
    queue = _text(client.get("/cs/exceptions"))
    assert order.reference in queue and "Customer complaint" in queue and "Call the customer" in queue
    resolved = _post(client, f"/cs/orders/{shipped}/resolve", {"note": "refund agreed"}, token)
    assert resolved.status_code == 303
    assert not db.session.get(Order, shipped, populate_existing=True).needs_customer_service
    assert order.reference not in _text(client.get("/cs/exceptions"))
    assert _events(shipped, "order.complaint") == 1 and _events(shipped, "order.cs_resolved") == 1


def test_a_cancelled_order_counts_in_the_queue_only_for_a_complaint(client, people, rejected):
    old_flag = db.session.get(Order, rejected["order"])  # flagged when nothing could source it, then cancelled
    actions.cancel_lines(old_flag, {1: 2}, "customer gave up", actor=ACTOR)
    complained = _ship_order((make_product(), 1), name="Paolo Conti")
    actions.cancel_lines(complained, {1: 1}, "out of stock", actor=ACTOR)
    actions.flag_complaint(complained, "still charged", actor=ACTOR)
    db.session.commit()
    assert old_flag.status == complained.status == "cancelled" and old_flag.needs_customer_service
    sign_in(client, people["customer_service"])
    queue = _text(client.get("/cs/exceptions"))
    assert complained.reference in queue and "Customer complaint" in queue
    assert old_flag.reference not in queue
    assert '<span class="visually-hidden">1 order</span>' in queue
    assert '<span class="visually-hidden">1 order</span>' in _text(client.get("/cs"))
