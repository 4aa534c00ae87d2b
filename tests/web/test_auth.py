from sqlalchemy import select

from app import create_app
from app.core.models import User
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import PASSWORD, make_location, make_user


def test_login_with_the_right_password_opens_the_store_queue(client):
    store = make_location()
    user = make_user(stores=[store])
    db.session.commit()
    response = login(client, user.email, PASSWORD)
    assert response.status_code == 302
    page = client.get("/", follow_redirects=True)
    assert page.request.path == f"/stores/{store.code}/queue"


def test_a_wrong_password_is_refused_with_a_message_and_no_session(client):
    user = make_user(stores=[make_location()])
    db.session.commit()
    response = login(client, user.email, "not-the-password")
    assert response.status_code == 422
    assert "Wrong e-mail or password." in response.get_data(as_text=True)
    assert client.get("/").status_code == 302


def test_inactive_users_cannot_sign_in(client):
    user = make_user(stores=[make_location()])
    user.active = False
    db.session.commit()
    assert login(client, user.email, PASSWORD).status_code == 422


def test_passwords_are_stored_hashed(app):
    user = make_user()
    db.session.commit()
    stored = db.session.scalar(select(User.password_hash).where(User.id == user.id))
    assert PASSWORD not in stored
    assert stored.startswith(("scrypt:", "pbkdf2:"))


def test_logout_needs_a_post_with_csrf(client):
    user = make_user(stores=[make_location()])
    db.session.commit()
    login(client, user.email, PASSWORD)
    assert client.get("/logout").status_code == 405
    assert client.post("/logout").status_code == 400
    token = csrf_token(client, "/")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 302
    assert client.get("/").status_code == 302


def test_login_is_rate_limited(database_url):
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "LOGIN_RATE_LIMIT": "3 per minute"})
    client = app.test_client()
    with app.app_context():
        statuses = [login(client, "nobody@example.test", "wrong-password").status_code for _ in range(5)]
        db.session.remove()
        db.engine.dispose()
    assert statuses[:3] == [422, 422, 422]
    assert statuses[3:] == [429, 429]


def test_an_open_redirect_after_login_is_ignored(client):
    store = make_location()
    user = make_user(stores=[store])
    db.session.commit()
    token = csrf_token(client)
    response = client.post(
        "/login?next=https://evil.example/", data={"email": user.email, "password": PASSWORD, "csrf_token": token}
    )
    assert response.location == "/"


def test_pages_carry_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    cookie = response.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie
