"""API benchmarks of issue 9 against gunicorn on PostgreSQL, each as a ratio to /healthz in the same run.

Usage: .venv/bin/python bench/api.py [--database-url URL] [--seconds 10] [--connections 10] [--wrk-threads 1]
                                     [--only healthz,a,b,c,d,e] [--json FILE] [--clients 1] [--no-ratelimit]

Starts gunicorn as `make run` does (2 gthread workers x 12 threads) on a free 127.0.0.1 port against the database
(default comptoir_bench_demo, created with the demo retailer when missing; for the large chain give the database
bench/large_chain.py made), creates an API client with `flask api-client create` (the token is printed), raises the
API rate limits for the run (API_RATE_LIMIT, API_READ_RATE_LIMIT, API_WRITE_RATE_LIMIT = 1000000 per minute; the
limiter still runs, `--no-ratelimit` turns it off with RATELIMIT_ENABLED=false), and drives with wrk (loopback
only, bounded in time, --timeout 30s so slow answers are measured rather than dropped):

  healthz   GET /healthz, first and again at the end (how much the machine drifted); each ratio is to a 3 s
            /healthz run just before its measure (--reference-seconds; 0: to the first /healthz)
  a         GET /api/v1/availability, 20 SKUs, every location: 20 SKUs drawn at random from a pool of 2,000 for
            every request (the answer is computed: the 1 s availability cache almost never helps)
  a-same    the same, always the same 20 SKUs (what the 1 s cache answers)
  b, b-same 20 SKUs x 10 locations (10 fixed locations, chosen by md5 of the code), random / the same SKUs
  c         POST /api/v1/orders, 1-3 lines (SKUs with stock in the chain), ship to a FR or IT address, a new
            external_ref every request: sourcing, reservation, events; orders/s counts the 201 answers
  d         GET /api/v1/orders?limit=50, ?location=PAR01&limit=50, ?status=open&limit=50
  e         GET /stores/PAR01/queue signed in as the demo PAR01 associate

Every request's status is counted by wrk's Lua response() callback: non-2xx and 5xx are reported, and the first
error body is shown. gunicorn's error log (with the app's tracebacks) is kept in a file whose path is printed, and
the exceptions found in it are summed up at the end. The machine's load average (/proc/loadavg) is read before and
after every measure. `--only` takes measure names or groups (a = a and a-same).
"""

import argparse
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections import Counter
from datetime import UTC, datetime
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_bench_demo"
ASSOCIATE, PASSWORD = "associate.par01@demo.comptoir.fr", "comptoir-demo"
HIGH_LIMIT = "1000000 per minute"
SCOPES = "orders:read,orders:write,stock:read,stock:write"
MEASURES = ["healthz", "a", "a-same", "b", "b-same", "c", "d-all", "d-location", "d-open", "e", "healthz-end"]

# Counts every answer's status and keeps the first error body, per wrk thread; done() sums the threads.
LUA_COMMON = r"""
local threads = {}
function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end
statuses = {}
first_error = ""
function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
  if status >= 400 and first_error == "" then first_error = string.sub(body or "", 1, 400) end
end
function done(summary, latency, requests)
  local total, err = {}, ""
  for _, t in ipairs(threads) do
    for k, v in pairs(t:get("statuses")) do total[k] = (total[k] or 0) + v end
    local e = t:get("first_error")
    if e ~= "" and err == "" then err = e end
  end
  local parts = {}
  for k, v in pairs(total) do table.insert(parts, k .. "=" .. v) end
  io.write("STATUSES " .. table.concat(parts, " ") .. "\n")
  if err ~= "" then io.write("FIRST_ERROR " .. (string.gsub(err, "\n", " ")) .. "\n") end
end
"""

LUA_AVAILABILITY = r"""
local tokens = {TOKENS}
local skus = {SKUS}
local locations = "{LOCATIONS}"
local same = {SAME}
local fixed = nil
function init(args)
  math.randomseed(tid * 7919 + os.time())
end
local function draw()
  local picked, seen = {}, {}
  while #picked < 20 do
    local s = skus[math.random(#skus)]
    if not seen[s] then seen[s] = true; table.insert(picked, s) end
  end
  local path = "/api/v1/availability?skus=" .. table.concat(picked, ",")
  if locations ~= "" then path = path .. "&locations=" .. locations end
  return path
end
function request()
  local path
  if same then
    if fixed == nil then fixed = draw() end
    path = fixed
  else
    path = draw()
  end
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. tokens[math.random(#tokens)]})
end
"""

LUA_ORDERS = r"""
local tokens = {TOKENS}
local skus = {SKUS}
local addresses = {ADDRESSES}
local run = "{RUN}"
local counter = 0
local phase = ""
function init(args)
  phase = args[1] or "x"  -- one per wrk invocation: a warm-up and the measure never send the same external_ref
  math.randomseed(tid * 7919 + os.time())
end
function request()
  counter = counter + 1
  local lines, seen = {}, {}
  local n = math.random(3)
  while #lines < n do
    local s = skus[math.random(#skus)]
    if not seen[s] then
      seen[s] = true
      table.insert(lines, string.format('{"sku":"%s","quantity":%d}', s, math.random(2)))
    end
  end
  local body = string.format(
    '{"channel":"bench","external_ref":"%s-%s-%d-%d","customer":{"name":"Client %d","email":"client%d@example.test"},'
    .. '"delivery":{"method":"ship","address":%s},"lines":[%s]}',
    run, phase, tid, counter, counter, counter, addresses[math.random(#addresses)], table.concat(lines, ","))
  return wrk.format("POST", "/api/v1/orders", {
    ["Authorization"] = "Bearer " .. tokens[math.random(#tokens)], ["Content-Type"] = "application/json"}, body)
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def plain(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


def lua_list(values: list[str]) -> str:
    return "{" + ",".join(f"[==[{v}]==]" for v in values) + "}"


def flask(env: dict, *args: str) -> str:
    done = subprocess.run([BIN / "flask", *args], env=env, cwd=ROOT, capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"flask {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def prepare_database(url: str, env: dict) -> None:
    """Create the database with the demo when it is missing; always bring its schema to the code's migrations."""
    import psycopg

    name = url.rsplit("/", 1)[1]
    admin = plain(url).rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
            print(f"database {name} created", flush=True)
    flask(env, "db", "upgrade")
    with psycopg.connect(plain(url)) as conn:
        empty = not conn.execute("SELECT 1 FROM location LIMIT 1").fetchone()
    if empty:
        print("loading the demo retailer (flask demo load)...", flush=True)
        flask(env, "demo", "load")


def pools(url: str) -> dict:
    """What the requests are made of: SKUs, SKUs with stock to sell, 10 locations, addresses; the chain's size."""
    import psycopg

    with psycopg.connect(plain(url)) as conn:
        q = conn.execute
        size = q(
            "SELECT (SELECT count(*) FROM location), (SELECT count(*) FROM product), "
            "(SELECT count(*) FROM stock_level), (SELECT count(*) FROM customer_order)"
        ).fetchone()
        skus = [s for (s,) in q("SELECT sku FROM product ORDER BY md5(sku) LIMIT 2000")]
        sellable = [
            s
            for (s,) in q(
                "SELECT p.sku FROM stock_level s JOIN product p ON p.id = s.product_id "
                "JOIN location l ON l.id = s.location_id "
                "WHERE l.active AND (l.ships_from_store OR l.kind = 'warehouse') "
                "GROUP BY p.sku HAVING sum(greatest(s.on_hand - s.reserved - s.safety_stock, 0)) >= 10 "
                "ORDER BY md5(p.sku) LIMIT 1000"
            )
        ]
        ten = [c for (c,) in q("SELECT code FROM location WHERE active ORDER BY md5(code) LIMIT 10")]
    import csv

    with open(ROOT / "app" / "core" / "ordering" / "data" / "postcode_areas.csv", encoding="utf-8") as handle:
        areas = [r for r in csv.DictReader(handle) if len(r["prefix"]) == 2]
    addresses = [
        json.dumps(
            {
                "line1": f"{i + 1} {'via Roma' if a['country'] == 'IT' else 'rue de la Paix'}",
                "postcode": a["prefix"] + f"{100 + i % 900:03d}",
                "city": a["name"],
                "country": a["country"],
            },
            separators=(",", ":"),
        )
        for i, a in enumerate(areas)
    ]
    return {
        "locations": size[0],
        "products": size[1],
        "stock_rows": size[2],
        "orders": size[3],
        "skus": skus,
        "sellable": sellable,
        "ten": ten,
        "addresses": addresses,
    }


def sign_in(base: str) -> str:
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/login").read().decode()
    token = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"email": ASSOCIATE, "password": PASSWORD, "csrf_token": token}).encode()
    opener.open(base + "/login", data=data)
    return "; ".join(f"{c.name}={c.value}" for c in jar)


def wrk(url: str, seconds: int, connections: int, threads: int, script: str, headers=(), phase="m") -> dict:
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "30s", "--latency"]
    for header in headers:
        command += ["-H", header]
    command += ["-s", script, url, "--", phase]
    before = loadavg()
    out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=seconds + 90).stdout
    after = loadavg()

    def ms(label):
        value, unit = re.search(rf"{label}\s+([\d.]+)(us|ms|s)\b", out).groups()
        return float(value) * {"us": 0.001, "ms": 1, "s": 1000}[unit]

    statuses = Counter()
    line = re.search(r"^STATUSES(.*)$", out, re.M)
    for part in line.group(1).split() if line else []:
        code, count = part.split("=")
        statuses[int(code)] += int(count)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    first_error = re.search(r"^FIRST_ERROR (.*)$", out, re.M)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50": ms("50%"),
        "p99": ms("99%"),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
        "statuses": dict(sorted(statuses.items())),
        "non_2xx": sum(n for s, n in statuses.items() if not 200 <= s < 300),
        "5xx": sum(n for s, n in statuses.items() if s >= 500),
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
        "first_error": first_error.group(1)[:300] if first_error else "",
        "load_before": before,
        "load_after": after,
    }


def exceptions(log: Path) -> Counter:
    """The exception line closing each traceback in gunicorn's error log, counted."""
    found = Counter()
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    in_traceback = False
    for line in lines:
        if line.startswith("Traceback (most recent call last)"):
            in_traceback = True
        elif in_traceback and line and not line.startswith((" ", "\t")):
            if not line.startswith(("The above exception", "During handling")):
                found[line[:200]] += 1
            in_traceback = line.startswith(("The above exception", "During handling"))
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=10)
    parser.add_argument("--wrk-threads", type=int, default=1, choices=(1, 2))
    parser.add_argument("--only", default="", help="comma-separated measures or groups: " + ",".join(MEASURES))
    parser.add_argument("--json", type=Path, help="write the results (and the run's settings) to this file")
    parser.add_argument("--clients", type=int, default=1, help="API clients (tokens) the requests are spread over")
    parser.add_argument("--no-ratelimit", action="store_true", help="RATELIMIT_ENABLED=false instead of high limits")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--warmup", type=int, default=2, help="seconds of unmeasured load before each measure")
    parser.add_argument(
        "--reference-seconds",
        type=int,
        default=3,
        help="seconds of /healthz right before each measure, the reference of its ratio (0: the first /healthz)",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        print("wrk is not installed: apt-get install -y wrk", file=sys.stderr)
        return 2
    wanted = {w.strip() for w in args.only.split(",") if w.strip()}
    unknown = wanted - set(MEASURES) - {m.split("-")[0] for m in MEASURES}
    if unknown:
        parser.error(f"unknown measures: {', '.join(sorted(unknown))}")
    selected = [m for m in MEASURES if not wanted or m in wanted or m.split("-")[0] in wanted]
    if "healthz" not in selected:
        selected.insert(0, "healthz")  # every ratio needs it

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "FLASK_APP": "wsgi.py",
        "API_RATE_LIMIT": HIGH_LIMIT,
        "API_READ_RATE_LIMIT": HIGH_LIMIT,
        "API_WRITE_RATE_LIMIT": HIGH_LIMIT,
    }
    env.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    if args.no_ratelimit:
        env["RATELIMIT_ENABLED"] = "false"
    started_at = datetime.now(UTC)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "app", "migrations"], cwd=ROOT, capture_output=True)
    prepare_database(args.database_url, env)
    data = pools(args.database_url)
    run = "b" + secrets.token_hex(4)
    tokens = []
    for i in range(args.clients):
        out = flask(env, "api-client", "create", f"bench-{run}-{i}", "--scopes", SCOPES)
        tokens.append(out.strip().splitlines()[-1].strip())
    print(
        f"API client(s) bench-{run}-*: token {tokens[0]}" + (f" (+{len(tokens) - 1} more)" if len(tokens) > 1 else "")
    )

    work = Path(tempfile.mkdtemp(prefix="comptoir-bench-api-"))
    log = work / "gunicorn.log"
    scripts = {}

    def script(name: str, body: str) -> str:
        path = work / f"{name}.lua"
        path.write_text(LUA_COMMON + body)
        return str(path)

    token_list = lua_list(tokens)
    for name, locations, same in (
        ("a", "", "false"),
        ("a-same", "", "true"),
        ("b", ",".join(data["ten"]), "false"),
        ("b-same", ",".join(data["ten"]), "true"),
    ):
        scripts[name] = script(
            name,
            LUA_AVAILABILITY.replace("{TOKENS}", token_list)
            .replace("{SKUS}", lua_list(data["skus"]))
            .replace("{LOCATIONS}", locations)
            .replace("{SAME}", same),
        )
    scripts["c"] = script(
        "c",
        LUA_ORDERS.replace("{TOKENS}", token_list)
        .replace("{SKUS}", lua_list(data["sellable"] or data["skus"]))
        .replace("{ADDRESSES}", lua_list(data["addresses"]))
        .replace("{RUN}", run),
    )
    scripts["plain"] = script("plain", "")
    auth = [f"Authorization: Bearer {tokens[0]}"]
    plan = {
        "healthz": ("GET /healthz", "/healthz", "plain", []),
        "a": ("availability, 20 random SKUs, every location", "/", "a", []),
        "a-same": ("availability, the same 20 SKUs, every location", "/", "a-same", []),
        "b": ("availability, 20 random SKUs x 10 locations", "/", "b", []),
        "b-same": ("availability, the same 20 SKUs x 10 locations", "/", "b-same", []),
        "c": ("POST /api/v1/orders, 1-3 lines, FR/IT addresses", "/", "c", []),
        "d-all": ("GET /api/v1/orders?limit=50", "/api/v1/orders?limit=50", "plain", auth),
        "d-location": (
            "GET /api/v1/orders?location=PAR01&limit=50",
            "/api/v1/orders?location=PAR01&limit=50",
            "plain",
            auth,
        ),
        "d-open": ("GET /api/v1/orders?status=open&limit=50", "/api/v1/orders?status=open&limit=50", "plain", auth),
        "e": ("GET /stores/PAR01/queue (PAR01 associate)", "/stores/PAR01/queue", "plain", None),
        "healthz-end": ("GET /healthz, again at the end", "/healthz", "plain", []),
    }

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            BIN / "gunicorn",
            "--workers",
            str(args.workers),
            "--worker-class",
            "gthread",
            "--threads",
            str(args.threads),
            "--bind",
            f"127.0.0.1:{port}",
            "--error-logfile",
            str(log),
            "--capture-output",
            "wsgi:app",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    results = {}
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        cookie = sign_in(base) if "e" in selected else ""
        for name in selected:
            title, path, kind, headers = plan[name]
            headers = [f"Cookie: {cookie}"] if headers is None else headers
            reference = None
            if not name.startswith("healthz") and args.reference_seconds:
                # /healthz again right before this measure: the machine's speed drifts within a run (seen: x2),
                # so each ratio is to the trivial endpoint as fast as the machine was a moment ago.
                reference = wrk(
                    base + "/healthz", args.reference_seconds, args.connections, args.wrk_threads, scripts["plain"]
                )
            if args.warmup:
                wrk(base + path, args.warmup, args.connections, args.wrk_threads, scripts[kind], headers, "w")
            r = wrk(base + path, args.seconds, args.connections, args.wrk_threads, scripts[kind], headers, "m")
            r["title"] = title
            r["reference"] = reference
            results[name] = r
            print(
                f"  {name:12} {r['rps']:8.1f} req/s  p50 {r['p50']:8.1f} ms  p99 {r['p99']:8.1f} ms  "
                f"statuses {r['statuses']}  load {r['load_before']} -> {r['load_after']}",
                flush=True,
            )
            if r["first_error"]:
                print(f"    first error body: {r['first_error']}", flush=True)
    finally:
        server.terminate()
        server.wait(timeout=30)

    if "c" in results:
        import psycopg

        with psycopg.connect(plain(args.database_url)) as conn:
            saved, unplaced = conn.execute(
                "SELECT count(*), count(*) FILTER (WHERE needs_customer_service) FROM customer_order "
                "WHERE channel = 'bench' AND external_ref LIKE %s",
                (f"{run}-m-%",),
            ).fetchone()
        created = results["c"]["statuses"].get(201, 0)
        results["c"]["orders_saved"] = saved
        results["c"]["orders_with_units_unplaced"] = unplaced
        results["c"]["orders_per_s"] = results["c"]["rps"] * created / max(1, results["c"]["requests"])

    trivial = results["healthz"]
    print()
    print(
        f"{started_at:%Y-%m-%d %H:%M} UTC, commit {commit.stdout.strip()}{' + uncommitted app changes' if dirty.stdout else ''}, "
        f"PostgreSQL {args.database_url.split('@')[-1]} ({data['locations']} locations, {data['products']:,} products, "
        f"~{data['stock_rows']:,} stock rows, ~{data['orders']:,} orders), gunicorn {args.workers} gthread workers x "
        f"{args.threads} threads, wrk -t{args.wrk_threads} -c{args.connections} -d{args.seconds}s (+{args.warmup}s "
        f"warm-up), {len(tokens)} API client(s), rate limiter {'off' if args.no_ratelimit else 'on, ' + HIGH_LIMIT}, "
        f"{os.cpu_count()} CPUs"
    )
    print()
    print(
        "| measure | request | req/s | p50 ms | p99 ms | /healthz just before: req/s, p99 ms | rps ratio | p99 ratio "
        "| rps ratio to the first /healthz | non-2xx | 5xx | load before → after |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name, r in results.items():
        ref = r["reference"] or trivial
        print(
            f"| {name} | {r['title']} | {r['rps']:.0f} | {r['p50']:.1f} | {r['p99']:.1f} | "
            f"{ref['rps']:.0f}, {ref['p99']:.1f} | {r['rps'] / ref['rps']:.2f} | {r['p99'] / ref['p99']:.1f} | "
            f"{r['rps'] / trivial['rps']:.2f} | {r['non_2xx']} | {r['5xx']} | {r['load_before']} → {r['load_after']} |"
        )
    if "c" in results:
        c = results["c"]
        print(
            f"\norder capture: {c['orders_per_s']:.1f} orders/s created (201), p99 {c['p99']:.0f} ms; statuses "
            f"{c['statuses']}; {c['orders_saved']} orders of the measured phase in the database "
            f"({c['orders_with_units_unplaced']} with units no location could take)"
        )
    errors = exceptions(log)
    print(f"\ngunicorn log: {log}; {sum(errors.values())} tracebacks")
    for line, count in errors.most_common(10):
        print(f"  {count:5d} x {line}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "started_at": started_at.isoformat(),
                    "commit": commit.stdout.strip(),
                    "uncommitted_app_changes": bool(dirty.stdout),
                    "database": args.database_url.split("@")[-1],
                    "chain": {k: data[k] for k in ("locations", "products", "stock_rows", "orders")},
                    "settings": {k: str(v) for k, v in vars(args).items()},
                    "results": results,
                    "tracebacks": dict(errors),
                },
                indent=2,
            )
        )
        print(f"results written to {args.json}")
    return 1 if any(r["5xx"] for r in results.values()) else 0


if __name__ == "__main__":
    sys.exit(main())
