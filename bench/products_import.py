"""`flask products import` of a 20,000-row catalogue, on SQLite and on PostgreSQL.

Usage: .venv/bin/python bench/products_import.py [--rows 20000] [--postgres-url URL] [--skip-postgres]

Writes a CSV of N fashion products (names in en/fr/it, GTIN, a supplier barcode, style/size/colour, weight,
dimensions, image URL, flags) into a temporary directory, then on each engine: makes an empty migrated database
(a temporary SQLite file; PostgreSQL database comptoir_bench_import, created and dropped), and times the CLI
import as an operator runs it (a new process: start-up, reading and checking every row, writing, the summary),
then the same file again (every product unchanged). Prints rows per second; exits 1 below the target of
1,000 rows/s for the first import on either engine.
"""

import argparse
import csv
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FLASK = str(ROOT / ".venv" / "bin" / "flask")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_import"
TARGET = 1000  # rows per second
SIZES = ("XS", "S", "M", "L", "XL")
COLOURS = (("noir", "nero", "black"), ("blanc", "bianco", "white"), ("bleu", "blu", "blue"), ("rouge", "rosso", "red"))


def gtin(n: int) -> str:
    body = f"20{n:010d}"  # GS1 in-store range: never a real product's code
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body))
    return body + str((10 - total % 10) % 10)


def write_catalogue(path: Path, rows: int) -> None:
    columns = ["sku", "name", "name_fr", "name_it", "gtin", "barcodes", "style", "size", "colour", "category"]
    columns += ["weight_grams", "length_mm", "width_mm", "height_mm", "image_url", "flags", "active"]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(columns)
        for n in range(rows):
            style, size = n // 20, SIZES[n % len(SIZES)]
            fr, it, en = COLOURS[(n // len(SIZES)) % len(COLOURS)]
            sku = f"ST{style:05d}-{en[:3].upper()}-{size}"
            writer.writerow(
                [
                    sku,
                    f"Cotton shirt {style}, {en}",
                    f"Chemise en coton {style}, {fr}",
                    f"Camicia di cotone {style}, {it}",
                    gtin(n),
                    f"SUP-{n:06d}",
                    f"ST{style:05d}",
                    size,
                    en,
                    "Shirts",
                    200 + n % 100,
                    300,
                    250,
                    30,
                    f"https://cdn.example.com/products/{sku.lower()}.jpg",
                    "fragile" if n % 50 == 0 else "",
                    "true",
                ]
            )


def flask(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([FLASK, *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def timed_import(name: str, url: str, catalogue: Path, rows: int) -> float:
    env = {**os.environ, "DATABASE_URL": url, "SECRET_KEY": os.environ.get("SECRET_KEY") or "bench-" + "k" * 40}
    upgraded = flask(env, "db", "upgrade")
    if upgraded.returncode:
        raise SystemExit(f"{name}: flask db upgrade failed:\n{upgraded.stderr[-2000:]}")
    rates = []
    for attempt in ("first import", "same file again"):
        started = time.perf_counter()
        result = flask(env, "products", "import", str(catalogue))
        seconds = time.perf_counter() - started
        if result.returncode:
            raise SystemExit(f"{name}: import failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
        rates.append(rows / seconds)
        print(f"{name:<10} {attempt:<16} {seconds:6.2f} s  {rows / seconds:8.0f} rows/s   {result.stdout.strip()}")
    return rates[0]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--postgres-url", default=DEFAULT_POSTGRES)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()
    results = {}
    with tempfile.TemporaryDirectory(prefix="comptoir-bench-import-") as scratch:
        catalogue = Path(scratch) / "products.csv"
        write_catalogue(catalogue, args.rows)
        print(f"{args.rows} products in {catalogue.stat().st_size / 2**20:.1f} MiB of CSV")
        results["sqlite"] = timed_import("sqlite", f"sqlite:///{scratch}/bench.sqlite3", catalogue, args.rows)
        if not args.skip_postgres:
            import psycopg

            name = args.postgres_url.rsplit("/", 1)[1]
            admin = args.postgres_url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/postgres"
            with psycopg.connect(admin, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
                conn.execute(f'CREATE DATABASE "{name}"')
            try:
                results["postgresql"] = timed_import("postgresql", args.postgres_url, catalogue, args.rows)
            finally:
                with psycopg.connect(admin, autocommit=True) as conn:
                    conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    slow = {engine: rate for engine, rate in results.items() if rate < TARGET}
    for engine, rate in slow.items():
        print(f"BELOW TARGET on {engine}: {rate:.0f} rows/s < {TARGET} rows/s")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
