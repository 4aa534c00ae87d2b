"""Shared tablets: a device signed in with a full password (its shift) switches to a store associate by badge or
PIN; what they do next is theirs in the audit; PINs are hashed and throttled; the shift ends with a full password."""

from datetime import timedelta

import pytest
from sqlalchemy import select
from werkzeug.security import check_password_hash

from app.core.models import AuditEvent, User
from app.core.models.users import UserSession
from app.core.ordering import orders
from app.core.people import switch
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked


@pytest.fixture
def floor(app):
    store, other = make_location(name="Lyon Part-Dieu"), make_location(name="Milano Duomo")
    people = {
        "store": store,
        "other": other,
        "opener": make_user(stores=[store], name="Olga Opener"),
        "bob": make_user(stores=[store], name="Bob Badge"),
        "manager": make_user(stores=[store], role="manager", name="Manon Manager"),
        "stranger": make_user(stores=[other], name="Sergio Stranger"),
    }
    switch.set_pin(people["bob"], "4821", actor=ACTOR)
    switch.set_pin(people["stranger"], "4821", actor=ACTOR)
    switch.set_badge(people["stranger"], "BADGE-STRANGER", actor=ACTOR)
    product = make_product()
    stocked(store, product, 5)
    order, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    people["fulfilment"] = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=ACTOR)
    db.session.commit()
    return people


def _tablet(app, user):
    tablet = app.test_client()
    assert login(tablet, user.email, PASSWORD).status_code == 302
    return tablet


def _pin(tablet, store, person, pin):
    token = csrf_token(tablet, f"/stores/{store.code}/switch")
    return tablet.post(f"/stores/{store.code}/switch/pin", data={"csrf_token": token, "person": person.id, "pin": pin})


def _badge(tablet, store, code):
    token = csrf_token(tablet, f"/stores/{store.code}/switch")
    return tablet.post(f"/stores/{store.code}/switch/badge", data={"csrf_token": token, "badge": code})


def _sessions():
    return db.session.scalars(select(UserSession).order_by(UserSession.id)).all()


def test_a_pin_switch_attributes_the_next_action_to_the_person_switched_to(app, floor):
    store, bob = floor["store"], floor["bob"]
    tablet = _tablet(app, floor["opener"])
    response = _pin(tablet, store, bob, "4821")
    assert response.status_code == 303 and response.location.endswith(f"/stores/{store.code}/queue")
    assert "Bob Badge" in tablet.get(f"/stores/{store.code}/switch").get_data(as_text=True)
    (row,) = _sessions()
    assert (row.user_id, row.acting_user_id) == (floor["opener"].id, bob.id)  # the same device, the same shift
    token = csrf_token(tablet, f"/stores/{store.code}/queue")
    fulfilment = floor["fulfilment"]
    assert (
        tablet.post(f"/stores/{store.code}/fulfilments/{fulfilment.id}/accept", data={"csrf_token": token}).status_code
        == 200
    )
    accepted = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "fulfilment.accepted"))
    assert (accepted.actor_user_id, accepted.actor) == (bob.id, f"user:{bob.email}")
    switched = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.switch"))
    assert switched.actor_user_id == bob.id
    assert switched.before == {"user_id": floor["opener"].id} and switched.after == {"user_id": bob.id, "by": "pin"}


def test_a_wrong_pin_is_refused_and_throttled_like_a_password(app, floor):
    store, bob = floor["store"], floor["bob"]
    tablet = _tablet(app, floor["opener"])
    app.config.update(RATELIMIT_ENABLED=True, LOGIN_RATE_LIMIT="3 per 5 minutes")
    statuses = [_pin(tablet, store, bob, pin).status_code for pin in ("1111", "2580", "9713")]
    assert statuses == [422, 422, 422]
    refused = _pin(tablet, store, bob, "4821")  # even the right PIN waits now
    assert refused.status_code == 429 and "Too many wrong tries" in refused.get_data(as_text=True)
    (row,) = _sessions()
    assert row.acting_user_id is None
    assert not db.session.scalars(select(AuditEvent).where(AuditEvent.action == "session.switch")).all()


def test_another_stores_associate_is_refused_by_pin_and_by_badge(app, floor):
    store, stranger = floor["store"], floor["stranger"]
    tablet = _tablet(app, floor["opener"])
    assert _pin(tablet, store, stranger, "4821").status_code == 422
    refused = _badge(tablet, store, "BADGE-STRANGER")
    assert refused.status_code == 404 and "Nobody of this store has this badge or PIN." in refused.get_data(
        as_text=True
    )
    (row,) = _sessions()
    assert row.acting_user_id is None
    assert "Olga Opener" in tablet.get(f"/stores/{store.code}/switch").get_data(as_text=True)


def test_a_manager_gives_a_badge_kept_hashed_and_scanning_it_switches(app, floor):
    store, bob = floor["store"], floor["bob"]
    manager = _tablet(app, floor["manager"])
    page = f"/stores/{store.code}/staff/{bob.id}"
    token = csrf_token(manager, page)
    assert manager.post(f"{page}/badge", data={"csrf_token": token, "badge": "0042-7781"}).status_code == 200
    db.session.expire_all()
    stored = db.session.get(User, bob.id).badge_hash
    assert stored and "0042-7781" not in stored and stored == switch.badge_hash("0042-7781")
    # The badge of someone else cannot be given twice.
    assert manager.post(f"{page}/badge", data={"csrf_token": token, "badge": "BADGE-STRANGER"}).status_code == 422
    tablet = _tablet(app, floor["opener"])
    response = _badge(tablet, store, "0042-7781")
    assert response.status_code == 303
    assert _sessions()[-1].acting_user_id == bob.id
    # Taken back: the badge no longer switches.
    assert manager.post(f"{page}/badge", data={"csrf_token": token, "clear": "1"}).status_code == 200
    assert _badge(tablet, store, "0042-7781").status_code == 404


def test_an_expired_shift_asks_for_the_full_password(app, floor):
    store, bob = floor["store"], floor["bob"]
    tablet = _tablet(app, floor["opener"])
    assert _pin(tablet, store, bob, "4821").status_code == 303
    (row,) = _sessions()
    row.created_at -= app.config["SHIFT_LENGTH"] + timedelta(minutes=1)
    db.session.commit()
    response = tablet.get(f"/stores/{store.code}/queue")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert "shift is over" in tablet.get("/login").get_data(as_text=True)
    # A device not switched but past its shift cannot switch either: the switch page asks for the password.
    other = _tablet(app, floor["opener"])
    newest = _sessions()[-1]
    newest.created_at -= app.config["SHIFT_LENGTH"] + timedelta(minutes=1)
    db.session.commit()
    assert other.get(f"/stores/{store.code}/switch").location.startswith("/login")
    assert _pin(other, store, bob, "4821").status_code in {302, 303}
    assert _sessions()[-1].acting_user_id is None


def test_a_person_sets_their_own_pin_kept_hashed(app, floor):
    tablet = _tablet(app, floor["opener"])
    token = csrf_token(tablet, "/account/pin")
    wrong = tablet.post("/account/pin", data={"csrf_token": token, "password": "not-it", "pin": "4821"})
    assert wrong.status_code == 422
    easy = tablet.post("/account/pin", data={"csrf_token": token, "password": PASSWORD, "pin": "1234"})
    assert easy.status_code == 422 and "too easy" in easy.get_data(as_text=True)
    assert (
        tablet.post("/account/pin", data={"csrf_token": token, "password": PASSWORD, "pin": "70593"}).status_code == 303
    )
    db.session.expire_all()
    stored = db.session.get(User, floor["opener"].id).pin_hash
    assert "70593" not in stored and check_password_hash(stored, "70593")
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.pin")).all()
    assert events[-1].subject_id == str(floor["opener"].id) and events[-1].after == {"pin": True}


def test_the_core_refuses_another_stores_associate_whatever_the_form_offers(app, floor):
    tablet = _tablet(app, floor["opener"])
    (row,) = _sessions()
    shift = app.config["SHIFT_LENGTH"]
    with pytest.raises(switch.NotFound):
        switch.switch_by_pin(row, floor["store"], floor["stranger"].id, "4821", shift=shift, actor=ACTOR)
    with pytest.raises(switch.NotFound):  # a manager is never switched to by PIN: their screens need a password
        switch.set_pin(floor["manager"], "4821", actor=ACTOR)
        switch.switch_by_pin(row, floor["store"], floor["manager"].id, "4821", shift=shift, actor=ACTOR)
    db.session.rollback()
    assert tablet.get(f"/stores/{floor['store'].code}/queue").status_code == 200


def test_deactivating_the_person_switched_in_signs_the_tablet_out(app, floor):
    store, bob = floor["store"], floor["bob"]
    tablet = _tablet(app, floor["opener"])
    assert _pin(tablet, store, bob, "4821").status_code == 303
    manager = _tablet(app, floor["manager"])
    page = f"/stores/{store.code}/staff/{bob.id}"
    assert manager.post(f"{page}/deactivate", data={"csrf_token": csrf_token(manager, page)}).status_code == 200
    response = tablet.get(f"/stores/{store.code}/queue")
    assert response.status_code == 302 and response.location.startswith("/login")


def test_the_signed_in_devices_screen_says_who_a_tablet_is_switched_to(app, floor):
    store = floor["store"]
    tablet = _tablet(app, floor["opener"])
    assert _pin(tablet, store, floor["bob"], "4821").status_code == 303
    manager = _tablet(app, floor["manager"])
    body = manager.get(f"/stores/{store.code}/sessions").get_data(as_text=True)
    assert "Olga Opener" in body and "Switched to Bob Badge" in body
