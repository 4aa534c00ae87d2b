"""Issue 14: the daily report of one store over a year, with a chain's worth of rolled-up history (PostgreSQL).

Usage: .venv/bin/python bench/reports.py [--database-url URL] [--stores 200] [--years 2] [--orders 1000000] [-n 20]

Building a million real orders with their audit trail and scans takes hours, and the reports never read them: they
read the rolled-up days (LocationDay, AssociateDay). So this script writes the rolled-up history directly: `--years`
of days for `--stores` stores plus the flagship (BENCH01, a tenth of the orders), whose figures add up to `--orders`
orders in all, and 15 associates' days at the flagship. Then, in process (no HTTP):

- `reports.daily_rows` for the flagship over 366 days (what GET /api/v1/reports/daily and the KPI page read);
- `reports.summary` by month for the flagship over a year, and chain-wide by store for a month (head office);
- `reports.associate_rows` for the flagship over a month;
- GET /api/v1/reports/daily?location=BENCH01 for a year, JSON and CSV, through the Flask test client, against GET
  /healthz through the same client (the ratio is the figure to compare across machines).

Median of `-n` runs each, after one warm-up. The database is made fresh each run (`comptoir_bench_reports`).
"""

import argparse
import os
import random
import statistics
import sys
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_reports"
TARGET_MS = 300


def fresh_database(url: str) -> None:
    from sqlalchemy import create_engine, text

    base, name = url.rsplit("/", 1)
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()


def histogram(rng, n: int, centre: int) -> dict:
    from app.core import reports

    out: dict = {}
    for _ in range(min(n, 40)):  # the shape matters, not every order
        key = str(reports.bucket(max(0.0, rng.gauss(centre, centre / 2))))
        out[key] = out.get(key, 0) + max(1, n // 40)
    return out


def day_row(rng, location_id: int, day: date, orders: int) -> dict:
    received = max(0, int(rng.gauss(orders, orders / 4)))
    rejected = received // 20
    units = received * 2
    short = units // 50
    ready = received - rejected
    collected = ready // 3
    return {
        "location_id": location_id,
        "day": day,
        "received": received,
        "ordered_units": units,
        "accepted": received - rejected,
        "rejected": rejected,
        "rejected_reasons": {"out_of_stock": rejected // 2, "too_busy": rejected - rejected // 2},
        "picked_lines": ready,
        "picked_units": units - short,
        "short_units": short,
        "short_products": {f"LC-{rng.randrange(20000):06d}": 1 for _ in range(min(short, 10))},
        "ready": ready,
        "on_time_ready": ready - ready // 10,
        "late_ready": ready // 10,
        "ready_minutes": histogram(rng, ready, 90),
        "promised": ready,
        "on_time_promised": ready - ready // 12,
        "shipped": ready - collected,
        "collected": collected,
        "expired": collected // 20,
        "collect_ready_minutes": histogram(rng, collected, 60),
        "collection_minutes": histogram(rng, collected, 1440),
        "returns": received // 25,
        "returned_units": received // 20,
        "return_reasons": {"too_small": received // 40, "changed_mind": received // 40},
    }


def build(url: str, stores: int, years: int, orders: int) -> None:
    from sqlalchemy import insert

    from app import create_app
    from app.core.models import Location
    from app.core.models.reports import AssociateDay, LocationDay
    from app.extensions import db
    from tests.factories import make_user

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        rng = random.Random(14)
        flagship = Location(code="BENCH01", name="Flagship", timezone="Europe/Paris")
        others = [Location(code=f"B{i:04d}", name=f"Store {i}", timezone="Europe/Rome") for i in range(stores)]
        db.session.add_all([flagship, *others])
        db.session.flush()
        people = [make_user([flagship]) for _ in range(15)]
        db.session.commit()
        days = 365 * years
        first = date.today() - timedelta(days=days)
        per_day_flagship = orders / 10 / days
        per_day_other = orders * 9 / 10 / days / max(stores, 1)
        total = 0
        for location, per_day in [(flagship, per_day_flagship)] + [(o, per_day_other) for o in others]:
            rows = [day_row(rng, location.id, first + timedelta(days=d), per_day) for d in range(days)]
            total += sum(r["received"] for r in rows)
            db.session.execute(insert(LocationDay), rows)
        rows = []
        for d in range(days):
            for person in people:
                minutes = rng.randrange(120, 420, 5)
                units = minutes // 2
                rows.append(
                    {
                        "location_id": flagship.id,
                        "day": first + timedelta(days=d),
                        "user_id": person.id,
                        "scans": units + 5,
                        "misscans": rng.randrange(0, 5),
                        "picked_lines": units // 2,
                        "picked_units": units,
                        "packed_units": units // 2,
                        "short_units": rng.randrange(0, 3),
                        "rejections": 0,
                        "handovers": rng.randrange(0, 10),
                        "active_minutes": minutes,
                        "hourly_units": {str(h): units // 8 for h in range(9, 17)},
                        "hourly_minutes": {str(h): minutes // 8 for h in range(9, 17)},
                    }
                )
        db.session.execute(insert(AssociateDay), rows)
        db.session.commit()
        db.session.execute(db.text("ANALYZE"))
        db.session.commit()
        print(
            f"history: {stores + 1} stores x {days} days, {total:,} orders received in all; "
            f"{len(rows):,} associate days at BENCH01"
        )


def timed(work, n: int) -> float:
    work()
    runs = []
    for _ in range(n):
        started = time.perf_counter()
        work()
        runs.append((time.perf_counter() - started) * 1000)
    return statistics.median(runs)


def measure(url: str, n: int) -> dict:
    from sqlalchemy import select

    from app import create_app
    from app.core import reports
    from app.core.integration.api_clients import create_api_client
    from app.core.models import Location
    from app.extensions import db
    from tests.factories import ACTOR

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "API_AUTH_CACHE_SECONDS": 0})
    results = {}
    with app.app_context():
        flagship = db.session.scalar(select(Location).where(Location.code == "BENCH01"))
        chain = db.session.scalars(select(Location)).all()
        last = date.today() - timedelta(days=1)
        year = (last - timedelta(days=365), last)
        month = (last - timedelta(days=29), last)

        def read(work):
            def run():
                work()
                db.session.rollback()  # a new transaction each time, as a request would

            return run

        results["daily_rows, 1 store, 366 days"] = timed(read(lambda: reports.daily_rows([flagship], *year)), n)
        results["summary by month, 1 store, 1 year"] = timed(
            read(lambda: reports.summary([flagship], *year, grain="month")), n
        )
        results[f"summary by store, {len(chain)} stores, 30 days"] = timed(
            read(lambda: reports.summary(chain, *month, grain="total", by_location=True, breakdowns=False)), n
        )
        results["associate_rows, 1 store, 30 days"] = timed(read(lambda: reports.associate_rows([flagship], *month)), n)
        _, token = create_api_client(f"bench-{time.time_ns()}", ["reports:read"], actor=ACTOR)
        db.session.commit()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}
    query = f"location=BENCH01&from={year[0]}&to={year[1]}"

    def get(path):
        def run():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, response.data[:300]

        return run

    results["GET /healthz"] = timed(get("/healthz"), n)
    results["GET /api/v1/reports/daily, 1 year, json"] = timed(get(f"/api/v1/reports/daily?{query}"), n)
    results["GET /api/v1/reports/daily, 1 year, csv"] = timed(get(f"/api/v1/reports/daily?{query}&format=csv"), n)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_REPORTS_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--years", type=int, default=2)
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("-n", type=int, default=20)
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    os.environ["DATABASE_URL"] = args.database_url  # the engine options follow the URL the config reads
    fresh_database(args.database_url)
    started = time.perf_counter()
    build(args.database_url, args.stores, args.years, args.orders)
    print(f"built in {time.perf_counter() - started:.0f} s")
    results = measure(args.database_url, args.n)
    healthz = results["GET /healthz"]
    print("| what | median ms | x /healthz |")
    print("|---|---:|---:|")
    for name, ms in results.items():
        print(f"| {name} | {ms:.1f} | {healthz / ms:.2f} |")
    slow = [name for name, ms in results.items() if ms > TARGET_MS]
    if slow:
        print("over the 300 ms target: " + ", ".join(slow))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
