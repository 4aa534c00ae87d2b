"""Issue 14: the store board, the store KPI page and the daily report API for one store of a chain with 1 M orders.

Usage:
    .venv/bin/python bench/large_chain.py --fresh --database-url URL --skus 2000 --orders 1000000   # first
    .venv/bin/python bench/board.py [--database-url URL] [--store PAR01] [--open 120] [--backfill-days 7]
                                    [-n 50] [--seconds 10] [--connections 10] [--no-setup] [--no-http]

On top of the large chain (its 1 M closed historical orders over two years, a tenth at the flagship PAR01), the
setup (skipped with --no-setup; run it once per database) adds, in set-based SQL unless said otherwise:

1. the audit trail of the history: every historical fulfilment's steps as the app records them
   (`fulfilment.<status>`, {"status": before} -> {"status": after}): accepted, picked, packed (ship) or
   ready_for_pickup (collect), shipped or collected; `fulfilment.cancelled` for the cancelled ones (about 3.8 M
   rows); the flagship's steps by its associates;
2. closed Pickup rows for the historical click & collect orders;
3. eight more associates at the flagship (the app's users.create_user), and today's open work there: `--open`
   fulfilments of 1-3 lines arrived over the last 8 hours, across every open status (to accept, to pick, picking on
   three open pick lists, picked, packed, on the hold shelf with some customers arrived), a quarter of them past
   their ready-by; scans in the last 25 minutes by five associates, so the prediction has people working now;
4. the rolled-up days: LocationDay for every location and every day of the two years, written directly (bench/
   reports.py's day_row, sized on each location's real orders) and AssociateDay for the flagship's associates,
   except the flagship's last `--backfill-days` days of history and today, which app.core.reports.backfill rolls
   up from the raw rows;
5. LatenessPrediction rows: two per flagship fulfilment of the last 90 days of history (made 30 and 90 minutes
   after it arrived, actual_ready_at learnt), and today's open work predicted and kept by the worker's own code
   (prediction.record(prediction.predict(...)));
6. VACUUM ANALYZE.

Then it measures, in process (Flask test client; signed in as the flagship's manager, and an API client with
reports:read), `-n` runs after two warm-ups each: median and p95 ms of the board page, its htmx fragment, the store
KPI page (default 30 days by day, and 12 months by month), the daily report JSON for the store over a year, and
/healthz; then the board's fragment with no rendered fragment kept (BOARD_FRAGMENT_CACHE_SIZE=0: the snapshot read
and worded each poll) and with its snapshot computed on every poll (BOARD_SNAPSHOT_MAX_AGE=0: as after each change
to the store's open work). Over HTTP the server takes both settings from the environment
(`BOARD_SNAPSHOT_MAX_AGE=0 bench/board.py --no-setup` measures the computed board). And over HTTP (gunicorn, 2 gthread workers, wrk, bench/run.py's machinery): req/s, p50 and p99 of
/healthz and the same endpoints in the same run, with the ratio to /healthz (target >= 0.1).
"""

import argparse
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_large"
TARGET_MS = 300
TARGET_RATIO = 0.1
HISTORY = "history"  # bench/large_chain.py's channel for the historical orders
OPEN_CHANNEL = "bench-open"
LIVE = {"HX-Request": "true", "HX-Target": "board-live"}


def say(message: str) -> None:
    print(message, flush=True)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


# --- setup ------------------------------------------------------------------------------------------------------


def audit_history(conn, store_id: int, associates: list[int]) -> int:
    """The history's audit trail, as app.core.floor's transitions write it."""
    rows = conn.execute(
        """
        INSERT INTO audit_event (actor_user_id, actor, action, subject_type, subject_id, before, after, ip, device,
                                 created_at)
        SELECT CASE WHEN f.location_id = %(store)s THEN (%(people)s::int[])[1 + f.id %% %(n)s] END,
               'bench-history', 'fulfilment.' || s.status, 'fulfilment', f.id::text,
               json_build_object('status', s.before), json_build_object('status', s.status, 'reason', ''), '', '',
               s.at
        FROM fulfilment f
        JOIN customer_order o ON o.id = f.order_id
        CROSS JOIN LATERAL (
            VALUES ('accepted', 'created', f.created_at + interval '20 minutes', f.status <> 'cancelled'),
                   ('picked', 'accepted', f.created_at + interval '90 minutes', f.status <> 'cancelled'),
                   ('packed', 'picked', f.created_at + interval '150 minutes', f.status = 'shipped'),
                   ('ready_for_pickup', 'picked', f.created_at + interval '150 minutes', f.status = 'collected'),
                   ('shipped', 'packed', f.updated_at, f.status = 'shipped'),
                   ('collected', 'ready_for_pickup', f.updated_at, f.status = 'collected'),
                   ('cancelled', 'created', f.updated_at, f.status = 'cancelled')
        ) AS s(status, before, at, happened)
        WHERE o.channel = %(channel)s AND s.happened
        ORDER BY s.at
        """,
        {"store": store_id, "people": associates, "n": len(associates), "channel": HISTORY},
    ).rowcount
    conn.execute(
        """
        INSERT INTO pickup (fulfilment_id, location_id, is_open, code, bags, ready_at, expires_at, collected_at,
                            closed_at, arrival_note, failed_attempts, refused, put_back, created_at)
        SELECT f.id, f.location_id, false, NULL, 1, f.created_at + interval '150 minutes',
               f.created_at + interval '150 minutes' + interval '7 days', f.updated_at, f.updated_at, '', 0, '[]',
               false, f.created_at
        FROM fulfilment f JOIN customer_order o ON o.id = f.order_id
        WHERE o.channel = %(channel)s AND f.status = 'collected'
        """,
        {"channel": HISTORY},
    )
    return rows


def open_work(conn, store_id: int, count: int, associates: list[int], now: datetime) -> None:
    """Today's open work at the store, three open pick lists and recent scans (SQL, deterministic)."""
    lists = [
        conn.execute(
            "INSERT INTO pick_list (location_id, user_id, status, created_at) VALUES (%s, %s, 'open', %s) RETURNING id",
            (store_id, associates[i], now - timedelta(minutes=40 - i * 10)),
        ).fetchone()[0]
        for i in range(3)
    ]
    statuses = (
        ["created"] * 4
        + ["accepted"] * 4
        + ["picking"] * 3
        + ["picked"] * 3
        + ["packed"] * 2
        + ["ready_for_pickup"] * 4
    )
    conn.execute("DROP TABLE IF EXISTS bench_open")
    conn.execute(
        """
        CREATE TEMP TABLE bench_open AS
        SELECT g, (%(statuses)s::text[])[1 + g %% %(ns)s] AS status,
               %(now)s::timestamptz - make_interval(mins => (g * 37) %% 480) AS created,
               1 + g %% 3 AS n_lines, (g * 7919) %% (SELECT count(*) FROM product) AS p0
        FROM generate_series(1, %(count)s) AS g
        """,
        {"statuses": statuses, "ns": len(statuses), "now": now, "count": count},
    )
    conn.execute(
        """
        ALTER TABLE bench_open ADD COLUMN method text;
        UPDATE bench_open SET method = CASE WHEN status = 'ready_for_pickup' OR g % 5 = 0 THEN 'collect'
                                            ELSE 'ship' END;
        UPDATE bench_open SET status = 'picked' WHERE status = 'packed' AND method = 'collect';
        """
    )
    conn.execute(
        """
        INSERT INTO customer_order (channel, external_ref, fingerprint, status, customer_name, customer_email,
                customer_phone, customer_language, delivery_method, ship_line1, ship_line2, ship_postcode, ship_city,
                ship_country, pickup_location_id, payment_reference, currency, needs_review, created_at, updated_at,
                needs_customer_service, gift_wrap, gift_message)
            SELECT %(channel)s, 'O' || lpad(g::text, 6, '0'), md5('open' || g), 'open', 'Client ' || g,
                   'open' || g || '@example.test', '', 'fr', method,
                   CASE WHEN method = 'ship' THEN g || ' rue du Bac' ELSE '' END, '',
                   CASE WHEN method = 'ship' THEN '75007' ELSE '' END, CASE WHEN method = 'ship' THEN 'Paris' ELSE '' END,
                   CASE WHEN method = 'ship' THEN 'FR' ELSE '' END,
                   CASE WHEN method = 'collect' THEN %(store)s END, 'PAY-O' || g, 'EUR', false, created, created,
                   false, false, ''
        FROM bench_open ORDER BY g
        """,
        {"channel": OPEN_CHANNEL, "store": store_id},
    )
    conn.execute("ALTER TABLE bench_open ADD COLUMN order_id int, ADD COLUMN fulfilment_id int, ADD COLUMN pl int")
    conn.execute(
        "UPDATE bench_open b SET order_id = o.id FROM customer_order o "
        "WHERE o.channel = %s AND o.external_ref = 'O' || lpad(b.g::text, 6, '0')",
        (OPEN_CHANNEL,),
    )
    conn.execute(
        "UPDATE bench_open SET pl = (%s::int[])[1 + g %% 3] WHERE status = 'picking'",
        (lists,),
    )
    conn.execute(
        """
        INSERT INTO order_line (order_id, line_no, product_id, quantity, unit_price)
        SELECT b.order_id, k, p.id, 1 + (b.g + k) % 2, coalesce(p.price, 19.90)
        FROM bench_open b CROSS JOIN generate_series(1, 3) AS k
        JOIN (SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, price FROM product) p
          ON p.n = (b.p0 + (k - 1) * 101) % (SELECT count(*) FROM product)
        WHERE k <= b.n_lines
        """
    )
    conn.execute(
        """
        INSERT INTO fulfilment (order_id, location_id, status, accept_by, ready_by, status_reason, version, created_at,
                                updated_at, tote, gift_done, pick_list_id)
        SELECT order_id, %(store)s, status, created + interval '1 hour',
               created + CASE WHEN g %% 4 = 0 THEN interval '2 hours' ELSE interval '6 hours' END, '', 1, created,
               created, '', false, pl
        FROM bench_open ORDER BY g
        """,
        {"store": store_id},
    )
    conn.execute(
        "UPDATE bench_open b SET fulfilment_id = f.id FROM fulfilment f WHERE f.order_id = b.order_id",
    )
    conn.execute(
        """
        INSERT INTO fulfilment_line (fulfilment_id, order_line_id, product_id, quantity, picked, short)
        SELECT b.fulfilment_id, ol.id, ol.product_id, ol.quantity,
               CASE WHEN b.status IN ('picked', 'packed', 'ready_for_pickup') THEN ol.quantity
                    WHEN b.status = 'picking' AND ol.line_no = 1 THEN ol.quantity ELSE 0 END, 0
        FROM bench_open b JOIN order_line ol ON ol.order_id = b.order_id
        """
    )
    conn.execute(
        """
        INSERT INTO pickup (fulfilment_id, location_id, is_open, code, bags, ready_at, expires_at,
                            customer_arrived_at, arrival_note, failed_attempts, refused, put_back, created_at)
        SELECT fulfilment_id, %(store)s, true, lpad((g * 7331 %% 1000000)::text, 6, '0'), 1,
               created + interval '90 minutes', created + interval '7 days',
               CASE WHEN g %% 3 = 0 THEN %(now)s::timestamptz - interval '5 minutes' END, '', 0, '[]', false, created
        FROM bench_open WHERE method = 'collect'
        """,
        {"store": store_id, "now": now},
    )
    # Five associates scanning in the last 25 minutes: they are the people working now.
    conn.execute(
        """
        INSERT INTO scan (client_id, location_id, user_id, purpose, pick_list_id, code, outcome, quantity, details,
                          created_at)
        SELECT 'bench-open-' || u || '-' || k, %(store)s, (%(people)s::int[])[u],
               CASE WHEN k %% 4 = 0 THEN 'pack' ELSE 'pick' END,
               CASE WHEN u <= 3 THEN (%(lists)s::int[])[u] END, '3799000000000', 'ok', 1, '{}',
               %(now)s::timestamptz - make_interval(mins => 25 - k * 2)
        FROM generate_series(1, 5) AS u CROSS JOIN generate_series(0, 11) AS k
        """,
        {"store": store_id, "people": associates, "lists": lists, "now": now},
    )


def people(app, store_code: str, extra: int) -> list[int]:
    """The store's associates (the demo's, and `extra` more made with users.create_user)."""
    from sqlalchemy import select

    from app.core.models import Location, User, membership
    from app.extensions import db
    from tests.factories import make_user

    with app.app_context():
        store = db.session.scalar(select(Location).where(Location.code == store_code))
        for i in range(extra):
            email = f"bench.{store_code.lower()}.{i + 1}@example.test"
            if db.session.scalar(select(User.id).where(User.email == email)):
                continue
            make_user([store], name=f"Associé·e {i + 1}", email=email)
        db.session.commit()
        return list(
            db.session.scalars(
                select(User.id)
                .join(membership, membership.c.user_id == User.id)
                .where(membership.c.location_id == store.id, User.role == "associate")
                .order_by(User.id)
            )
        )


def rolled_up_history(app, conn, store_id: int, associates: list[int], days: int, backfilled: set) -> int:
    """LocationDay for every location and day, AssociateDay for the store's associates, written directly, sized on
    each location's real history; the backfilled days are left to the rollup."""
    from sqlalchemy import insert

    from app.core.models.reports import AssociateDay, LocationDay
    from app.extensions import db
    from bench.reports import day_row

    per_day = dict(
        conn.execute(
            "SELECT l.id, count(f.id)::float / %s FROM location l LEFT JOIN fulfilment f ON f.location_id = l.id "
            "GROUP BY l.id",
            (days,),
        ).fetchall()
    )
    rng = random.Random(14)
    first = date.today() - timedelta(days=days)
    written = 0
    with app.app_context():
        for location_id, mean in per_day.items():
            rows = [
                day_row(rng, location_id, first + timedelta(days=d), mean)
                for d in range(days)
                if location_id != store_id or first + timedelta(days=d) not in backfilled
            ]
            db.session.execute(insert(LocationDay), rows)
            written += len(rows)
        rows = []
        for d in range(days):
            day = first + timedelta(days=d)
            if day in backfilled:
                continue
            for person in associates:
                minutes = rng.randrange(120, 420, 5)
                units = minutes // 2
                rows.append(
                    {
                        "location_id": store_id,
                        "day": day,
                        "user_id": person,
                        "scans": units + 5,
                        "misscans": rng.randrange(0, 5),
                        "picked_lines": units // 2,
                        "picked_units": units,
                        "packed_units": units // 2,
                        "short_units": rng.randrange(0, 3),
                        "rejections": 0,
                        "handovers": rng.randrange(0, 10),
                        "active_minutes": minutes,
                        "hourly_units": {str(h): units // 8 for h in range(10, 18)},
                        "hourly_minutes": {str(h): minutes // 8 for h in range(10, 18)},
                    }
                )
        db.session.execute(insert(AssociateDay), rows)
        db.session.commit()
    return written


def predictions_history(conn, store_id: int) -> int:
    return conn.execute(
        """
        INSERT INTO lateness_prediction (fulfilment_id, location_id, made_at, predicted_ready_at, deadline, late, reason,
                                         actual_ready_at)
        SELECT f.id, f.location_id, f.created_at + m.after,
               f.created_at + interval '150 minutes' + make_interval(mins => (f.id %% 61) - 30), f.ready_by,
               f.id %% 10 = 0, CASE WHEN f.id %% 10 = 0 THEN '3 associates at 38 units/h: ...' ELSE '' END,
               f.created_at + interval '150 minutes'
        FROM fulfilment f
        JOIN customer_order o ON o.id = f.order_id
        CROSS JOIN (VALUES (interval '30 minutes'), (interval '90 minutes')) AS m(after)
        WHERE f.location_id = %(store)s AND o.channel = %(channel)s AND f.status <> 'cancelled'
          AND f.created_at > now() - interval '93 days'
        """,
        {"store": store_id, "channel": HISTORY},
    ).rowcount


def setup(url: str, store_code: str, count: int, backfill_days: int) -> None:
    import psycopg
    from sqlalchemy import select

    from app import create_app
    from app.core import reports
    from app.core.models import Location
    from app.core.reports import prediction
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    started = time.monotonic()
    associates = people(app, store_code, 8)
    with psycopg.connect(plain(url)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '256MB'")
        store_id = conn.execute("SELECT id FROM location WHERE code = %s", (store_code,)).fetchone()[0]
        if conn.execute("SELECT 1 FROM customer_order WHERE channel = %s LIMIT 1", (OPEN_CHANNEL,)).fetchone():
            sys.exit("this database has the board bench's setup already: run with --no-setup")
        t = time.monotonic()
        if conn.execute("SELECT 1 FROM audit_event WHERE actor = 'bench-history' LIMIT 1").fetchone():
            say("  audit trail of the history: there already")
        else:
            n = audit_history(conn, store_id, associates)
            conn.commit()
            say(f"  audit trail of the history: {n:,} rows, and the closed pickups, {time.monotonic() - t:.0f} s")
        t = time.monotonic()
        open_work(conn, store_id, count, associates, datetime.now(UTC))
        conn.commit()
        say(f"  open work today at {store_code}: {count} fulfilments, {time.monotonic() - t:.1f} s")
        history_days = conn.execute(
            "SELECT DISTINCT (f.created_at AT TIME ZONE l.timezone)::date AS d FROM fulfilment f "
            "JOIN location l ON l.id = f.location_id JOIN customer_order o ON o.id = f.order_id "
            "WHERE f.location_id = %s AND o.channel = %s AND f.created_at > now() - interval '30 days' "
            "ORDER BY d DESC LIMIT %s",
            (store_id, HISTORY, backfill_days),
        ).fetchall()
        today = datetime.now(UTC).date()
        backfilled = {d for (d,) in history_days} | {today}
        t = time.monotonic()
        written = rolled_up_history(app, conn, store_id, associates, 730, backfilled)
        say(f"  rolled-up days written directly: {written:,} LocationDay rows, {time.monotonic() - t:.0f} s")
        t = time.monotonic()
        n = predictions_history(conn, store_id)
        conn.commit()
        say(f"  lateness predictions of the last 90 days: {n:,}, {time.monotonic() - t:.1f} s")
    with app.app_context():
        store = db.session.scalar(select(Location).where(Location.code == store_code))
        t = time.monotonic()
        done = 0
        for day in sorted(backfilled):
            done += reports.backfill(store, day, day)
        say(
            f"  reports.backfill at {store_code}: {done} days ({', '.join(map(str, sorted(backfilled)))}), "
            f"{time.monotonic() - t:.1f} s"
        )
        store = db.session.scalar(select(Location).where(Location.code == store_code))
        kept = prediction.record(prediction.predict(store, datetime.now(UTC)))
        db.session.commit()
        say(f"  today's predictions kept by prediction.record: {kept}")
    t = time.monotonic()
    with psycopg.connect(plain(url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    say(f"  VACUUM ANALYZE: {time.monotonic() - t:.0f} s; setup {time.monotonic() - started:.0f} s in all")


def describe(url: str, store_code: str) -> str:
    import psycopg

    with psycopg.connect(plain(url)) as conn:
        row = conn.execute(
            """
            SELECT (SELECT count(*) FROM customer_order), (SELECT count(*) FROM fulfilment),
                   (SELECT count(*) FROM fulfilment f JOIN location l ON l.id = f.location_id WHERE l.code = %(s)s),
                   (SELECT count(*) FROM fulfilment f JOIN location l ON l.id = f.location_id
                     WHERE l.code = %(s)s AND f.status IN ('created', 'accepted', 'picking', 'picked', 'packed',
                                                          'ready_for_pickup')),
                   (SELECT count(*) FROM audit_event), (SELECT count(*) FROM location_day),
                   (SELECT count(*) FROM associate_day), (SELECT count(*) FROM lateness_prediction),
                   (SELECT count(*) FROM location),
                   pg_size_pretty(pg_database_size(current_database()))
            """,
            {"s": store_code},
        ).fetchone()
    names = (
        "orders",
        "fulfilments",
        f"fulfilments at {store_code}",
        f"open at {store_code}",
        "audit rows",
        "LocationDay rows",
        "AssociateDay rows",
        "LatenessPrediction rows",
        "locations",
        "database size",
    )
    return "; ".join(
        f"{name}: {value:,}" if isinstance(value, int) else f"{name}: {value}"
        for name, value in zip(names, row, strict=True)
    )


# --- in process -------------------------------------------------------------------------------------------------


def timed(work, n: int) -> tuple[float, float]:
    work()
    work()
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        runs.append((time.perf_counter() - started) * 1000)
    runs.sort()
    return statistics.median(runs), runs[min(len(runs) - 1, round(0.95 * (len(runs) - 1)))]


def api_token(app, name: str = "bench-board", scopes=("reports:read",)) -> str:
    from app.core.integration.api_clients import create_api_client
    from app.extensions import db
    from tests.factories import ACTOR

    with app.app_context():
        _, token = create_api_client(f"{name}-{time.time_ns()}", list(scopes), actor=ACTOR)
        db.session.commit()
    return token


def endpoints(store_code: str) -> dict[str, tuple[str, dict]]:
    last = date.today() - timedelta(days=1)
    year = f"from={last - timedelta(days=365)}&to={last}"
    return {
        "board page": (f"/stores/{store_code}/board", {}),
        "board fragment (htmx poll)": (f"/stores/{store_code}/board", LIVE),
        "KPI page, 30 days by day": (f"/stores/{store_code}/reports", {}),
        "KPI page, 12 months by month": (f"/stores/{store_code}/reports?period=12m", {}),
        "daily report API, 1 year, json": (f"/api/v1/reports/daily?location={store_code}&{year}", {"api": True}),
    }


def in_process(url: str, store_code: str, n: int) -> dict:
    from app import create_app
    from tests.conftest import login

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "API_AUTH_CACHE_SECONDS": 0})
    token = api_token(app)
    manager = app.test_client()
    response = login(manager, f"manager.{store_code.lower()}@demo.comptoir.fr", "comptoir-demo")
    assert response.status_code in (200, 302), response.status_code
    api = app.test_client()

    def get(client, path, headers):
        def run():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.data[:300])

        return run

    results = {"/healthz": timed(get(api, "/healthz", {}), n)}
    for name, (path, headers) in endpoints(store_code).items():
        if headers.get("api"):
            results[name] = timed(get(api, path, {"Authorization": f"Bearer {token}"}), n)
        else:
            results[name] = timed(get(manager, path, headers), n)
    # The board's slower paths: its snapshot read and worded on every poll (no rendered fragment kept), and
    # computed on every poll (as after each change to the store's open work, or without the snapshot).
    board = f"/stores/{store_code}/board"
    app.config["BOARD_FRAGMENT_CACHE_SIZE"] = 0
    results["board fragment, snapshot rendered each poll"] = timed(get(manager, board, LIVE), n)
    app.config["BOARD_SNAPSHOT_MAX_AGE"] = 0
    results["board fragment, snapshot computed each poll"] = timed(get(manager, board, LIVE), n)
    return results


# --- over HTTP --------------------------------------------------------------------------------------------------


def answers_200(url: str, headers: list[str]) -> None:
    """wrk counts redirects as success: make sure the session or token really opens the page first."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args, **kwargs):
            return None

    request = urllib.request.Request(url, headers=dict(h.split(": ", 1) for h in headers))
    try:
        status = urllib.request.build_opener(NoRedirect).open(request, timeout=60).status
    except urllib.error.HTTPError as error:
        status = error.code
    if status != 200:
        sys.exit(f"{url} answered {status}, not 200")


def over_http(url: str, store_code: str, seconds: int, connections: int, threads: int) -> dict:
    from app import create_app
    from bench.run import free_port, sign_in, wrk

    token = api_token(create_app({"SQLALCHEMY_DATABASE_URI": url}))
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py", "RATELIMIT_ENABLED": "false"}
    port = free_port()
    server = subprocess.Popen(
        [
            BIN / "gunicorn",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            str(threads),
            "--bind",
            f"127.0.0.1:{port}",
            "wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        cookie = sign_in(base, f"manager.{store_code.lower()}@demo.comptoir.fr")
        results["/healthz"] = wrk(base + "/healthz", cookie, seconds, connections)
        for name, (path, headers) in endpoints(store_code).items():
            if headers.get("api"):
                cookie_, extra = "", [f"Authorization: Bearer {token}"]
            else:
                cookie_, extra = cookie, [f"{k}: {v}" for k, v in headers.items()]
            answers_200(base + path, extra + ([f"Cookie: {cookie_}"] if cookie_ else []))
            results[name] = wrk(base + path, cookie_, seconds, connections, extra)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LARGE_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--store", default="PAR01")
    parser.add_argument("--open", type=int, default=120, help="open fulfilments today at the store")
    parser.add_argument("--backfill-days", type=int, default=7)
    parser.add_argument("-n", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4, help="gthread threads per gunicorn worker")
    parser.add_argument("--no-setup", action="store_true")
    parser.add_argument("--no-http", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    os.environ["DATABASE_URL"] = args.database_url
    if not args.no_setup:
        setup(args.database_url, args.store, args.open, args.backfill_days)
    say(describe(args.database_url, args.store))
    say(f"load average before: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    results = in_process(args.database_url, args.store, args.n)
    say(f"\nin process, {args.n} runs after 2 warm-ups; load average {os.getloadavg()[0]:.2f}")
    say("| what | median ms | p95 ms |")
    say("|---|---:|---:|")
    for name, (median, p95) in results.items():
        say(f"| {name} | {median:.1f} | {p95:.1f} |")
    failed = [name for name, (median, _) in results.items() if median > TARGET_MS]
    if not args.no_http:
        http = over_http(args.database_url, args.store, args.seconds, args.connections, args.threads)
        trivial = http["/healthz"]
        say(
            f"\nover HTTP: gunicorn 2 gthread workers x {args.threads} threads, wrk {args.connections} connections, "
            f"{args.seconds} s each; load average {os.getloadavg()[0]:.2f}"
        )
        say("| endpoint | req/s | p50 ms | p99 ms | req/s ÷ /healthz | non-2xx |")
        say("|---|---:|---:|---:|---:|---:|")
        for name, r in http.items():
            say(
                f"| {name} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | {r['rps'] / trivial['rps']:.2f} "
                f"| {r['errors']} |"
            )
        failed += [f"{name} over HTTP" for name, r in http.items() if r["rps"] / trivial["rps"] < TARGET_RATIO]
        failed += [f"{name} over HTTP: non-2xx" for name, r in http.items() if r["errors"]]
    if failed:
        say("missed: " + ", ".join(failed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
