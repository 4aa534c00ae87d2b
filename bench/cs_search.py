"""Issue 15: the customer service search over a chain with 1 M orders (PostgreSQL), in process and over HTTP.

Usage:
    .venv/bin/python bench/large_chain.py --fresh --database-url URL --skus 2000 --orders 1000000   # first
    .venv/bin/python bench/cs_search.py [--database-url URL] [-n 50] [--seconds 10] [--connections 10]
                                        [--no-setup] [--no-http]

The large chain's 1 M historical orders have customers "Client <n>" (client<n>@example.test), their search_text
written by large_chain.py as the app writes it. The setup (skipped with --no-setup) gives NAMED of them, spread over
the history, the accented names and phones of real customers ("Léa Rossí", "+33 6 12 34 …"), their search_text from
the app's own app.core.service.text.search_text, then ANALYZE.

Measured, signed in as the demo customer service agent (service@demo.comptoir.fr), `-n` runs after two warm-ups:
the console's search page (/cs?q=) for a rare name typed without accents, a partial name that matches ~100 orders,
a whole e-mail, a partial phone, an order number, a word every order has (the worst case: 1 M matches, newest 20
shown), and the API's GET /api/v1/orders?q= (orders:read); /healthz beside them. Over HTTP (gunicorn, 2 gthread
workers, wrk, bench/run.py's machinery): req/s and latency, with the ratio to /healthz (target >= 0.1).
"""

import argparse
import os
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench import board as board_bench  # noqa: E402 (its timing and API client helpers)

BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_large"
TARGET_RATIO = 0.1
HISTORY = "history"
AGENT = "service@demo.comptoir.fr"
NAMED = 40
NAMES = ["Léa Rossí", "Chloé Dupré", "Giulia Verdì", "Inès Benali", "Noël Lefèvre"]


def say(message: str) -> None:
    print(message, flush=True)


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


def setup(url: str) -> None:
    import psycopg

    from app.core.service.text import search_text

    with psycopg.connect(plain(url)) as conn:
        top = conn.execute("SELECT max(id) FROM customer_order WHERE channel = %s", (HISTORY,)).fetchone()[0]
        if not top:
            sys.exit("no historical orders: run bench/large_chain.py --orders 1000000 first")
        rows = []
        for i in range(NAMED):
            order_id = top - i * (top // NAMED)
            name = NAMES[i % len(NAMES)]
            email = f"{search_text(name, '', '').replace(' ', '.')}{i}@example.fr"
            phone = f"+33 6 12 34 {i // 10:02d} {i % 10:02d}"
            rows.append((name, email, phone, search_text(name, email, phone), order_id))
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE customer_order SET customer_name = %s, customer_email = %s, customer_phone = %s, "
                "search_text = %s WHERE id = %s",
                rows,
            )
        conn.commit()
    with psycopg.connect(plain(url), autocommit=True) as conn:
        conn.execute("ANALYZE customer_order")
    say(f"  {NAMED} orders given named customers")


def searches(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(plain(url)) as conn:
        ref = conn.execute(
            "SELECT upper(channel) || '-' || external_ref FROM customer_order WHERE channel = %s "
            "ORDER BY id LIMIT 1 OFFSET 777777",
            (HISTORY,),
        ).fetchone()[0]
    return {
        "rare name without accents (lea rossi)": "lea rossi",
        "partial name, ~100 matches (client 4242)": "client 4242",
        "whole e-mail": "client777777@example.test",
        "partial phone (06 12 34)": "06 12 34",
        "order number": ref,
        "a word of every order (example), worst case": "example",
    }


def api_token(app) -> str:
    return board_bench.api_token(app, "bench-cs", ("orders:read",))


def endpoints(url: str) -> dict[str, tuple[str, bool]]:
    found = {f"/cs: {name}": (f"/cs?q={urllib.parse.quote(q)}", False) for name, q in searches(url).items()}
    found["API ?q=rossi&limit=20"] = ("/api/v1/orders?q=rossi&limit=20", True)
    found["API ?q=client+4242&limit=20"] = ("/api/v1/orders?q=client+4242&limit=20", True)
    return found


def in_process(url: str, n: int) -> dict:
    from app import create_app
    from tests.conftest import login

    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "RATELIMIT_ENABLED": False, "API_AUTH_CACHE_SECONDS": 0})
    token = api_token(app)
    agent = app.test_client()
    response = login(agent, AGENT, "comptoir-demo")
    assert response.status_code in (200, 302), response.status_code
    api = app.test_client()

    def get(client, path, headers):
        def run():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.data[:300])

        return run

    results = {"/healthz": board_bench.timed(get(api, "/healthz", {}), n)}
    for name, (path, is_api) in endpoints(url).items():
        if is_api:
            results[name] = board_bench.timed(get(api, path, {"Authorization": f"Bearer {token}"}), n)
        else:
            results[name] = board_bench.timed(get(agent, path, {}), n)
    return results


def over_http(url: str, seconds: int, connections: int, threads: int) -> dict:
    from app import create_app
    from bench.board import answers_200
    from bench.run import free_port, sign_in, wrk

    token = api_token(create_app({"SQLALCHEMY_DATABASE_URI": url}))
    env = {**os.environ, "DATABASE_URL": url, "FLASK_APP": "wsgi.py", "RATELIMIT_ENABLED": "false"}
    port = free_port()
    server = subprocess.Popen(
        [BIN / "gunicorn", "--workers", "2", "--worker-class", "gthread", "--threads", str(threads), "--bind",
         f"127.0.0.1:{port}", "wsgi:app"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    results = {}
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        cookie = sign_in(base, AGENT)
        results["/healthz"] = wrk(base + "/healthz", cookie, seconds, connections)
        for name, (path, is_api) in endpoints(url).items():
            cookie_, extra = ("", [f"Authorization: Bearer {token}"]) if is_api else (cookie, [])
            answers_200(base + path, extra + ([f"Cookie: {cookie_}"] if cookie_ else []))
            results[name] = wrk(base + path, cookie_, seconds, connections, extra)
    finally:
        server.terminate()
        server.wait(timeout=10)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_LARGE_DATABASE_URL", DEFAULT_URL))
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
        setup(args.database_url)
    import psycopg

    with psycopg.connect(plain(args.database_url)) as conn:
        orders, size = conn.execute(
            "SELECT count(*), pg_size_pretty(pg_relation_size('ix_customer_order_search_text_trgm')) "
            "FROM customer_order"
        ).fetchone()
    say(f"orders: {orders:,}; trigram index: {size}; load average {os.getloadavg()[0]:.2f}")
    results = in_process(args.database_url, args.n)
    say(f"\nin process, {args.n} runs after 2 warm-ups; load average {os.getloadavg()[0]:.2f}")
    say("| what | median ms | p95 ms |")
    say("|---|---:|---:|")
    for name, (median, p95) in results.items():
        say(f"| {name} | {median:.1f} | {p95:.1f} |")
    failed = []
    if not args.no_http:
        http = over_http(args.database_url, args.seconds, args.connections, args.threads)
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
