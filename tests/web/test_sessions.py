"""A store manager sees the devices signed in for the store's staff and signs a lost one out."""

import json

import pytest
from sqlalchemy import select

from app.core.models import AuditEvent
from app.core.models.users import UserSession
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import PASSWORD, make_location, make_user


@pytest.fixture
def store_staff(app):
    store, other = make_location(name="Lyon Part-Dieu"), make_location(name="Milano Duomo")
    staff = {
        "store": store,
        "other": other,
        "manager": make_user(stores=[store], role="manager", name="Manon Manager"),
        "associate": make_user(stores=[store], name="Alice Associate"),
        "elsewhere": make_user(stores=[other], name="Bruno Elsewhere"),
    }
    db.session.commit()
    return staff


def _device(app, user, user_agent: str = "Mozilla/5.0 (Linux; Android 14) Chrome/131.0 Mobile Safari/537.36"):
    """A test client signed in as the user, as a separate device."""
    device = app.test_client()
    device.environ_base["HTTP_USER_AGENT"] = user_agent
    assert login(device, user.email, PASSWORD).status_code == 302
    return device


def _toast(response) -> str:
    return json.loads(response.headers["HX-Trigger"])["toast"]["message"]


def _rows(user) -> list[UserSession]:
    return db.session.scalars(select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.id)).all()


def test_a_manager_sees_the_devices_of_the_stores_staff_only(app, store_staff):
    _device(app, store_staff["associate"])
    _device(app, store_staff["elsewhere"])
    manager = _device(app, store_staff["manager"], "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) Safari/604.1")
    page = manager.get(f"/stores/{store_staff['store'].code}/sessions")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Alice Associate" in body and "Chrome · Android" in body
    assert "Manon Manager" in body and "This device" in body
    assert "Bruno Elsewhere" not in body


def test_a_manager_signs_out_another_device_and_its_next_request_goes_to_login(app, store_staff):
    store = store_staff["store"]
    lost = _device(app, store_staff["associate"])
    kept = _device(app, store_staff["associate"], "Mozilla/5.0 (Windows NT 10.0) Firefox/133.0")
    manager = _device(app, store_staff["manager"])
    lost_row = _rows(store_staff["associate"])[0]
    token = csrf_token(manager, f"/stores/{store.code}/sessions")
    response = manager.post(f"/stores/{store.code}/sessions/{lost_row.id}/revoke", data={"csrf_token": token})
    assert response.status_code == 200
    assert _toast(response) == "Alice Associate is signed out on Chrome · Android."

    refused = lost.get(f"/stores/{store.code}/queue")
    assert refused.status_code == 302 and refused.location.startswith("/login")
    htmx = lost.get(f"/stores/{store.code}/queue", headers={"HX-Request": "true"})
    assert htmx.status_code in {302, 401}
    assert kept.get(f"/stores/{store.code}/queue").status_code == 200  # the other device stays signed in
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "session.revoke"))
    assert audit.subject_id == str(lost_row.id) and audit.actor_user_id == store_staff["manager"].id
    # Sent again (a double tap): the same answer, nothing more changed.
    again = manager.post(f"/stores/{store.code}/sessions/{lost_row.id}/revoke", data={"csrf_token": token})
    assert again.status_code == 200
    assert len(db.session.scalars(select(AuditEvent).where(AuditEvent.action == "session.revoke")).all()) == 1


def test_a_manager_signs_out_every_device_of_a_person(app, store_staff):
    store = store_staff["store"]
    devices = [_device(app, store_staff["associate"]) for _ in range(3)]
    manager = _device(app, store_staff["manager"])
    token = csrf_token(manager, f"/stores/{store.code}/sessions")
    url = f"/stores/{store.code}/people/{store_staff['associate'].id}/sessions/revoke"
    response = manager.post(url, data={"csrf_token": token})
    assert _toast(response) == "3 devices of Alice Associate signed out."
    assert all(row.revoked_at is not None for row in _rows(store_staff["associate"]))
    assert all(device.get(f"/stores/{store.code}/queue").status_code == 302 for device in devices)
    assert manager.get(f"/stores/{store.code}/queue").status_code == 200


def test_a_manager_cannot_sign_out_devices_of_another_stores_staff_through_their_own_store(app, store_staff):
    store = store_staff["store"]
    elsewhere = _device(app, store_staff["elsewhere"])
    manager = _device(app, store_staff["manager"])
    token = csrf_token(manager, f"/stores/{store.code}/sessions")
    row = _rows(store_staff["elsewhere"])[0]
    assert manager.post(f"/stores/{store.code}/sessions/{row.id}/revoke", data={"csrf_token": token}).status_code == 404
    url = f"/stores/{store.code}/people/{store_staff['elsewhere'].id}/sessions/revoke"
    assert manager.post(url, data={"csrf_token": token}).status_code == 404
    assert elsewhere.get(f"/stores/{store_staff['other'].code}/queue").status_code == 200


def test_associates_cannot_see_or_sign_out_devices(app, store_staff):
    store = store_staff["store"]
    associate = _device(app, store_staff["associate"])
    manager = _device(app, store_staff["manager"])
    row = _rows(store_staff["manager"])[0]
    assert associate.get(f"/stores/{store.code}/sessions").status_code == 403
    token = csrf_token(associate, f"/stores/{store.code}/queue")
    assert (
        associate.post(f"/stores/{store.code}/sessions/{row.id}/revoke", data={"csrf_token": token}).status_code == 403
    )
    assert manager.get(f"/stores/{store.code}/queue").status_code == 200


def test_the_devices_screen_is_linked_from_the_managers_area_and_speaks_french(app, store_staff):
    store = store_staff["store"]
    manager = _device(app, store_staff["manager"])
    queue = manager.get(f"/stores/{store.code}/queue").get_data(as_text=True)
    assert f'href="/stores/{store.code}/sessions"' in queue
    manager.post("/language", data={"language": "fr", "csrf_token": csrf_token(manager, f"/stores/{store.code}/queue")})
    page = manager.get(f"/stores/{store.code}/sessions").get_data(as_text=True)
    assert "Appareils connectés" in page and "Cet appareil" in page


def test_signing_in_again_on_a_device_ends_its_earlier_session(app, store_staff):
    device = _device(app, store_staff["associate"])
    assert login(device, store_staff["manager"].email, PASSWORD).status_code == 302
    (earlier,) = _rows(store_staff["associate"])
    assert earlier.revoked_at is not None
    assert [row.revoked_at for row in _rows(store_staff["manager"])] == [None]
