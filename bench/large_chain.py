"""A large chain in a PostgreSQL database, for the benchmarks of issue 9: 200 stores + 1 warehouse x 20,000 SKUs.

Usage: .venv/bin/python bench/large_chain.py [--database-url URL] [--fresh] [--stores 200] [--warehouses 1]
                                             [--skus 20000] [--orders 0] [--flagship PAR01 --flagship-share 0.1]

1. creates the database if it is missing (`--fresh`: drops it first), runs the app's migrations (`flask db upgrade`)
   and loads the demo retailer (`flask demo load`, skipped when the demo admin already exists), so the demo logins,
   carriers, rules and the 11 demo locations are there;
2. adds the stores (codes LC001...) and the warehouse(s) (LCW01...), spread over France and Italy around the postcode
   areas of app/core/ordering/data/postcode_areas.csv, with their timezone, capacities, ship / collect flags and default
   opening hours (NULL);
3. adds the SKUs (LC-000001..., valid EAN-13 GTINs under a prefix the demo does not use);
4. gives every new location a stock row for every new SKU (on_hand 0-12 in stores, about a quarter at 0, 20-200
   in warehouses; a few with a safety stock), and one 'receive' ledger row per stock row with units, so each row's
   on_hand is the sum of its stock_movement rows (checked at the end); one location per statement, so a run that
   is stopped can be started again and goes on where it was;
5. with `--orders N`: N historical orders over the last 2 years, closed (shipped, collected or cancelled), with
   1-3 lines each and one fulfilment (and its lines) at one location; `--flagship-share` of them at the flagship
   store (PAR01, the demo store whose queue page is benched), the rest spread over every location that ships;
   they add no stock movements (closed orders hold no reservation; today's stock is what the ledger says);
6. VACUUM ANALYZE, and the checks: row counts, GTIN check digits, ledger = stock for every row.

Everything is set-based SQL (INSERT ... SELECT over generate_series), so the full size takes minutes.
"""

import argparse
import csv
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_large"
DEMO_ADMIN = "admin@demo.comptoir.fr"
STORE_PREFIX, WAREHOUSE_PREFIX, SKU_PREFIX = "LC", "LCW", "LC-"
GTIN_PREFIX = "37990"  # 5 digits + 7 digits of SKU number + check digit; the demo uses 3760241, 8058093, 3700413
ACTOR, REFERENCE = "bench-large-chain", "bench-large-chain"
HISTORY_CHANNEL = "history"
CHUNK = 100_000  # historical orders per statement

# Every NOT NULL column without a database default that this script writes, per table. If a migration adds
# another one, the script stops before writing anything and names it (the INSERTs below must learn about it).
WRITTEN = {
    "location": "id code name kind address_line1 postcode city country latitude longitude timezone ships_from_store "
    "click_and_collect returns daily_capacity accept_within_minutes ready_within_minutes active created_at updated_at "
    "ship_paused sourcing_priority opening_hours pick_batch_size scan_mode scan_to_pack zpl_printer",
    "product": "id sku gtin name category weight_grams length_mm width_mm height_mm price created_at updated_at",
    "stock_level": "id location_id product_id on_hand reserved safety_stock damaged updated_at",
    "stock_movement": "id location_id product_id kind on_hand_delta reserved_delta damaged_delta reason reference "
    "actor created_at",
    "customer_order": "id channel external_ref fingerprint status customer_name customer_email customer_phone "
    "customer_language delivery_method ship_line1 ship_line2 ship_postcode ship_city ship_country ship_latitude "
    "ship_longitude pickup_location_id payment_reference payment_amount currency needs_review created_at updated_at "
    "needs_customer_service gift_wrap gift_message",
    "order_line": "id order_id line_no product_id quantity unit_price",
    "fulfilment": "id order_id location_id status accept_by ready_by status_reason version created_at updated_at "
    "tote gift_done",
    "fulfilment_line": "id fulfilment_id order_line_id product_id quantity picked short",
}


def say(message: str) -> None:
    print(message, flush=True)


class Timer:
    def __init__(self):
        self.start = time.monotonic()
        self.steps: list[tuple[str, float]] = []

    def step(self, name: str, since: float) -> None:
        took = time.monotonic() - since
        self.steps.append((name, took))
        say(f"  {name}: {took:.1f} s")


def admin_url(url: str) -> str:
    return url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/postgres"


def plain_url(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


def ensure_database(url: str, fresh: bool) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    with psycopg.connect(admin_url(url), autocommit=True) as conn:
        if fresh:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            say(f"database {name} created")


def flask(url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py"}
    env.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    done = subprocess.run([BIN / "flask", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def areas() -> list[tuple[str, str, float, float, str]]:
    """Metropolitan France and Italy postcode areas: (country, prefix, latitude, longitude, name)."""
    with open(ROOT / "app" / "core" / "ordering" / "data" / "postcode_areas.csv", encoding="utf-8") as handle:
        rows = [
            (r["country"], r["prefix"], float(r["latitude"]), float(r["longitude"]), r["name"])
            for r in csv.DictReader(handle)
        ]
    return [r for r in rows if len(r[1]) == 2]


def check_schema(conn) -> None:
    missing = []
    for table, columns in WRITTEN.items():
        written = set(columns.split())
        rows = conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = %s "
            "AND is_nullable = 'NO' AND column_default IS NULL",
            (table,),
        ).fetchall()
        missing += [f"{table}.{name}" for (name,) in rows if name not in written]
    if missing:
        sys.exit(f"the schema has NOT NULL columns without a default this script does not write: {', '.join(missing)}")


def add_locations(conn, stores: int, warehouses: int) -> int:
    area_rows = areas()
    rows = []
    for i in range(1, stores + 1):
        country, prefix, lat, lon, city = area_rows[(i * 7) % len(area_rows)]
        # Spread around the area's centre (+-0.15 degree, about 15 km), deterministic.
        lat += ((i * 37) % 31 - 15) / 100
        lon += ((i * 53) % 31 - 15) / 100
        rows.append(
            (
                f"{STORE_PREFIX}{i:03d}",
                f"Maison Lumière {city} {i}",
                "store",
                f"{i} {'Via Roma' if country == 'IT' else 'Rue de la République'}",
                f"{prefix}{100 + i % 900:03d}",
                city,
                country,
                round(lat, 6),
                round(lon, 6),
                "Europe/Rome" if country == "IT" else "Europe/Paris",
                i % 7 != 0,  # one store in 7 does not ship
                i % 11 != 0,  # one store in 11 takes no click & collect
                20 + (i * 37) % 130,
                (30, 45, 60, 90)[i % 4],
                (120, 180, 240, 300)[i % 4],
            )
        )
    hubs = [("IT", "29", 45.0526, 9.6930, "Piacenza"), ("FR", "69", 45.7267, 5.0833, "Saint-Priest")]
    for i in range(1, warehouses + 1):
        country, prefix, lat, lon, city = hubs[(i - 1) % len(hubs)]
        rows.append(
            (
                f"{WAREHOUSE_PREFIX}{i:02d}",
                f"Magazzino Maison Lumière {city} {i}" if country == "IT" else f"Entrepôt Maison Lumière {city} {i}",
                "warehouse",
                f"{i} Zona Logistica" if country == "IT" else f"{i} Rue de la Logistique",
                f"{prefix}{100 + i:03d}",
                city,
                country,
                lat,
                lon,
                "Europe/Rome" if country == "IT" else "Europe/Paris",
                True,
                False,
                2000,
                120,
                480,
            )
        )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO location (code, name, kind, address_line1, postcode, city, country, latitude, longitude, "
            "timezone, ships_from_store, click_and_collect, returns, daily_capacity, accept_within_minutes, "
            "ready_within_minutes, active, created_at, updated_at, ship_paused, sourcing_priority, opening_hours, "
            "pick_batch_size, scan_mode, scan_to_pack, zpl_printer) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true, %s, %s, %s, true, now(), now(), false, 0, "
            "NULL, 10, 'every', false, '') ON CONFLICT (code) DO NOTHING",
            rows,
        )
    return len(rows)


def add_products(conn, skus: int) -> None:
    # EAN-13 check digit in SQL: weights 1,3,1,3... on the 12 digits, check = (10 - sum % 10) % 10.
    conn.execute(
        f"""
        INSERT INTO product (sku, gtin, name, category, weight_grams, length_mm, width_mm, height_mm, price,
                             created_at, updated_at)
        SELECT sku, d12 || ((10 - (SELECT sum(substr(d12, i, 1)::int * CASE WHEN i %% 2 = 0 THEN 3 ELSE 1 END)
                                   FROM generate_series(1, 12) AS i) %% 10) %% 10)::text,
               name, category, weight, length, width, height, price, now(), now()
        FROM (
            SELECT '{SKU_PREFIX}' || lpad(n::text, 6, '0') AS sku,
                   '{GTIN_PREFIX}' || lpad(n::text, 7, '0') AS d12,
                   (ARRAY['Lampe', 'Suspension', 'Applique', 'Bougie', 'Vase', 'Coussin', 'Plaid', 'Miroir'])[1 + n %% 8]
                     || ' ' || (ARRAY['Lin', 'Laiton', 'Noyer', 'Opaline', 'Terracotta', 'Velours'])[1 + n %% 6]
                     || ' n°' || n AS name,
                   (ARRAY['lighting', 'lighting', 'lighting', 'home', 'home', 'textile', 'textile', 'home'])[1 + n %% 8]
                     AS category,
                   100 + (n * 37) %% 4900 AS weight, 100 + n %% 500 AS length, 80 + n %% 300 AS width,
                   50 + n %% 400 AS height, round((9.90 + (n * 13) %% 400)::numeric, 2) AS price
            FROM generate_series(1, %s) AS n
        ) AS p
        ON CONFLICT DO NOTHING
        """,  # noqa: S608 (constants, not input)
        (skus,),
    )


def add_stock(conn, timer: Timer) -> int:
    """One statement per location: its stock rows and their ledger rows, for the SKUs it has no row for yet."""
    locations = conn.execute(
        "SELECT id, code, kind FROM location WHERE code LIKE %s ORDER BY id", (f"{STORE_PREFIX}%",)
    ).fetchall()
    conn.execute("CREATE TEMP TABLE bench_products AS SELECT id FROM product WHERE sku LIKE %s", (f"{SKU_PREFIX}%",))
    created, started = 0, time.monotonic()
    for done, (location_id, _code, kind) in enumerate(locations, 1):
        units = (
            "20 + floor(random() * 181)::int"
            if kind == "warehouse"
            else ("CASE WHEN random() < 0.25 THEN 0 ELSE 1 + floor(random() * 12)::int END")
        )
        row = conn.execute(
            f"""
            WITH fresh AS MATERIALIZED (
                SELECT p.id AS product_id, {units} AS on_hand FROM bench_products p
                WHERE NOT EXISTS (SELECT 1 FROM stock_level s WHERE s.location_id = %(loc)s AND s.product_id = p.id)
            ), levels AS (
                INSERT INTO stock_level (location_id, product_id, on_hand, reserved, safety_stock, damaged, updated_at)
                SELECT %(loc)s, product_id, on_hand, 0,
                       CASE WHEN on_hand >= 4 AND random() < 0.1 THEN 1 ELSE 0 END, 0, now()
                FROM fresh ORDER BY product_id
                RETURNING product_id, on_hand
            ), ledger AS (
                INSERT INTO stock_movement (location_id, product_id, kind, on_hand_delta, reserved_delta,
                                            damaged_delta, reason, reference, actor, created_at)
                SELECT %(loc)s, product_id, 'receive', on_hand, 0, 0, 'initial stock of the large bench chain',
                       %(ref)s, %(actor)s, now()
                FROM levels WHERE on_hand > 0 ORDER BY product_id
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM levels), (SELECT count(*) FROM ledger)
            """,  # noqa: S608 (constants, not input)
            {"loc": location_id, "ref": REFERENCE, "actor": ACTOR},
        ).fetchone()
        conn.commit()
        created += row[0]
        if done % 20 == 0 or done == len(locations):
            say(
                f"    {done}/{len(locations)} locations, {created:,} stock rows so far, {time.monotonic() - started:.0f} s"
            )
    timer.step(f"stock rows and their ledger rows ({created:,} stock rows created)", started)
    return created


def add_orders(conn, orders: int, flagship: str, share: float, timer: Timer) -> None:
    have = conn.execute("SELECT count(*) FROM customer_order WHERE channel = %s", (HISTORY_CHANNEL,)).fetchone()[0]
    if have >= orders:
        say(f"  {have:,} historical orders already there: none added")
        return
    started = time.monotonic()
    flag = conn.execute("SELECT id FROM location WHERE code = %s", (flagship,)).fetchone()
    if flag is None:
        sys.exit(f"flagship store {flagship} not found (the demo loads it)")
    conn.execute("DROP TABLE IF EXISTS bench_ship_locations, bench_order_products, bench_areas")
    conn.execute(
        "CREATE TEMP TABLE bench_ship_locations AS SELECT row_number() OVER (ORDER BY id) AS n, id, click_and_collect "
        "FROM location WHERE active AND (ships_from_store OR kind = 'warehouse')"
    )
    conn.execute(
        "CREATE TEMP TABLE bench_order_products AS "
        "SELECT row_number() OVER (ORDER BY id) - 1 AS n, id, coalesce(price, 19.90) AS price FROM product"
    )
    conn.execute("CREATE UNIQUE INDEX ON bench_order_products (n)")
    conn.execute("CREATE UNIQUE INDEX ON bench_ship_locations (n)")
    conn.execute(
        "CREATE TEMP TABLE bench_areas (n int PRIMARY KEY, country text, prefix text, lat numeric, lon numeric, "
        "city text)"
    )
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO bench_areas VALUES (%s, %s, %s, %s, %s, %s)",
            [(i, *row) for i, row in enumerate(areas())],
        )
    n_locations = conn.execute("SELECT count(*) FROM bench_ship_locations").fetchone()[0]
    n_products = conn.execute("SELECT count(*) FROM bench_order_products").fetchone()[0]
    n_areas = conn.execute("SELECT count(*) FROM bench_areas").fetchone()[0]
    first = have + 1
    while first <= orders:
        last = min(orders, first + CHUNK - 1)
        bases = conn.execute(
            "SELECT (SELECT coalesce(max(id), 0) FROM customer_order), (SELECT coalesce(max(id), 0) FROM order_line), "
            "(SELECT coalesce(max(id), 0) FROM fulfilment), (SELECT coalesce(max(id), 0) FROM fulfilment_line)"
        ).fetchone()
        params = {
            "first": first,
            "last": last,
            "flag": flag[0],
            "share": share,
            "nloc": n_locations,
            "nprod": n_products,
            "nareas": n_areas,
            "ob": bases[0] - first + 1,  # order id = ob + g
            "lb": bases[1],
            "fb": bases[2] - first + 1,
            "flb": bases[3],
            "channel": HISTORY_CHANNEL,
        }
        # One row per order with every random choice made once; the four INSERTs below read it.
        conn.execute("DROP TABLE IF EXISTS bench_chunk")
        conn.execute(
            """
            CREATE TEMP TABLE bench_chunk AS
            SELECT g, %(ob)s + g AS order_id, %(fb)s + g AS fulfilment_id,
                   CASE WHEN r_flag < %(share)s THEN %(flag)s ELSE l.id END AS location_id,
                   CASE WHEN r_collect < 0.12 AND (r_flag < %(share)s OR l.click_and_collect) THEN 'collect'
                        ELSE 'ship' END AS method,
                   CASE WHEN r_status < 0.08 THEN 'cancelled' ELSE 'done' END AS outcome,
                   created, created + make_interval(hours => 6 + (r_lines * 60)::int) AS closed,
                   1 + floor(r_lines * 3)::int AS n_lines, p0, a.country, a.prefix, a.lat, a.lon, a.city
            FROM (
                SELECT g, random() AS r_flag, random() AS r_collect, random() AS r_status, random() AS r_lines,
                       1 + floor(random() * %(nloc)s)::int AS ln, floor(random() * %(nareas)s)::int AS an,
                       floor(random() * %(nprod)s)::int AS p0,
                       now() - make_interval(secs => random() * 730 * 86400) - interval '3 days' AS created
                FROM generate_series(%(first)s::int, %(last)s::int) AS g
                OFFSET 0
            ) AS c
            JOIN bench_ship_locations l ON l.n = c.ln
            JOIN bench_areas a ON a.n = c.an
            """,
            params,
        )
        conn.execute(
            """
            INSERT INTO customer_order (id, channel, external_ref, fingerprint, status, customer_name, customer_email,
                customer_phone, customer_language, delivery_method, ship_line1, ship_line2, ship_postcode, ship_city,
                ship_country, ship_latitude, ship_longitude, pickup_location_id, promised_by, payment_reference,
                payment_amount, currency, needs_review, created_at, updated_at, needs_customer_service, gift_wrap,
                gift_message, search_text)
            SELECT order_id, %(channel)s, 'H' || lpad(g::text, 8, '0'), md5('history' || g),
                   CASE WHEN outcome = 'cancelled' THEN 'cancelled' ELSE 'completed' END,
                   'Client ' || g, 'client' || g || '@example.test', '',
                   CASE WHEN country = 'IT' THEN 'it' ELSE 'fr' END, method,
                   CASE WHEN method = 'ship' THEN (g %% 200 + 1) || ' rue du Passé' ELSE '' END, '',
                   CASE WHEN method = 'ship' THEN prefix || lpad((g %% 900 + 100)::text, 3, '0') ELSE '' END,
                   CASE WHEN method = 'ship' THEN city ELSE '' END,
                   CASE WHEN method = 'ship' THEN country ELSE '' END,
                   CASE WHEN method = 'ship' THEN lat END, CASE WHEN method = 'ship' THEN lon END,
                   CASE WHEN method = 'collect' THEN location_id END, NULL, 'PAY-H' || g, NULL, 'EUR', false,
                   created, closed, false, false, '',
                   'client ' || g || ' client' || g || '@example.test'
            FROM bench_chunk
            """,
            params,
        )
        conn.execute(
            """
            INSERT INTO order_line (id, order_id, line_no, product_id, quantity, unit_price)
            SELECT %(lb)s + (g - %(first)s) * 3 + k, order_id, k, p.id, 1 + (g + k) %% 2 * ((g / 7) %% 2), p.price
            FROM bench_chunk CROSS JOIN generate_series(1, 3) AS k
            JOIN bench_order_products p ON p.n = (p0 + (k - 1) * 7919) %% %(nprod)s
            WHERE k <= n_lines
            """,
            params,
        )
        conn.execute(
            """
            INSERT INTO fulfilment (id, order_id, location_id, status, accept_by, ready_by, status_reason, version,
                                    created_at, updated_at, tote, gift_done)
            SELECT fulfilment_id, order_id, location_id,
                   CASE WHEN outcome = 'cancelled' THEN 'cancelled' WHEN method = 'collect' THEN 'collected'
                        ELSE 'shipped' END,
                   created + interval '1 hour', created + interval '4 hours',
                   CASE WHEN outcome = 'cancelled' THEN 'cancelled by the customer' ELSE '' END,
                   CASE WHEN outcome = 'cancelled' THEN 2 ELSE 6 END, created, closed, '', false
            FROM bench_chunk
            """,
            params,
        )
        conn.execute(
            """
            INSERT INTO fulfilment_line (id, fulfilment_id, order_line_id, product_id, quantity, picked, short)
            SELECT %(flb)s + (c.g - %(first)s) * 3 + ol.line_no, c.fulfilment_id, ol.id, ol.product_id, ol.quantity,
                   CASE WHEN c.outcome = 'cancelled' THEN 0 ELSE ol.quantity END, 0
            FROM bench_chunk c JOIN order_line ol ON ol.order_id = c.order_id
            """,
            params,
        )
        conn.commit()
        say(f"    {last:,}/{orders:,} historical orders, {time.monotonic() - started:.0f} s")
        first = last + 1
    for table in ("customer_order", "order_line", "fulfilment", "fulfilment_line"):
        conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")  # noqa: S608
    conn.commit()
    timer.step(f"historical orders (up to {orders:,}) with lines, fulfilments and fulfilment lines", started)


def ean13_ok(code: str) -> bool:
    if len(code) != 13 or not code.isdigit():
        return False
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(code[:12]))
    return (10 - total % 10) % 10 == int(code[12])


def check(conn) -> bool:
    ok = True
    counts = conn.execute(
        f"""
        SELECT (SELECT count(*) FROM location WHERE code LIKE '{STORE_PREFIX}%%' AND kind = 'store'),
               (SELECT count(*) FROM location WHERE code LIKE '{WAREHOUSE_PREFIX}%%'),
               (SELECT count(*) FROM location),
               (SELECT count(*) FROM product WHERE sku LIKE '{SKU_PREFIX}%%'),
               (SELECT count(*) FROM product),
               (SELECT count(*) FROM stock_level), (SELECT count(*) FROM stock_movement),
               (SELECT count(*) FROM customer_order), (SELECT count(*) FROM order_line),
               (SELECT count(*) FROM fulfilment), (SELECT count(*) FROM fulfilment_line)
        """  # noqa: S608 (constants, not input)
    ).fetchone()
    names = (
        "bench stores",
        "bench warehouses",
        "locations in all",
        "bench SKUs",
        "products in all",
        "stock rows",
        "ledger rows",
        "orders",
        "order lines",
        "fulfilments",
        "fulfilment lines",
    )
    for name, value in zip(names, counts, strict=True):
        say(f"  {name:18} {value:>12,}")
    gtins = [g for (g,) in conn.execute("SELECT gtin FROM product WHERE sku LIKE %s", (f"{SKU_PREFIX}%",))]
    bad = [g for g in gtins if not ean13_ok(g or "")]
    say(f"  GTINs with a wrong check digit: {len(bad)} of {len(gtins):,}")
    ok &= not bad
    # The ledger: every stock row's on_hand, reserved and damaged are the sums of its movements.
    drift = conn.execute(
        """
        SELECT count(*) FROM stock_level s
        LEFT JOIN (SELECT location_id, product_id, sum(on_hand_delta) AS on_hand, sum(reserved_delta) AS reserved,
                          sum(damaged_delta) AS damaged
                   FROM stock_movement GROUP BY location_id, product_id) m
          ON m.location_id = s.location_id AND m.product_id = s.product_id
        WHERE s.on_hand <> coalesce(m.on_hand, 0) OR s.reserved <> coalesce(m.reserved, 0)
           OR s.damaged <> coalesce(m.damaged, 0)
        """
    ).fetchone()[0]
    say(f"  stock rows that differ from their ledger: {drift}")
    ok &= drift == 0
    size = conn.execute("SELECT pg_size_pretty(pg_database_size(current_database()))").fetchone()[0]
    say(f"  database size: {size}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LARGE_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--fresh", action="store_true", help="drop and create the database first")
    parser.add_argument("--stores", type=int, default=200)
    parser.add_argument("--warehouses", type=int, default=1)
    parser.add_argument("--skus", type=int, default=20_000)
    parser.add_argument("--orders", type=int, default=0, help="historical (closed) orders to have in all")
    parser.add_argument("--flagship", default="PAR01", help="the store that gets --flagship-share of the history")
    parser.add_argument("--flagship-share", type=float, default=0.1)
    parser.add_argument("--no-check", action="store_true", help="skip the ledger check at the end")
    args = parser.parse_args()
    if not args.database_url.startswith("postgresql"):
        sys.exit("PostgreSQL only (a postgresql+psycopg:// URL)")
    import psycopg

    timer = Timer()
    say(
        f"large chain in {args.database_url.split('@')[-1]}: {args.stores} stores + {args.warehouses} warehouse(s) "
        f"x {args.skus:,} SKUs, {args.orders:,} historical orders"
    )
    t = time.monotonic()
    ensure_database(args.database_url, args.fresh)
    flask(args.database_url, "db", "upgrade")
    timer.step("database and migrations", t)
    with psycopg.connect(plain_url(args.database_url)) as conn:
        has_demo = conn.execute("SELECT 1 FROM app_user WHERE email = %s", (DEMO_ADMIN,)).fetchone()
    if not has_demo:
        t = time.monotonic()
        flask(args.database_url, "demo", "load")
        timer.step("demo retailer (flask demo load)", t)
    with psycopg.connect(plain_url(args.database_url)) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '256MB'")
        check_schema(conn)
        t = time.monotonic()
        add_locations(conn, args.stores, args.warehouses)
        add_products(conn, args.skus)
        conn.commit()
        timer.step("locations and products", t)
        add_stock(conn, timer)
        if args.orders:
            add_orders(conn, args.orders, args.flagship, args.flagship_share, timer)
    t = time.monotonic()
    with psycopg.connect(plain_url(args.database_url), autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    timer.step("VACUUM ANALYZE", t)
    ok = True
    if not args.no_check:
        t = time.monotonic()
        with psycopg.connect(plain_url(args.database_url)) as conn:
            ok = check(conn)
        timer.step("checks", t)
    say(f"total: {time.monotonic() - timer.start:.1f} s{'' if ok else ' -- CHECKS FAILED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
