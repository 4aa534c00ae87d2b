"""Where an order's CPU goes, in process: POST /api/v1/orders through the Flask test client on the large chain.

Usage: .venv/bin/python bench/capture_cpu.py [--database-url URL] [--orders 300] [--profile FILE]

Posts the orders bench/api.py's measure `c` sends (1-3 lines of SKUs with stock, FR/IT addresses) one at a time and
prints, per order: the Python CPU of this process (time.process_time), the CPU of every PostgreSQL process on the
machine (from /proc, so run it on a quiet machine, with the server local), the statements sent and the WAL written.
Over HTTP the same order costs gunicorn's own parsing on top (about 1-2 ms). With --profile, a cProfile of the
measured orders (CPU clock) is written to FILE (`python -m pstats FILE`).

The CPU of this machine drifts by ±25 % over minutes: compare two versions of the code by alternating runs, or better
by alternating orders in one process (swap the module under test between orders), not by runs an hour apart.
"""

import argparse
import cProfile
import glob
import json
import os
import random
import secrets
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_large"


def postgres_cpu_ticks() -> int:
    """utime + stime of every postgres process, in clock ticks."""
    total = 0
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as handle:
                stat = handle.read()
        except OSError:
            continue
        if "(postgres)" in stat:
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])
    return total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--orders", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--profile", type=Path)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    for name in ("API_RATE_LIMIT", "API_READ_RATE_LIMIT", "API_WRITE_RATE_LIMIT"):
        os.environ[name] = "1000000/minute"

    import psycopg
    from sqlalchemy import event

    from app import create_app
    from app.extensions import db
    from bench.api import SCOPES, plain, pools

    app = create_app()
    data = pools(args.database_url)
    out = subprocess.run(
        [
            str(ROOT / ".venv" / "bin" / "flask"),
            "api-client",
            "create",
            "cpu-" + secrets.token_hex(3),
            "--scopes",
            SCOPES,
        ],
        cwd=ROOT,
        env={**os.environ, "FLASK_APP": "wsgi.py"},
        capture_output=True,
        text=True,
        check=True,
    )
    headers = {"Authorization": "Bearer " + out.stdout.strip().splitlines()[-1].strip()}
    rnd, run = random.Random(1), secrets.token_hex(3)

    def body(i: int) -> str:
        skus = rnd.sample(data["sellable"] or data["skus"], rnd.randint(1, 3))
        return json.dumps(
            {
                "channel": "bench",
                "external_ref": f"cpu-{run}-{i}",
                "customer": {"name": f"Client {i}", "email": f"client{i}@example.test"},
                "delivery": {"method": "ship", "address": json.loads(rnd.choice(data["addresses"]))},
                "lines": [{"sku": s, "quantity": rnd.randint(1, 2)} for s in skus],
            }
        )

    bodies = [body(i) for i in range(args.warmup + args.orders)]
    client = app.test_client()
    statements = [0]
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", lambda *a, **k: statements.__setitem__(0, statements[0] + 1))

    def post(text: str) -> None:
        answer = client.post("/api/v1/orders", data=text, headers=headers, content_type="application/json")
        if answer.status_code != 201:
            raise SystemExit(f"{answer.status_code}: {answer.get_data(as_text=True)[:400]}")

    for text in bodies[: args.warmup]:
        post(text)
    with psycopg.connect(plain(args.database_url), autocommit=True) as conn:
        wal_before = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
    statements[0] = 0
    profile = cProfile.Profile(time.process_time) if args.profile else None
    pg_before, cpu_before, wall_before = postgres_cpu_ticks(), time.process_time(), time.perf_counter()
    if profile:
        profile.enable()
    for text in bodies[args.warmup :]:
        post(text)
    if profile:
        profile.disable()
        profile.dump_stats(args.profile)
    cpu, wall = time.process_time() - cpu_before, time.perf_counter() - wall_before
    pg = (postgres_cpu_ticks() - pg_before) / os.sysconf("SC_CLK_TCK")
    with psycopg.connect(plain(args.database_url), autocommit=True) as conn:
        wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s)", (wal_before,)).fetchone()[0]
    n = args.orders
    print(
        f"{n} orders: Python {1000 * cpu / n:.2f} ms, PostgreSQL {1000 * pg / n:.2f} ms of CPU an order; "
        f"wall {1000 * wall / n:.2f} ms; {statements[0] / n:.1f} statements and {float(wal) / n / 1024:.0f} kB of "
        f"WAL an order{' (profiled)' if profile else ''}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
