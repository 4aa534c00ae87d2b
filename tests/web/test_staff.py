"""The staff screen: a store's managers keep its people (invite, deactivate, role, stores, password); admins every
store's; a manager of store A never sees nor changes store B's staff."""

import re

import pytest
from sqlalchemy import select

from app.core.models import AuditEvent, OutboundEmail, User
from app.core.models.users import UserSession
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import PASSWORD, make_location, make_user


@pytest.fixture
def shop(app):
    a, b = make_location(name="Lyon Part-Dieu"), make_location(name="Milano Duomo")
    people = {
        "a": a,
        "b": b,
        "manager": make_user(stores=[a], role="manager", name="Manon Manager"),
        "associate": make_user(stores=[a], name="Alice Associate"),
        "both": make_user(stores=[a, b], name="Bianca Both"),
        "elsewhere": make_user(stores=[b], name="Bruno Elsewhere"),
        "manager_b": make_user(stores=[b], role="manager", name="Marco Manager"),
        "admin": make_user(role="admin", name="Ada Admin"),
    }
    db.session.commit()
    return people


def _signed_in(app, user):
    client = app.test_client()
    assert login(client, user.email, PASSWORD).status_code == 302
    return client


def _post(client, path, data=None, page=None):
    token = csrf_token(client, page or path)
    return client.post(path, data={"csrf_token": token, **(data or {})})


def _audit(action):
    return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)).all()


def test_a_manager_sees_the_staff_of_their_store_only(app, shop):
    client = _signed_in(app, shop["manager"])
    body = client.get(f"/stores/{shop['a'].code}/staff").get_data(as_text=True)
    assert "Alice Associate" in body and "Bianca Both" in body and "Manon Manager" in body
    assert "Bruno Elsewhere" not in body and "Marco Manager" not in body and "Ada Admin" not in body
    # Store B's staff screen and people: refused, whatever the URL.
    assert client.get(f"/stores/{shop['b'].code}/staff").status_code == 403
    elsewhere = shop["elsewhere"].id
    assert client.get(f"/stores/{shop['a'].code}/staff/{elsewhere}").status_code == 404
    token = csrf_token(client, f"/stores/{shop['a'].code}/staff")
    for action in ("/role", "/deactivate", "/password", "/badge"):
        response = client.post(
            f"/stores/{shop['a'].code}/staff/{elsewhere}{action}",
            data={"csrf_token": token, "role": "manager", "stores": [shop["a"].code]},
        )
        assert response.status_code == 404
    db.session.expire_all()
    bruno = db.session.get(User, elsewhere)
    assert bruno.active and bruno.role == "associate" and [s.code for s in bruno.stores] == [shop["b"].code]
    assert not _audit("user.deactivate") and not _audit("user.password_reset") and not _audit("user.role")


def test_associates_are_refused_the_staff_screen(app, shop):
    client = _signed_in(app, shop["associate"])
    assert client.get(f"/stores/{shop['a'].code}/staff").status_code == 403
    token = csrf_token(client, "/")
    response = client.post(
        f"/stores/{shop['a'].code}/staff/invite",
        data={"csrf_token": token, "name": "X", "email": "x@example.test", "role": "associate"},
    )
    assert response.status_code == 403
    assert db.session.scalar(select(User).where(User.email == "x@example.test")) is None


def test_a_manager_invites_someone_whose_temporary_password_works_once_shown(app, shop):
    client = _signed_in(app, shop["manager"])
    store = shop["a"]
    response = _post(
        client,
        f"/stores/{store.code}/staff/invite",
        {
            "name": "Nina Nuova",
            "email": "Nina@Example.test",
            "role": "associate",
            "stores": [store.code],
            "language": "it",
        },
        page=f"/stores/{store.code}/staff",
    )
    assert response.status_code == 201
    password = re.search(r'id="temporary-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    nina = db.session.scalar(select(User).where(User.email == "nina@example.test"))
    assert nina.role == "associate" and nina.language == "it" and [s.code for s in nina.stores] == [store.code]
    assert password not in nina.password_hash and nina.check_password(password)
    assert [e.subject_id for e in _audit("user.invite")] == [str(nina.id)]
    assert _audit("user.invite")[0].actor_user_id == shop["manager"].id
    assert login(app.test_client(), "nina@example.test", password).status_code == 302
    # An invitation e-mail waits in the outbox, in her language, without the password.
    (email,) = db.session.scalars(select(OutboundEmail)).all()
    assert (email.to, email.subject, email.order_id) == ("nina@example.test", "Sei invitato/a su Comptoir", None)
    assert "Manon Manager ti ha creato un account Comptoir per Lyon Part-Dieu." in email.body
    assert password not in email.body
    # Shown once: the staff page does not show it again.
    assert password not in client.get(f"/stores/{store.code}/staff").get_data(as_text=True)


def test_a_manager_cannot_invite_an_admin_nor_into_another_store(app, shop):
    client = _signed_in(app, shop["manager"])
    store = shop["a"]
    for data in (
        {"role": "admin", "stores": [store.code]},
        {"role": "associate", "stores": [shop["b"].code]},
        {"role": "associate", "stores": []},
    ):
        response = _post(
            client,
            f"/stores/{store.code}/staff/invite",
            {"name": "Eve", "email": "eve@example.test", "language": "", **data},
            page=f"/stores/{store.code}/staff",
        )
        assert response.status_code in {403, 422}, data
    assert db.session.scalar(select(User).where(User.email == "eve@example.test")) is None
    assert not _audit("user.invite")


def test_deactivating_signs_the_person_out_and_reactivating_lets_them_in(app, shop):
    store, alice = shop["a"], shop["associate"]
    device = _signed_in(app, alice)
    client = _signed_in(app, shop["manager"])
    page = f"/stores/{store.code}/staff/{alice.id}"
    response = _post(client, f"{page}/deactivate", page=page)
    assert response.status_code == 200 and "Reactivate Alice Associate" in response.get_data(as_text=True)
    assert device.get(f"/stores/{store.code}/queue").status_code == 302  # signed out at the next request
    assert login(app.test_client(), alice.email, PASSWORD).status_code == 422
    db.session.expire_all()
    assert not db.session.get(User, alice.id).active
    assert all(row.revoked_at for row in db.session.scalars(select(UserSession).where(UserSession.user_id == alice.id)))
    assert [(e.subject_id, e.actor_user_id) for e in _audit("user.deactivate")] == [(str(alice.id), shop["manager"].id)]
    assert _post(client, f"{page}/reactivate", page=page).status_code == 200
    assert login(app.test_client(), alice.email, PASSWORD).status_code == 302
    assert len(_audit("user.activate")) == 1


def test_a_manager_changes_role_and_only_their_own_stores(app, shop):
    client = _signed_in(app, shop["manager"])
    store, bianca = shop["a"], shop["both"]
    page = f"/stores/{store.code}/staff/{bianca.id}"
    # Bianca also works at B: the manager of A may make her a manager, never an admin, and B stays hers.
    assert _post(client, f"{page}/role", {"role": "admin", "stores": [store.code]}, page=page).status_code in {403, 422}
    response = _post(client, f"{page}/role", {"role": "manager", "stores": [store.code]}, page=page)
    assert response.status_code == 200
    db.session.expire_all()
    bianca = db.session.get(User, bianca.id)
    assert bianca.role == "manager" and {s.code for s in bianca.stores} == {shop["a"].code, shop["b"].code}
    assert [(e.before, e.after) for e in _audit("user.role")] == [({"role": "associate"}, {"role": "manager"})]
    # Taken off store A: she keeps B, which this manager cannot see into; the change is audited.
    response = _post(client, f"{page}/role", {"role": "manager"}, page=page)
    assert response.status_code == 200
    db.session.expire_all()
    assert [s.code for s in db.session.get(User, bianca.id).stores] == [shop["b"].code]
    assert _audit("user.stores")[-1].after == {"stores": [shop["b"].code]}
    assert client.get(page).status_code == 404


def test_a_manager_resets_a_password_shown_once_and_signs_the_person_out(app, shop):
    store, alice = shop["a"], shop["associate"]
    device = _signed_in(app, alice)
    client = _signed_in(app, shop["manager"])
    page = f"/stores/{store.code}/staff/{alice.id}"
    response = _post(client, f"{page}/password", page=page)
    password = re.search(r'id="temporary-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    assert device.get(f"/stores/{store.code}/queue").status_code == 302
    assert login(app.test_client(), alice.email, PASSWORD).status_code == 422
    assert login(app.test_client(), alice.email, password).status_code == 302
    assert [e.subject_id for e in _audit("user.password_reset")] == [str(alice.id)]
    # A manager never resets their own password nor deactivates themselves here.
    own = f"/stores/{store.code}/staff/{shop['manager'].id}"
    assert _post(client, f"{own}/deactivate", page=own).status_code == 403
    db.session.expire_all()
    assert db.session.get(User, shop["manager"].id).active


def test_an_admin_keeps_every_stores_staff_and_may_make_admins(app, shop):
    client = _signed_in(app, shop["admin"])
    body = client.get(f"/stores/{shop['b'].code}/staff").get_data(as_text=True)
    assert "Bruno Elsewhere" in body and "Marco Manager" in body
    page = f"/stores/{shop['b'].code}/staff/{shop['elsewhere'].id}"
    response = _post(client, f"{page}/role", {"role": "manager", "stores": [shop["a"].code, shop["b"].code]}, page=page)
    assert response.status_code == 200
    db.session.expire_all()
    bruno = db.session.get(User, shop["elsewhere"].id)
    assert bruno.role == "manager" and {s.code for s in bruno.stores} == {shop["a"].code, shop["b"].code}
    assert _audit("user.role")[0].actor_user_id == shop["admin"].id


def test_the_staff_screen_is_translated(app, shop):
    client = _signed_in(app, shop["manager"])
    token = csrf_token(client, "/")
    client.post("/language", data={"csrf_token": token, "language": "fr"})
    body = client.get(f"/stores/{shop['a'].code}/staff").get_data(as_text=True)
    assert "Inviter quelqu" in body


def test_a_temporary_password_is_changed_at_the_first_sign_in_before_anything_else(app, shop):
    client = _signed_in(app, shop["manager"])
    store, alice = shop["a"], shop["associate"]
    page = f"/stores/{store.code}/staff/{alice.id}"
    response = _post(client, f"{page}/password", page=page)
    password = re.search(r'id="temporary-password">([^<]+)<', response.get_data(as_text=True)).group(1)
    device = app.test_client()
    assert login(device, alice.email, password).status_code == 302
    for path in (f"/stores/{store.code}/queue", f"/stores/{store.code}/switch", "/account/pin"):
        refused = device.get(path)
        assert refused.status_code == 303 and refused.location.endswith("/account/password"), path
    token = csrf_token(device, "/account/password")
    short = device.post("/account/password", data={"csrf_token": token, "current": password, "new": "short"})
    assert short.status_code == 422
    wrong = device.post("/account/password", data={"csrf_token": token, "current": "nope", "new": "a-new-secret-42"})
    assert wrong.status_code == 422
    done = device.post("/account/password", data={"csrf_token": token, "current": password, "new": "a-new-secret-42"})
    assert done.status_code == 303
    assert device.get(f"/stores/{store.code}/queue").status_code == 200
    db.session.expire_all()
    alice = db.session.get(User, alice.id)
    assert not alice.password_temporary and alice.check_password("a-new-secret-42")
    assert [e.subject_id for e in _audit("user.password")] == [str(alice.id)]
