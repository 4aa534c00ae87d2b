"""Wrong passwords counted by every gunicorn worker alike, over HTTP: in the database by default, in Redis when
RATELIMIT_STORAGE_URI names it. Per worker, in memory, 30 wrong passwords in 3 s let 20 through."""

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import pytest

from tests.api import test_rate_limit_redis
from tests.e2e.conftest import CSRF_RE, _free_port, _server_env, gunicorn

pytestmark = pytest.mark.e2e

redis_url = test_rate_limit_redis.redis_url  # a redis-server of its own (skipped loudly without one)
LIMIT = 3
PASSWORD = "the-right-password-1"


@pytest.fixture
def accounts(database_url):
    """Two users of one store made through the core operation, in the database the servers use."""
    from app import create_app
    from app.core.actor import Actor
    from app.core.people import users
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    emails = [f"throttle-{uuid.uuid4().hex[:10]}@example.test" for _ in range(2)]
    with app.app_context():
        for email in emails:
            users.create_user(
                email=email, name="Throttle", password=PASSWORD, role="associate", actor=Actor.system("e2e")
            )
        db.session.commit()
        db.engine.dispose()
    return emails


@pytest.fixture(params=["database", "redis"])
def two_servers(request, database_url, tmp_path):
    """Two gunicorn servers (a sync worker each, so which one answers is known) on one database."""
    env = {**_server_env(database_url), "RATELIMIT_ENABLED": "true", "LOGIN_RATE_LIMIT": f"{LIMIT} per 5 minutes"}
    env["RATELIMIT_STORAGE_URI"] = request.getfixturevalue("redis_url") if request.param == "redis" else "memory://"
    with ExitStack() as stack:
        bases = [f"http://127.0.0.1:{_free_port()}" for _ in range(2)]
        for i, base in enumerate(bases):
            stack.enter_context(gunicorn(base, env, tmp_path / f"gunicorn-{i}.log", ["--workers", "1"]))
        yield bases


def sign_in(base: str, email: str, password: str) -> int:
    """GET the form, POST it with its CSRF token, on a fresh cookie jar; the status of the POST (no redirects)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect)
    with opener.open(base + "/login", timeout=30) as page:
        token = CSRF_RE.search(page.read().decode()).group(1)
    form = urllib.parse.urlencode({"email": email, "password": password, "csrf_token": token}).encode()
    try:
        with opener.open(base + "/login", data=form, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_wrong_passwords_split_across_two_workers_hit_the_limit_even_all_at_once(two_servers, accounts):
    (first, second), (account, colleague) = two_servers, accounts
    statuses = [sign_in(two_servers[i % 2], account, "wrong-password") for i in range(LIMIT + 3)]
    assert statuses == [422] * LIMIT + [429] * 3
    assert sign_in(first, account, PASSWORD) == 429  # locked on both: even the right password waits
    assert sign_in(second, account, PASSWORD) == 429

    # 30 wrong passwords for another account sent at once, over both workers: no more than the limit get through.
    burst = f"burst-{uuid.uuid4().hex[:8]}@example.test"
    with ThreadPoolExecutor(max_workers=10) as pool:
        statuses = list(pool.map(lambda i: sign_in(two_servers[i % 2], burst, "wrong-password"), range(30)))
    assert set(statuses) <= {422, 429} and 1 <= statuses.count(422) <= LIMIT, statuses

    # A colleague at the same address goes on, and signs in.
    assert sign_in(second, colleague, "wrong-password") == 422
    assert sign_in(first, colleague, PASSWORD) == 302
