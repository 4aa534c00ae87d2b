from datetime import timedelta

import pytest
from sqlalchemy import func, select
from werkzeug.security import check_password_hash

from app import create_app
from app.config import ConfigError
from app.core.models import User
from app.core.models import users as models_users
from app.core.models.base import utcnow
from app.core.models.users import LoginFailure, UserSession
from app.core.people import users
from app.extensions import db
from app.web.auth import wait_message
from tests.api import test_rate_limit_redis
from tests.conftest import IsolatedClient, csrf_token, login
from tests.factories import PASSWORD, make_location, make_user

redis_url = test_rate_limit_redis.redis_url  # a redis-server of its own for the test (skipped loudly without one)


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


# --------------------------------------------------------------------------- sessions and CSRF at sign-in


def _session_cookie(client) -> str:
    cookie = client.get_cookie("session")
    assert cookie is not None, "no session cookie"
    return cookie.value


def test_a_session_cookie_copied_before_logout_is_refused_after_logout(app, client, signed_in):
    url, _, row = signed_in
    thief = app.test_client()
    thief.set_cookie("session", _session_cookie(client))
    assert thief.get(url).status_code == 200  # the copy works while the device is signed in
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})

    response = thief.get(url)
    assert response.status_code == 302 and response.location.startswith("/login")
    page = thief.get(response.location).get_data(as_text=True)
    assert "You were signed out on this device. Sign in again to go on." in page
    db.session.refresh(row)
    assert row.revoked_at is not None


def test_sign_in_starts_a_new_session_with_a_new_csrf_token_keeping_only_the_language(client):
    user = make_user(stores=[make_location()])
    db.session.commit()
    client.post("/language", data={"language": "it", "csrf_token": csrf_token(client)})
    before = csrf_token(client)
    with client.session_transaction() as session:
        session["planted"] = "by someone else"
    response = client.post("/login", data={"email": user.email, "password": PASSWORD, "csrf_token": before})
    assert response.status_code == 302
    with client.session_transaction() as session:
        assert "planted" not in session and "csrf_token" not in session
        assert session["language"] == "it"
        assert session["device"]
    after = csrf_token(client, "/")
    assert after != before
    # The old token no longer passes: it was made from the session's previous secret.
    assert client.post("/logout", data={"csrf_token": before}).status_code == 400
    assert client.post("/logout", data={"csrf_token": after}).status_code == 302


@pytest.fixture
def signed_in(client):
    """A member of a store signed in on the client: (store URL to ask for, user, the device's session row)."""
    store = make_location()
    user = make_user(stores=[store])
    db.session.commit()
    login(client, user.email, PASSWORD)
    row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
    return f"/stores/{store.code}/queue", user, row


def test_a_deactivated_user_is_signed_out_at_the_next_request(client, signed_in):
    url, user, _ = signed_in
    user.active = False
    db.session.commit()
    assert client.get(url).location.startswith("/login")


def test_a_session_unused_for_a_whole_lifetime_is_refused_even_with_a_fresh_cookie(client, signed_in):
    url, _, row = signed_in
    row.last_seen_at = utcnow() - timedelta(hours=13)
    db.session.commit()
    assert client.get(url).location.startswith("/login")


def test_last_seen_is_written_at_most_once_a_minute(client, signed_in):
    url, _, row = signed_in
    signed_in_at = row.last_seen_at
    client.get(url)
    db.session.refresh(row)
    assert row.last_seen_at == signed_in_at  # seen seconds ago: not written again
    row.last_seen_at = signed_in_at - timedelta(minutes=2)
    db.session.commit()
    client.get(url)
    db.session.refresh(row)
    assert row.last_seen_at > signed_in_at


# --------------------------------------------------------------------------- same time for unknown e-mails


def test_unknown_and_inactive_e_mails_check_a_stand_in_hash_of_the_same_method(client, monkeypatch):
    user = make_user(stores=[make_location()])
    inactive = make_user(stores=[make_location()])
    inactive.active = False
    db.session.commit()
    checked = []

    def spy(pwhash, password):
        checked.append(pwhash.split("$", 1)[0])
        return check_password_hash(pwhash, password)

    monkeypatch.setattr(users, "check_password_hash", spy)
    monkeypatch.setattr(models_users, "check_password_hash", spy)
    method = user.password_hash.split("$", 1)[0]
    for email in ("nobody@example.test", inactive.email, user.email):
        checked.clear()
        assert login(client, email, "not-the-password").status_code == 422
        assert checked == [method], email
    assert login(client, inactive.email, PASSWORD).status_code == 422  # the right password of an inactive user


# --------------------------------------------------------------------------- wrong passwords, counted by every worker


def _worker(database_url, **config):
    """Another process serving the same database, as a second gunicorn worker would."""
    worker = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, **config})
    worker.test_client_class = IsolatedClient
    return worker


@pytest.fixture
def two_workers(app, database_url):
    made = []

    def make(**config):
        made.extend(_worker(database_url, LOGIN_RATE_LIMIT="3 per 5 minutes", **config) for _ in range(2))
        return [worker.test_client() for worker in made[-2:]]

    yield make
    for worker in made:
        with worker.app_context():
            db.engine.dispose()


def _wrong_passwords_split_across_workers_hit_the_limit(clients, email: str) -> None:
    statuses = [login(clients[i % 2], email, "wrong-password").status_code for i in range(6)]
    assert statuses == [422, 422, 422, 429, 429, 429]
    refused = login(clients[0], email, PASSWORD)
    assert refused.status_code == 429  # locked: even the right password waits
    assert "Too many wrong passwords. Try again in 5 minutes." in refused.get_data(as_text=True)


def test_wrong_passwords_split_across_two_workers_hit_the_limit_counted_in_the_database(two_workers):
    user = make_user(stores=[make_location()])
    db.session.commit()
    _wrong_passwords_split_across_workers_hit_the_limit(two_workers(), user.email)
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 3


def test_wrong_passwords_split_across_two_workers_hit_the_limit_counted_in_redis(two_workers, redis_url):
    user = make_user(stores=[make_location()])
    db.session.commit()
    _wrong_passwords_split_across_workers_hit_the_limit(two_workers(RATELIMIT_STORAGE_URI=redis_url), user.email)
    assert db.session.scalar(select(func.count()).select_from(LoginFailure)) == 0  # counted in Redis only


@pytest.mark.parametrize("storage", ["database", "redis"])
def test_one_associates_mistakes_do_not_lock_another_account_at_the_same_address(two_workers, storage, request):
    config = {"RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url")} if storage == "redis" else {}
    store = make_location()
    mistyping, colleague = make_user(stores=[store]), make_user(stores=[store])
    db.session.commit()
    first, second = two_workers(**config)
    assert [login(first, mistyping.email, "wrong-password").status_code for _ in range(4)][-1] == 429
    assert login(second, colleague.email, "wrong-password").status_code == 422
    assert login(second, colleague.email, PASSWORD).status_code == 302


@pytest.mark.parametrize("storage", ["database", "redis"])
def test_a_right_password_forgets_the_earlier_mistakes(two_workers, storage, request):
    config = {"RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url")} if storage == "redis" else {}
    user = make_user(stores=[make_location()])
    db.session.commit()
    first, second = two_workers(**config)
    for _ in range(2):
        assert login(first, user.email, "wrong-password").status_code == 422
    assert login(second, user.email, PASSWORD).status_code == 302
    for _ in range(3):
        assert login(first, user.email, "wrong-password").status_code == 422


@pytest.mark.parametrize("storage", ["database", "redis"])
def test_an_address_spraying_many_accounts_meets_a_higher_ceiling(two_workers, storage, request):
    config = {"RATELIMIT_STORAGE_URI": request.getfixturevalue("redis_url")} if storage == "redis" else {}
    first, second = two_workers(LOGIN_ADDRESS_RATE_LIMIT="4 per 5 minutes", **config)
    statuses = [login((first, second)[i % 2], f"user{i}@example.test", "guess-1234").status_code for i in range(6)]
    assert statuses == [422, 422, 422, 422, 429, 429]
    other_address = first.post("/login", environ_base={"REMOTE_ADDR": "10.1.2.3"})
    assert other_address.status_code != 429


@pytest.mark.parametrize(
    ("seconds", "language", "expected"),
    [
        (1, "en", "Try again in 1 second."),
        (45, "en", "Try again in 45 seconds."),
        (60, "en", "Try again in 1 minute."),
        (61, "en", "Try again in 2 minutes."),
        (1, "fr", "dans 1 seconde."),
        (300, "fr", "dans 5 minutes."),
        (1, "it", "tra 1 secondo."),
        (120, "it", "tra 2 minuti."),
    ],
)
def test_the_wait_is_said_in_seconds_or_minutes_with_plural_forms(app, seconds, language, expected):
    with app.test_request_context(headers={"Accept-Language": language}):
        assert expected in wait_message(seconds)


def test_a_login_limit_that_is_not_a_rate_is_refused_at_start_up(monkeypatch):
    monkeypatch.setenv("LOGIN_RATE_LIMIT", "five a minute")
    with pytest.raises(ConfigError, match="LOGIN_RATE_LIMIT must be a rate"):
        create_app({"TESTING": True})


def test_passwords_are_hashed_with_scrypt_outside_the_test_suite_whatever_the_environment(
    app, database_url, monkeypatch
):
    from app import create_app
    from app.core.models.users import hash_secret

    assert hash_secret("correct horse").startswith("pbkdf2:sha256:1000$")  # this suite's cheap setting
    monkeypatch.setenv("PASSWORD_HASH_METHOD", "pbkdf2:sha256:1")  # not a setting the environment can give
    deployed = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with deployed.app_context():
        hashed = hash_secret("correct horse")
    assert hashed.startswith("scrypt:32768:8:1$") and "correct horse" not in hashed
