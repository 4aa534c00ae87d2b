"""Past one machine: two app servers (gunicorn, on two ports) and two `flask worker` processes on one PostgreSQL
database and one Redis behave as one system.

- the API rate limit: a client over its limit on server A is refused on server B (counted in Redis);
- login throttling: wrong passwords on A and B add up;
- revocation: a signed-out device session and a revoked API client are refused on both;
- the event feed: read on A and on B while orders are written on both, the same events in the same order, no gap;
- webhooks: every event delivered exactly once by the two workers between them.

PostgreSQL only (SQLite is one machine's file); Redis is a redis-server of the test's own (missing: a failure with
CI=true, a loud skip elsewhere, as every Redis test).
"""

import concurrent.futures
import http.cookiejar
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from contextlib import ExitStack

import pytest
from sqlalchemy import text

from tests.api import test_rate_limit_redis
from tests.conftest import ENGINE
from tests.e2e.conftest import CSRF_RE, ROOT, VENV_BIN, _free_port, _server_env, api_tokens, gunicorn
from tests.e2e.conftest import api_call as call
from tests.e2e.test_event_feed_and_worker import GoodReceiver
from tests.e2e.test_login_throttle import sign_in

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        ENGINE != "postgresql", reason="two machines share PostgreSQL, not a SQLite file: TEST_DATABASE=postgresql"
    ),
]
redis_url = test_rate_limit_redis.redis_url  # a redis-server of its own (a loud skip, or a CI failure, without one)
WRITE_LIMIT = 5  # API writes per client per minute on both servers
LOGIN_LIMIT = 3
ORDERS = 24
PASSWORD = "two-servers-password-1"
METRICS_TOKEN = "metrics-" + "m" * 32
PARIS = {"line1": "1 rue de Rivoli", "postcode": "75001", "city": "Paris", "country": "FR"}


@pytest.fixture
def system(live_server, database_url, redis_url, tmp_path):
    """Two gunicorn servers and two workers on the live server's demo database and one Redis; yields the bases."""
    env = {
        **_server_env(database_url),
        "RATELIMIT_ENABLED": "true",
        "RATELIMIT_STORAGE_URI": redis_url,
        "AVAILABILITY_CACHE_URL": redis_url,
        "API_WRITE_RATE_LIMIT": f"{WRITE_LIMIT} per minute",
        "API_READ_RATE_LIMIT": "6000 per minute",
        "LOGIN_RATE_LIMIT": f"{LOGIN_LIMIT} per 5 minutes",
        "COMPTOIR_MULTI_PROCESS": "true",
        "LOG_FORMAT": "json",
        "METRICS_TOKEN": METRICS_TOKEN,
    }
    with ExitStack() as stack:
        bases = [f"http://127.0.0.1:{_free_port()}" for _ in range(2)]
        for i, base in enumerate(bases):
            args = ["--workers", "2", "--worker-class", "gthread", "--threads", "4"]
            stack.enter_context(gunicorn(base, {**env, "PUBLIC_URL": base}, tmp_path / f"server-{i}.log", args))
        workers = []
        for i in range(2):
            log = stack.enter_context(open(tmp_path / f"worker-{i}.log", "w"))
            workers.append(
                subprocess.Popen(
                    [str(VENV_BIN / "flask"), "worker", "--interval", "0.2"],
                    cwd=ROOT,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        try:
            yield bases, workers, tmp_path
        finally:
            for worker in workers:
                worker.terminate()
            for worker in workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()


def _user(database_url: str, *, store: str = "PAR01") -> str:
    from app import create_app
    from app.core.actor import Actor
    from app.core.models import Location
    from app.core.people import users
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    email = f"two-servers-{uuid.uuid4().hex[:10]}@example.test"
    with app.app_context():
        location = db.session.query(Location).filter_by(code=store).one()
        users.create_user(
            email=email, name="Two", password=PASSWORD, role="associate", stores=[location], actor=Actor.system("e2e")
        )
        db.session.commit()
        db.engine.dispose()
    return email


def _revoke_client(database_url: str, token: str) -> None:
    from app import create_app
    from app.core.actor import Actor
    from app.core.integration import api_clients
    from app.core.models import ApiClient
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        client = db.session.query(ApiClient).filter_by(token_hash=api_clients._hash(token)).one()
        api_clients.revoke_api_client(client, actor=Actor.system("e2e"))
        db.session.commit()
        db.engine.dispose()


class Browser:
    """A cookie jar that does not follow redirects: what a browser's session cookie does, on either server."""

    def __init__(self):
        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args, **kwargs):
                return None

        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect
        )

    def open(self, url: str, form: dict | None = None) -> tuple[int, str, str]:
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        try:
            with self.opener.open(url, data=data, timeout=30) as response:
                return response.status, response.headers.get("Location", ""), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location", ""), error.read().decode(errors="replace")


def test_limits_throttling_and_revocation_hold_across_two_servers(system, database_url, redis_url, query):
    (a, b), _, _ = system

    # deploy/smoke.py, the compose stack's smoke test, against these processes started directly (no containers here).
    for base in (a, b):
        smoke = subprocess.run(
            [sys.executable, "deploy/smoke.py", base],
            cwd=ROOT,
            env={"METRICS_TOKEN": METRICS_TOKEN, "PATH": os.environ.get("PATH", "")},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert smoke.returncode == 0 and "smoke test passed" in smoke.stdout, smoke.stdout + smoke.stderr

    # The API write limit: WRITE_LIMIT calls on A, then B refuses the same client (and A still does).
    (token,) = api_tokens(database_url, 1)
    statuses = [call(a, token, "POST", "/api/v1/orders", {})[0] for _ in range(WRITE_LIMIT)]
    assert statuses == [422] * WRITE_LIMIT  # counted even when refused as invalid
    assert call(b, token, "POST", "/api/v1/orders", {})[0] == 429
    assert call(a, token, "POST", "/api/v1/orders", {})[0] == 429
    (other,) = api_tokens(database_url, 1)
    assert call(b, other, "POST", "/api/v1/orders", {})[0] == 422  # another client is not held back

    # Wrong passwords on A and B add up to one limit; even the right password then waits, on both.
    email = _user(database_url)
    statuses = [sign_in((a, b)[i % 2], email, "wrong-password") for i in range(LOGIN_LIMIT + 1)]
    assert statuses == [422] * LOGIN_LIMIT + [429]
    assert sign_in(a, email, PASSWORD) == 429 and sign_in(b, email, PASSWORD) == 429

    # A device signed in on A is served by B; signed out on B, it is refused on A at its next tap.
    email = _user(database_url)
    device = Browser()
    status, _, page = device.open(a + "/login")
    token_field = CSRF_RE.search(page).group(1)
    status, landing, _ = device.open(a + "/login", {"email": email, "password": PASSWORD, "csrf_token": token_field})
    assert status == 302 and "/login" not in landing
    status, _, page = device.open(b + "/stores/PAR01/queue")
    assert status == 200
    status, landing, _ = device.open(b + "/logout", {"csrf_token": CSRF_RE.search(page).group(1)})
    assert status == 302 and landing.endswith("/login")
    status, landing, _ = device.open(a + "/stores/PAR01/queue")
    assert status == 302 and "/login" in landing

    # The availability cache is one, in Redis: what A answered is kept there, and B answers the same.
    import redis

    sku = query("SELECT sku FROM product ORDER BY sku LIMIT 1")[0][0]
    (shop,) = api_tokens(database_url, 1)
    status, on_a = call(a, shop, "GET", f"/api/v1/availability?skus={sku}&locations=PAR01")
    assert status == 200 and on_a[0]["sku"] == sku
    assert redis.Redis.from_url(redis_url).keys("comptoir:availability:*")
    assert call(b, shop, "GET", f"/api/v1/availability?skus={sku}&locations=PAR01") == (200, on_a)

    # A revoked API client is refused on both (each server's token memory lasts API_AUTH_CACHE_SECONDS, 1 s).
    (reader,) = api_tokens(database_url, 1)
    assert call(a, reader, "GET", "/api/v1/orders?limit=1")[0] == 200
    assert call(b, reader, "GET", "/api/v1/orders?limit=1")[0] == 200
    _revoke_client(database_url, reader)
    time.sleep(1.2)
    assert call(a, reader, "GET", "/api/v1/orders?limit=1")[0] == 401
    assert call(b, reader, "GET", "/api/v1/orders?limit=1")[0] == 401


def test_the_feed_is_the_same_on_both_servers_and_each_webhook_goes_out_once(system, database_url, query, db_engine):
    (a, b), workers, folder = system
    run = uuid.uuid4().hex[:8]
    receiver = GoodReceiver()
    try:
        from tests.e2e.conftest import flask_cli

        flask_cli(database_url, "webhooks", "add", receiver.url, "--secret", "s" * 20, "--events", "order.created")
        tokens = api_tokens(database_url, 2 + ORDERS // 2 + 1)
        readers, stocker, writers = tokens[:2], tokens[2], tokens[3:]
        sku = query("SELECT sku FROM product ORDER BY sku LIMIT 1")[0][0]
        assert call(a, stocker, "PUT", f"/api/v1/stock/PAR01/{sku}", {"on_hand": 100_000}, str(uuid.uuid4()))[0] == 200

        def page(base, token, cursor):
            status, body = call(base, token, "GET", f"/api/v1/events?after={cursor}&limit=500")
            assert status == 200, body
            return body

        start = 0
        while batch := page(a, readers[0], start):
            start = batch[-1]["position"]
        seen = {a: [], b: []}
        done = threading.Event()

        def follow(base, token):
            cursor = start
            while True:
                finished = done.is_set()
                batch = page(base, token, cursor)
                seen[base] += [(e["position"], e["id"]) for e in batch]
                if batch:
                    cursor = batch[-1]["position"]
                elif finished:
                    return
                time.sleep(0.05)

        followers = [threading.Thread(target=follow, args=(base, t)) for base, t in zip((a, b), readers, strict=True)]
        for follower in followers:
            follower.start()

        def order(i):
            body = {
                "channel": "web",
                "external_ref": f"TWO-{run}-{i}",
                "customer": {"name": f"Client {i}"},
                "delivery": {"method": "ship", "address": {**PARIS, "latitude": 48.86, "longitude": 2.34}},
                "lines": [{"sku": sku, "quantity": 1}],
            }
            return call((a, b)[i % 2], writers[i // 2], "POST", "/api/v1/orders", body)[0]

        with concurrent.futures.ThreadPoolExecutor(max_workers=8) as pool:
            statuses = list(pool.map(order, range(ORDERS)))
        assert statuses == [201] * ORDERS

        # The workers number the events and deliver them; wait for both to be done with ours.
        ours = "SELECT e.id FROM outbox_event e JOIN customer_order o ON o.id = e.order_id WHERE o.external_ref LIKE :p"
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            pending = query(
                f"SELECT count(*) FROM outbox_event WHERE position IS NULL OR id IN ({ours})"
                " AND id IN (SELECT event_id FROM webhook_delivery WHERE status = 'pending')",
                p=f"TWO-{run}-%",
            )[0][0]
            if not pending:
                break
            time.sleep(0.3)
        done.set()
        for follower in followers:
            follower.join(timeout=60)
        assert not any(f.is_alive() for f in followers)

        rows = [
            tuple(r)
            for r in query("SELECT position, id FROM outbox_event WHERE position > :s ORDER BY position", s=start)
        ]
        assert seen[a] == seen[b] == rows  # the same events, in the same order, none missing, none twice
        created = {r[0] for r in query(ours + " AND e.type = 'order.created'", p=f"TWO-{run}-%")}
        assert len(created) == ORDERS
        received = [event["id"] for event in receiver.received if event["id"] in created]
        assert sorted(received) == sorted(created)  # every order.created delivered exactly once
        assert all(w.poll() is None for w in workers)  # both workers still running
        delivered_by = query(
            "SELECT count(*) FROM webhook_delivery WHERE status = 'delivered' AND event_id IN :ids".replace(
                ":ids", "(" + ",".join(str(i) for i in created) + ")"
            )
        )[0][0]
        assert delivered_by == ORDERS

        # /metrics on A adds up its two gunicorn workers (prometheus_client's multi-process mode): A took half the
        # orders, whichever worker answered each.
        headers = {"Authorization": f"Bearer {METRICS_TOKEN}"}
        request = urllib.request.Request(a + "/metrics", headers=headers)  # noqa: S310 - loopback
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            exposition = response.read().decode()
        captured = next(
            float(line.split()[-1])
            for line in exposition.splitlines()
            if line.startswith('comptoir_orders_captured_total{method="ship"}')
        )
        assert captured >= ORDERS // 2
        assert 'comptoir_http_request_duration_seconds_count{method="POST",route="/api/v1/orders",status="201"}' in (
            exposition
        )
    finally:
        receiver.close()
        with db_engine.begin() as connection:  # later tests' events do not go to a receiver that is gone
            connection.execute(
                text("UPDATE webhook_subscription SET active = false WHERE url = :u"), {"u": receiver.url}
            )

    # Each worker writes one JSON line per job that did something, under a job id of its own (the webhook call
    # sent it as X-Request-ID).
    lines = [
        json.loads(line)
        for i in range(2)
        for line in (folder / f"worker-{i}.log").read_text().splitlines()
        if line.startswith("{")
    ]
    deliveries = [line for line in lines if line.get("job", "").startswith("deliver ")]
    assert len(deliveries) >= ORDERS
    assert all(line["request_id"].startswith("job-") and line["result"] == "delivered" for line in deliveries)
