"""A 10,000-line stock movement batch through the whole API stack (Flask test client) on PostgreSQL.

Usage: .venv/bin/python bench/movements.py [--database-url URL] [--lines 10000] [--runs 3]

Makes a fresh database (default comptoir_bench_movements), 4 stores and 500 products through the core, then
POSTs /api/v1/stock/movements with N lines (every line a distinct stock row until they repeat) and prints the
seconds per batch, and checks every stock row equals the sum of its ledger afterwards.
"""

import argparse
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_movements"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--lines", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()

    import os

    import psycopg
    from flask_migrate import upgrade
    from sqlalchemy import text

    name = args.database_url.rsplit("/", 1)[1]
    admin = args.database_url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')

    os.environ["DATABASE_URL"] = args.database_url  # engine options follow the URL
    from app import create_app
    from app.core.actor import Actor
    from app.core.integration import api_clients
    from app.core.inventory import catalogue
    from app.core.models import Location
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": args.database_url, "RATELIMIT_ENABLED": False})
    actor = Actor.system("bench")
    with app.app_context():
        upgrade()
        stores = [Location(code=f"MV{i}", name=f"Store {i}") for i in range(4)]
        db.session.add_all(stores)
        skus = [catalogue.create_product(sku=f"MV-{i:04d}", name=f"Product {i}").sku for i in range(500)]
        _, token = api_clients.create_api_client("bench-movements", ["stock:write"], actor=actor)
        db.session.commit()
        codes = [s.code for s in stores]
    client = app.test_client()
    lines = [{"location": codes[i % 4], "sku": skus[(i // 4) % 500], "delta": 1} for i in range(args.lines)]
    times = []
    if os.environ.get("PROFILE"):
        import cProfile

        cProfile.runctx(
            "client.post('/api/v1/stock/movements', json={'movements': lines}, headers={'Authorization': 'Bearer ' + token, 'Idempotency-Key': uuid.uuid4().hex})",
            globals(),
            locals(),
            sort="cumulative",
        )
    for _ in range(args.runs):
        started = time.perf_counter()
        response = client.post(
            "/api/v1/stock/movements",
            json={"movements": lines},
            headers={"Authorization": f"Bearer {token}", "Idempotency-Key": uuid.uuid4().hex},
        )
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, response.get_data(as_text=True)[:500]
    with app.app_context():
        wrong = db.session.execute(
            text(
                "SELECT COUNT(*) FROM stock_level s WHERE s.on_hand <> (SELECT COALESCE(SUM(m.on_hand_delta), 0)"
                " FROM stock_movement m WHERE m.location_id = s.location_id AND m.product_id = s.product_id)"
            )
        ).scalar()
    print(f"{args.lines} lines per batch, {args.runs} batches: " + ", ".join(f"{t:.2f} s" for t in times))
    print(f"stock rows differing from their ledger: {wrong}")
    return 0 if wrong == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
