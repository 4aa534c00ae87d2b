"""Scan round-trip benchmark: 20 associates scanning at once on PostgreSQL, against /healthz in the same run.

Usage: .venv/bin/python bench/scan.py [--database-url URL] [--associates 20] [--seconds 10] [--think-ms 250]

Creates a fresh database, one store with 20 associates, each with a pick list of one large order, then
starts gunicorn on 127.0.0.1 and drives the real scan endpoint (POST /stores/<code>/picks/<id>/scan with a
CSRF token, a session cookie and a new scan id every time) with wrk, one connection per associate:
1. paced: each associate scans every --think-ms (a fast scanner gun), p50/p99 of the round-trip;
2. flat out: no pause, requests per second, as a ratio to /healthz flat out with the same connections.
Every scan must answer 200 and count one unit; the script checks the counts in the database at the end.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench"
STORE, SKU = "BENCH1", "BENCH-SCAN-1"
PASSWORD = "bench-password-1"  # noqa: S105 (a throw-away bench database)

LUA = r"""
local sessions = {SESSIONS}
local think = {THINK}
local counter = 0
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("index", #threads)
end
function init(args)
  s = sessions[index]
  math.randomseed(index * 7919 + os.time())
end
function delay()
  if think == 0 then return 0 end
  return math.random(math.floor(think / 2), math.floor(think * 3 / 2))  -- people do not scan in step
end
-- HX-Target as base.html's scan bar sends it on the pick screen (data-hx-target="#pick-live"): the live answer.
function request()
  counter = counter + 1
  local sid = string.format("b%02d%08x%08x", index, counter, math.random(0, 2147483647))
  return wrk.format("POST", s.path, {
    ["Cookie"] = s.cookie, ["X-CSRFToken"] = s.csrf, ["HX-Request"] = "true", ["HX-Target"] = "pick-live",
    ["Content-Type"] = "application/x-www-form-urlencoded"}, "code={SKU}&scan_id=" .. sid)
end
"""


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(url: str) -> None:
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = url.rsplit("/", 1)[0].replace("postgresql+psycopg", "postgresql") + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')


def prepare(url: str, associates: int, units: int) -> list[tuple[str, int]]:
    """One store, one product, and per associate an accepted order on a pick list of their own."""
    from app import create_app
    from app.core.actor import Actor
    from app.core.floor import picking
    from app.core.inventory import catalogue, stock
    from app.core.models import Location
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.core.people import users
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        actor = Actor.system("bench")
        store = Location(code=STORE, name="Bench store", pick_batch_size=50)
        db.session.add(store)
        db.session.flush()
        product = catalogue.create_product(sku=SKU, name="Bench product", gtin="4006381333931")
        catalogue.place_on_shelf(store, product, aisle="1", bay="1", pick_sequence=1)
        stock.receive(store, product, associates * units, actor=actor, reference="bench")
        out = []
        for i in range(associates):
            user = users.create_user(
                email=f"bench{i}@example.test",
                name=f"Bench {i}",
                password=PASSWORD,
                role="associate",
                stores=[store],
                actor=actor,
            )
            draft = OrderDraft(
                channel="bench",
                external_ref=f"B{i}",
                customer_name="Bench",
                delivery_method="ship",
                lines=[LineDraft(code=SKU, quantity=units)],
                ship_to={"line1": "1 rue", "postcode": "75001", "city": "Paris", "country": "FR"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: units}, actor=actor)
            orders.accept_fulfilment(fulfilment, actor=actor)
            pick_list = picking.start_pick(store, [fulfilment], user=user, actor=actor)
            out.append((user.email, pick_list.id))
        db.session.commit()
    return out


def counted(url: str) -> int:
    from app import create_app
    from app.core.models import FulfilmentLine, Scan
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        picked = db.session.scalar(db.select(db.func.sum(FulfilmentLine.picked))) or 0
        scans = db.session.scalar(db.select(db.func.count()).select_from(Scan).where(Scan.quantity == 1))
        return picked, scans


def sign_in(base: str, email: str, pick_path: str) -> dict:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    opener.open(
        base + "/login",
        data=urllib.parse.urlencode({"email": email, "password": PASSWORD, "csrf_token": token}).encode(),
    )
    page = opener.open(base + pick_path).read().decode()
    csrf = re.search(r'"X-CSRFToken": "([^"]+)"', page).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return {"cookie": cookie, "csrf": csrf, "path": pick_path + "/scan"}


def wrk(url: str, connections: int, seconds: int, script: str | None = None) -> dict:
    command = ["wrk", f"-t{connections}", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script:
        command[1:1] = ["-s", script]
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 60).stdout

    def ms(label):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": requests,
        "errors": int(errors.group(1)) if errors else 0,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--associates", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--think-ms", default="1000,250", help="pauses between one associate's scans, one paced run per value"
    )
    # The production setting (README): gthread, so a scanner's idle keep-alive connection never holds a worker.
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--threads",
        type=int,
        default=12,
        help="threads per worker; above 1 the workers are gthread (keep-alive, idle connections do not hold a worker)",
    )
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    os.environ["DATABASE_URL"] = args.database_url  # the app's engine options follow the configured database
    fresh_database(args.database_url)
    lists = prepare(args.database_url, args.associates, units=100_000)
    env = {**os.environ, "DATABASE_URL": args.database_url, "RATELIMIT_ENABLED": "false"}
    port = free_port()
    # The same server settings for /healthz and for the scans.
    threads = ["--worker-class", "gthread", "--threads", str(args.threads)] if args.threads > 1 else []
    kind = f"gthread workers x {args.threads} threads" if args.threads > 1 else "sync workers"
    server = subprocess.Popen(
        [BIN / "gunicorn", "--workers", str(args.workers), *threads, "--bind", f"127.0.0.1:{port}", "wsgi:app"],
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
        sessions = [sign_in(base, email, f"/stores/{STORE}/picks/{pid}") for email, pid in lists]
        lua_sessions = (
            "{" + ",".join("{" + ",".join(f'{k} = "{v}"' for k, v in s.items()) + "}" for s in sessions) + "}"
        )
        scripts = {}
        paces = [int(v) for v in args.think_ms.split(",")]
        runs = [(f"scan every {ms} ms", ms) for ms in paces] + [("scan flat out", 0)]
        for name, think in runs:
            body = LUA.replace("{SESSIONS}", lua_sessions).replace("{THINK}", str(think)).replace("{SKU}", SKU)
            handle = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)
            handle.write(body)
            handle.close()
            scripts[name] = handle.name
        n, secs = args.associates, args.seconds
        # Warm every worker up (templates compiled, statements prepared) before anything is measured.
        wrk(base + "/healthz", n, 2)
        wrk(base, n, 3, scripts["scan flat out"])
        results["/healthz flat out"] = wrk(base + "/healthz", n, secs)
        for name, _ in runs:
            results[name] = wrk(base, n, secs, scripts[name])
    finally:
        server.terminate()
        server.wait(timeout=10)
    picked, scans = counted(args.database_url)
    sent = sum(r["requests"] for name, r in results.items() if name.startswith("scan"))
    trivial = results["/healthz flat out"]
    print(
        f"PostgreSQL, gunicorn {args.workers} {kind}, {args.associates} associates (one wrk connection each), "
        f"{args.seconds}s per run; paced runs: each associate scans, waits 0.5-1.5 x the pace, scans again"
    )
    print(f"{'run':22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'rps ratio':>10} {'non-2xx':>8}")
    for name, r in results.items():
        print(
            f"{name:20} {r['rps']:9.0f} {r['p50']:8.2f} {r['p99']:8.2f} {r['rps'] / trivial['rps']:10.2f} {r['errors']:8d}"
        )
    print(f"scans answered: {sent} (wrk may cut the last in-flight ones), units counted: {picked}, scan rows: {scans}")
    paced, flat = results[runs[0][0]], results["scan flat out"]
    errors = sum(r["errors"] for r in results.values())
    latency_ok, throughput_ok = paced["p99"] < 50, flat["rps"] >= trivial["rps"] / 2
    print(f"target p99 < 50 ms at {runs[0][0]}: {'met' if latency_ok else 'NOT met'} ({paced['p99']:.1f} ms)")
    print(
        f"target flat-out scans >= 0.5 x /healthz: {'met' if throughput_ok else 'NOT met'} "
        f"({flat['rps'] / trivial['rps']:.2f})"
    )
    ok = latency_ok and throughput_ok and not errors
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
