"""A peak day of a 1,000-store chain, scaled to this machine and compressed into minutes (issue 16).

Usage: .venv/bin/python bench/peak_day.py [--database-url URL] [--minutes 3] [--clients 12] [--stores 60]
                                          [--skus 2000] [--history 20000] [--reuse] [--json FILE]

What one customer order costs the chain on its busiest day, measured end to end over HTTP on PostgreSQL, then scaled
up to the real chain. Every client thread plays whole journeys, one after the other, as fast as the server answers
(a closed loop: the machine's capacity, not a chosen rate), so every operation comes in the proportions of the model:

  availability  AVAILABILITY_PER_ORDER x GET /api/v1/availability (3 SKUs, every location): the web shop's product
                pages and basket before the order
  order         POST /api/v1/orders, 1-3 lines of 1-2 units, shipped to a FR or IT address, or (COLLECT_SHARE) click
                & collect at one of the chain's stores: sourcing, reservation, payment authorisation, e-mail, events
  accept        POST /api/v1/fulfilments/{id}/accept for each fulfilment
  scan          SCANS_PER_UNIT x units: the real scan endpoint of the floor (POST /stores/<code>/picks/<id>/scan with
                the associate's session, CSRF header and a new scan id), on each client's own pick list
  pick          POST /api/v1/fulfilments/{id}/pick: the fulfilment's units confirmed picked
  label         shipped orders: GET /api/v1/parcels/{id}/label.pdf, a 4x6 label rendered (barcode, QR) for a parcel
                packed in the setup (packing has no API: the label is its costly part)
  ready+collect click & collect picked at the pickup store: POST .../ready (hold-shelf slot) then POST .../collect
  return        RETURN_SHARE of collected orders: POST /api/v1/returns, one unit back in store, resellable

Meanwhile one `flask worker` delivers every event to a local webhook receiver, and a sampler reads the outbox lag
(the age of the oldest event not yet delivered) every 2 s. CPU seconds are read from /proc for gunicorn, the worker
and PostgreSQL before and after, so each journey's cost per tier is known; with the MODEL below those give the
servers, workers and PostgreSQL the real chain needs at its peak hour, printed at the end (and with --json).

Setup (once; --reuse skips it): bench/large_chain.py builds --stores stores x --skus SKUs with --history closed
orders, then each store gets hold-shelf slots, its daily capacity raised (a peak day: every store takes what comes),
an associate per client with a pick list of a large order of a bench product, an API client with every scope, a
webhook subscription, and packed parcels for the label step.
"""

import argparse
import http.client
import json
import math
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from bench.scan import PASSWORD, free_port, sign_in  # noqa: E402 (as the scan bench does them)

BIN = ROOT / ".venv" / "bin"
DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_peak"
BENCH_SKU = "PEAK-SCAN-1"
SLOTS = [f"P-{i:02d}" for i in range(1, 21)]

# The real chain's peak day (assumptions, stated in bench/README.md; change them here).
MODEL = {
    "stores": 1000,
    "orders_per_store_normal_day": 25,  # web orders a store serves on a normal day (ship-from-store and C&C)
    "peak_factor": 10,  # the busiest day against a normal one (Black Friday, the first Saturday of the sales)
    "peak_hour_share": 0.12,  # the busiest hour's share of the day's orders
    "target_cpu_utilisation": 0.6,  # sized so the peak hour keeps 40 % headroom
    "app_server_vcpus": 4,
    "worker_vcpus": 2,
}
AVAILABILITY_PER_ORDER = 20
SCANS_PER_UNIT = 3
COLLECT_SHARE = 0.3
RETURN_SHARE = 0.08
OPERATIONS = ["availability", "order", "accept", "scan", "pick", "label", "ready", "collect", "return"]


# --- setup -----------------------------------------------------------------------------------------------------


def psql_url(url: str) -> str:
    return url.replace("postgresql+psycopg", "postgresql")


def build_chain(url: str, stores: int, skus: int, history: int) -> None:
    command = [BIN / "python", ROOT / "bench" / "large_chain.py", "--database-url", url, "--fresh"]
    command += ["--stores", str(stores), "--skus", str(skus), "--orders", str(history)]
    subprocess.run(command, check=True, cwd=ROOT)


def prepare(url: str, clients: int, hook_url: str) -> dict:
    """Slots, capacities, associates with pick lists, an API client, a webhook subscription, packed parcels."""
    from sqlalchemy import select, update

    from app import create_app
    from app.core.actor import Actor
    from app.core.floor import carriers, packing, picking, pickups
    from app.core.integration import api_clients
    from app.core.integration import worker as jobs
    from app.core.inventory import catalogue, stock
    from app.core.models import Location, Product, StockLevel
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.core.people import users
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    actor = Actor.system("bench")
    with app.app_context():
        stores = db.session.scalars(select(Location).where(Location.code.like("LC%")).order_by(Location.code)).all()
        db.session.execute(update(Location).where(Location.code.like("LC%")).values(daily_capacity=100_000))
        for store in stores:
            if store.click_and_collect and not pickups.slots(store):
                pickups.add_slots(store, SLOTS, actor=actor)
        home = stores[0]
        product = catalogue.create_product(sku=BENCH_SKU, name="Peak bench product", gtin="4006381333931")
        catalogue.place_on_shelf(home, product, aisle="1", bay="1", pick_sequence=1)
        stock.receive(home, product, clients * 100_000, actor=actor, reference="bench")
        sessions = []
        for i in range(clients):
            user = users.create_user(
                email=f"peak{i}@example.test",
                name=f"Peak {i}",
                password=PASSWORD,
                role="associate",
                stores=[home],
                actor=actor,
            )
            draft = OrderDraft(
                channel="peak-floor",
                external_ref=f"P{i}",
                customer_name="Bench",
                delivery_method="ship",
                lines=[LineDraft(code=BENCH_SKU, quantity=100_000)],
                ship_to={"line1": "1 rue", "postcode": "75001", "city": "Paris", "country": "FR"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            fulfilment = orders.assign_fulfilment(order, home, {order.lines[0]: 100_000}, actor=actor)
            orders.accept_fulfilment(fulfilment, actor=actor)
            pick_list = picking.start_pick(home, [fulfilment], user=user, actor=actor)
            sessions.append({"email": user.email, "path": f"/stores/{home.code}/picks/{pick_list.id}"})
        # Parcels for the label step: small orders packed at the first store (no API packs; labels are rendered per
        # request from the parcel, so every GET costs a real label).
        carriers.ensure_builtin_carriers()
        if not packing.package_types(home):
            packing.add_package_type(
                home,
                {"name": "Box M", "length_mm": 300, "width_mm": 200, "height_mm": 150, "tare_grams": 250},
                actor=actor,
            )
        box = packing.package_types(home)[0]
        stocked = db.session.scalars(
            select(Product)
            .join(StockLevel, StockLevel.product_id == Product.id)
            .where(StockLevel.location_id == home.id, StockLevel.on_hand > 2, Product.sku.like("LC-%"))
            .limit(20)
        ).all()
        parcels = []
        for n, item in enumerate(stocked):
            draft = OrderDraft(
                channel="peak-label",
                external_ref=f"L{n}",
                customer_name=f"Label {n}",
                delivery_method="ship",
                lines=[LineDraft(code=item.sku, quantity=1)],
                ship_to={"line1": f"{n} rue de la Paix", "postcode": "75002", "city": "Paris", "country": "FR"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            fulfilment = orders.assign_fulfilment(order, home, {order.lines[0]: 1}, actor=actor)
            for status in ("accepted", "picking", "picked"):
                orders.transition(fulfilment, status, actor=actor)
            packing.start_packing(fulfilment, actor=actor)
            for parcel in fulfilment.parcels:
                packing.set_parcel(parcel, package_type=box, weight_grams=900, actor=actor)
            packing.finish_packing(fulfilment, actor=actor)
            parcels += [parcel.id for parcel in fulfilment.parcels]
        scopes = "orders:read,orders:write,stock:read,fulfilments:write,returns:write"
        _client, token = api_clients.create_api_client("peak-day bench", scopes.split(","), actor=actor)
        jobs.subscribe(hook_url, "peak-secret-" + secrets.token_hex(8), "*", actor=actor)
        skus = db.session.scalars(
            select(Product.sku)
            .join(StockLevel, StockLevel.product_id == Product.id)
            .where(Product.sku.like("LC-%"), StockLevel.on_hand - StockLevel.reserved >= 5)
            .group_by(Product.sku)
            .limit(1000)
        ).all()
        setup = {
            "token": token,
            "sessions": sessions,
            "parcels": parcels,
            "skus": list(skus),
            "collect_stores": [s.code for s in stores if s.click_and_collect and s.active],
        }
        db.session.commit()
    return setup


# --- the webhook receiver and the outbox lag -------------------------------------------------------------------


class Receiver(BaseHTTPRequestHandler):
    received = 0
    lock = threading.Lock()

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with Receiver.lock:
            Receiver.received += 1
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def outbox_lag(url: str, stop: threading.Event, samples: list) -> None:
    """Every 2 s: the age in seconds of the oldest event of the run with a delivery still pending, and how many
    wait."""
    import psycopg

    with psycopg.connect(psql_url(url), autocommit=True) as conn:
        first = conn.execute("SELECT coalesce(max(id), 0) FROM outbox_event").fetchone()[0]
        while not stop.wait(2):
            age, waiting = conn.execute(
                "SELECT coalesce(extract(epoch FROM now() - min(e.created_at)), 0), count(*) "
                "FROM webhook_delivery d JOIN outbox_event e ON e.id = d.event_id "
                "WHERE d.status = 'pending' AND e.id > %s",
                (first,),
            ).fetchone()
            samples.append((time.time(), float(age), int(waiting)))


# --- CPU seconds per tier --------------------------------------------------------------------------------------


def _cpu(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_cpu(pid: int) -> float:
    return _cpu(pid) + sum(tree_cpu(child) for child in _children(pid))


def postgres_cpu() -> float:
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        if "(postgres)" in text:
            total += _cpu(int(stat.parent.name))
    return total


# --- the journeys ----------------------------------------------------------------------------------------------


ADDRESSES = [
    ("FR", "75011", "Paris"),
    ("FR", "69003", "Lyon"),
    ("FR", "13001", "Marseille"),
    ("FR", "33000", "Bordeaux"),
    ("FR", "59000", "Lille"),
    ("IT", "20121", "Milano"),
    ("IT", "00184", "Roma"),
    ("IT", "10121", "Torino"),
]


class Client:
    """One client thread's connection to the server and its measures."""

    def __init__(self, port: int, token: str, session: dict, stats: dict, lock: threading.Lock, url: str):
        import psycopg

        self.port, self.token, self.session, self.stats, self.lock = port, token, session, stats, lock
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.db = psycopg.connect(psql_url(url), autocommit=True)  # the customer's pickup code, from their e-mail

    def pickup_code(self, fulfilment_id: int) -> str:
        row = self.db.execute("SELECT code FROM pickup WHERE fulfilment_id = %s", (fulfilment_id,)).fetchone()
        return row[0] if row else "none"

    def call(self, op: str, method: str, path: str, body=None, *, web=False) -> tuple[int, bytes]:
        headers = {}
        if web:
            headers = {
                "Cookie": self.session["cookie"],
                "X-CSRFToken": self.session["csrf"],
                "HX-Request": "true",
                "HX-Target": "pick-live",
                "Content-Type": "application/x-www-form-urlencoded",
            }
        else:
            headers = {"Authorization": f"Bearer {self.token}"}
            if method == "POST":
                headers |= {"Content-Type": "application/json", "Idempotency-Key": secrets.token_hex(12)}
        data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
        started = time.perf_counter()
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                answer = self.conn.getresponse()
                payload = answer.read()
                break
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
                if attempt:
                    raise
        took = (time.perf_counter() - started) * 1000
        with self.lock:
            entry = self.stats[op]
            entry["ms"].append(took)
            if answer.status >= 400:
                entry["errors"] += 1
                entry.setdefault("first_error", f"{answer.status} {payload[:300]!r}")
        return answer.status, payload

    def journey(self, rng: random.Random, skus: list[str], parcels: list[int], stores: list[str], run: str, n: int):
        for _ in range(AVAILABILITY_PER_ORDER):
            self.call("availability", "GET", "/api/v1/availability?skus=" + ",".join(rng.sample(skus, 3)))
        lines = [{"sku": sku, "quantity": rng.randint(1, 2)} for sku in rng.sample(skus, rng.randint(1, 3))]
        collect = rng.random() < COLLECT_SHARE
        country, postcode, city = rng.choice(ADDRESSES)
        delivery = (
            {"method": "collect", "pickup_location": rng.choice(stores)}
            if collect
            else {
                "method": "ship",
                "address": {"line1": f"{n} via Roma", "postcode": postcode, "city": city, "country": country},
            }
        )
        order = {
            "channel": "peak",
            "external_ref": f"{run}-{n}",
            "customer": {"name": f"Client {n}", "email": f"client{n}@example.test", "language": "fr"},
            "delivery": delivery,
            "lines": lines,
            "payment": {"provider": "test", "reference": f"auth-{run}-{n}", "amount": "99.00", "currency": "EUR"},
        }
        status, payload = self.call("order", "POST", "/api/v1/orders", order)
        if status != 201:
            return
        placed = json.loads(payload)
        for fulfilment in placed.get("fulfilments", []):
            fid = fulfilment["id"]
            self.call("accept", "POST", f"/api/v1/fulfilments/{fid}/accept", {})
            units = sum(line["quantity"] for line in fulfilment["lines"])
            for _ in range(SCANS_PER_UNIT * units):
                scan_id = "p" + secrets.token_hex(10)
                self.call(
                    "scan",
                    "POST",
                    self.session["path"] + "/scan",
                    f"code={BENCH_SKU}&scan_id={scan_id}".encode(),
                    web=True,
                )
            picked = [{"sku": line["sku"], "quantity": line["quantity"]} for line in fulfilment["lines"]]
            status, _ = self.call("pick", "POST", f"/api/v1/fulfilments/{fid}/pick", {"lines": picked})
            if status != 200:
                continue
            if not collect:
                self.call("label", "GET", f"/api/v1/parcels/{rng.choice(parcels)}/label.pdf")
                continue
            if fulfilment.get("transfer_to"):  # travels to the pickup store first: not followed further
                continue
            status, _ = self.call("ready", "POST", f"/api/v1/fulfilments/{fid}/ready", {"slot": rng.choice(SLOTS)})
            if status != 200:
                continue
            code = self.pickup_code(fid)
            status, _ = self.call("collect", "POST", f"/api/v1/fulfilments/{fid}/collect", {"pickup_code": code})
            if status == 200 and rng.random() < RETURN_SHARE:
                back = picked[0]
                self.call(
                    "return",
                    "POST",
                    "/api/v1/returns",
                    {
                        "order_id": placed["id"],
                        "location": fulfilment["location"],
                        "lines": [
                            {"sku": back["sku"], "quantity": 1, "reason": "changed_mind", "condition": "resellable"}
                        ],
                    },
                )


def healthz(port: int, seconds: float, clients: int) -> float:
    """Requests per second of /healthz with the same number of client threads: the trivial reference."""
    count, stop = [0], time.time() + seconds
    lock = threading.Lock()

    def run():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.time() < stop:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            with lock:
                count[0] += 1

    threads = [threading.Thread(target=run) for _ in range(clients)]
    started = time.time()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return count[0] / (time.time() - started)


def percentile(values: list[float], share: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)]


def database_size(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(psql_url(url), autocommit=True) as conn:
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()[0]
        orders = conn.execute("SELECT count(*) FROM customer_order").fetchone()[0]
    return int(size), int(orders)


def stock_row_bytes(url: str) -> float:
    import psycopg

    with psycopg.connect(psql_url(url), autocommit=True) as conn:
        size, rows = conn.execute(
            "SELECT pg_total_relation_size('stock_level'), (SELECT count(*) FROM stock_level)"
        ).fetchone()
    return size / max(1, rows)


# --- the run ---------------------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_PEAK_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--minutes", type=float, default=3.0)
    parser.add_argument("--clients", type=int, default=12, help="client threads, each playing whole journeys")
    parser.add_argument("--stores", type=int, default=60)
    parser.add_argument("--skus", type=int, default=2000)
    parser.add_argument("--history", type=int, default=20000, help="closed orders in the chain's history")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=12)
    parser.add_argument("--reuse", action="store_true", help="run on the database as a previous setup left it")
    parser.add_argument("--json", help="write the figures to this file")
    args = parser.parse_args()
    os.environ.setdefault("SECRET_KEY", "bench-" + "k" * 40)
    os.environ["DATABASE_URL"] = args.database_url

    receiver = ThreadingHTTPServer(("127.0.0.1", free_port()), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    state_file = ROOT / "bench" / ".peak_day_setup.json"
    if args.reuse and state_file.exists():
        setup = json.loads(state_file.read_text())
        from app import create_app
        from app.extensions import db

        with create_app({"SQLALCHEMY_DATABASE_URI": args.database_url}).app_context():  # the receiver moved
            db.session.execute(db.text("UPDATE webhook_subscription SET url = :u"), {"u": hook_url})
            db.session.commit()
    else:
        started = time.time()
        build_chain(args.database_url, args.stores, args.skus, args.history)
        setup = prepare(args.database_url, args.clients, hook_url)
        state_file.write_text(json.dumps(setup))
        print(f"setup: {time.time() - started:.0f} s")

    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "API_RATE_LIMIT": "1000000 per minute",
        "API_READ_RATE_LIMIT": "1000000 per minute",
        "API_WRITE_RATE_LIMIT": "1000000 per minute",
    }
    port = free_port()
    server = subprocess.Popen(
        [
            BIN / "gunicorn",
            *("--workers", str(args.workers), "--worker-class", "gthread", "--threads", str(args.threads)),
            *("--bind", f"127.0.0.1:{port}", "wsgi:app"),
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    worker = subprocess.Popen(
        [BIN / "flask", "worker", "--interval", "0.5"],
        env={**env, "FLASK_APP": "wsgi.py"},
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    stats = {op: {"ms": [], "errors": 0} for op in OPERATIONS}
    lock = threading.Lock()
    samples: list = []
    try:
        for _ in range(150):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        sessions = [sign_in(base, s["email"], s["path"]) for s in setup["sessions"]]
        for session in sessions:  # the scan bench's session is for its scan path; these clients post to it too
            session["path"] = session["path"].removesuffix("/scan")
        reference = healthz(port, 5, args.clients)
        size_before, orders_before = database_size(args.database_url)
        run = secrets.token_hex(3)
        stop_at = time.time() + args.minutes * 60
        done = [0]
        stop = threading.Event()
        sampler = threading.Thread(target=outbox_lag, args=(args.database_url, stop, samples), daemon=True)
        sampler.start()
        cpu_before = (tree_cpu(server.pid), tree_cpu(worker.pid), postgres_cpu(), time.process_time())
        delivered_before = Receiver.received

        def play(i: int):
            client = Client(port, setup["token"], sessions[i], stats, lock, args.database_url)
            rng = random.Random(i * 7919)
            n = 0
            while time.time() < stop_at:
                n += 1
                client.journey(rng, setup["skus"], setup["parcels"], setup["collect_stores"], run, i * 1_000_000 + n)
                with lock:
                    done[0] += 1

        started = time.time()
        threads = [threading.Thread(target=play, args=(i,)) for i in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.time() - started
        cpu_after = (tree_cpu(server.pid), tree_cpu(worker.pid), postgres_cpu(), time.process_time())
        # the worker catches up: how long until every event of the run is delivered
        drain_started = time.time()
        while time.time() - drain_started < 120 and samples and samples[-1][2] > 0:
            time.sleep(1)
        drained = time.time() - drain_started
        stop.set()
        size_after, orders_after = database_size(args.database_url)
    finally:
        server.terminate()
        worker.terminate()
        server.wait(timeout=15)
        worker.wait(timeout=15)
        receiver.shutdown()

    journeys = done[0]
    app_cpu, worker_cpu, pg_cpu, driver_cpu = (
        after - before for after, before in zip(cpu_after, cpu_before, strict=True)
    )
    requests = sum(len(s["ms"]) for s in stats.values())
    print(
        f"\n{args.minutes:g} min, {args.clients} clients, gunicorn {args.workers} gthread workers x {args.threads}, "
        f"one flask worker; load average {os.getloadavg()[0]:.1f}; /healthz {reference:.0f} req/s"
    )
    print(f"{'operation':14} {'count':>7} {'per s':>7} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
    rows = {}
    for op in OPERATIONS:
        s = stats[op]
        rows[op] = {
            "count": len(s["ms"]),
            "per_second": len(s["ms"]) / elapsed,
            "p50_ms": statistics.median(s["ms"]) if s["ms"] else 0.0,
            "p99_ms": percentile(s["ms"], 0.99),
            "errors": s["errors"],
            "first_error": s.get("first_error", ""),
        }
        r = rows[op]
        print(f"{op:14} {r['count']:7d} {r['per_second']:7.1f} {r['p50_ms']:8.1f} {r['p99_ms']:8.1f} {r['errors']:7d}")
    for op, r in rows.items():
        if r["first_error"]:
            print(f"  first error of {op}: {r['first_error']}")
    lags = [age for _, age, _ in samples]
    print(
        f"journeys: {journeys} ({journeys / elapsed:.2f}/s), requests: {requests} ({requests / elapsed:.0f}/s, "
        f"{requests / elapsed / reference:.2f} x /healthz); webhook deliveries received: "
        f"{Receiver.received - delivered_before}"
    )
    print(
        f"outbox lag (oldest undelivered event) during the run: median {statistics.median(lags) if lags else 0:.1f} s,"
        f" max {max(lags) if lags else 0:.1f} s; drained {drained:.0f} s after the run"
    )
    print(
        f"CPU seconds: app servers {app_cpu:.1f}, worker {worker_cpu:.1f}, PostgreSQL {pg_cpu:.1f}, this driver "
        f"{driver_cpu:.1f}, over {elapsed:.0f} s on {os.cpu_count()} CPUs"
    )

    # --- what the real chain needs at its peak hour ------------------------------------------------------------
    m = MODEL
    peak_day_orders = m["stores"] * m["orders_per_store_normal_day"] * m["peak_factor"]
    peak_rate = peak_day_orders * m["peak_hour_share"] / 3600  # journeys (orders) per second at the peak hour
    per_journey = {
        "app": app_cpu / max(1, journeys),
        "worker": worker_cpu / max(1, journeys),
        "postgresql": pg_cpu / max(1, journeys),
    }
    need = {tier: peak_rate * cost / m["target_cpu_utilisation"] for tier, cost in per_journey.items()}
    app_servers = max(2, math.ceil(need["app"] / m["app_server_vcpus"]))
    # A worker waits on PostgreSQL and on the receivers more than it computes: sized by the deliveries it made a
    # second (all of the run's, over the run and its drain), not by its CPU.
    delivered = Receiver.received - delivered_before
    deliveries_per_order = delivered / max(1, journeys)
    worker_rate = delivered / max(1.0, elapsed + drained)
    peak_deliveries = peak_rate * deliveries_per_order
    workers = max(
        2,
        math.ceil(need["worker"] / m["worker_vcpus"]),
        math.ceil(peak_deliveries / m["target_cpu_utilisation"] / max(0.1, worker_rate)),
    )
    grown = size_after - size_before
    new_orders = max(1, orders_after - orders_before)
    bytes_per_order = grown / new_orders
    normal_year = m["stores"] * m["orders_per_store_normal_day"] * 365
    stock_rows = m["stores"] * 20_000
    stock_gb = stock_rows * stock_row_bytes(args.database_url) / 1e9
    sizing = {
        "peak_day_orders": peak_day_orders,
        "peak_hour_orders_per_second": round(peak_rate, 2),
        "cpu_seconds_per_order": {k: round(v, 4) for k, v in per_journey.items()},
        "vcpus_needed_at_peak": {k: round(v, 1) for k, v in need.items()},
        "app_servers": app_servers,
        "webhook_deliveries_per_order": round(deliveries_per_order, 2),
        "deliveries_per_second_one_worker": round(worker_rate, 1),
        "peak_deliveries_per_second": round(peak_deliveries, 1),
        "flask_workers": workers,
        "postgresql_vcpus": max(4, math.ceil(need["postgresql"])),
        "bytes_per_order": round(bytes_per_order),
        "database_gb_per_year": round(bytes_per_order * normal_year * 1.3 / 1e9, 1),  # +30 % for peak days
        "stock_rows": stock_rows,
        "stock_gb": round(stock_gb, 1),
    }
    print(
        f"\nthe real chain ({m['stores']} stores, {m['orders_per_store_normal_day']} orders a store on a normal day, "
        f"x{m['peak_factor']} on the peak day, {m['peak_hour_share']:.0%} of it in the busiest hour): "
        f"{peak_day_orders:,} orders that day, {peak_rate:.1f} orders/s at the peak hour, each with its "
        f"{AVAILABILITY_PER_ORDER} availability reads, {SCANS_PER_UNIT} scans a unit, labels, pickups and returns"
    )
    print(
        "CPU seconds an order (all its requests): "
        + ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in per_journey.items())
        + f"; at {m['target_cpu_utilisation']:.0%} utilisation the peak hour needs "
        + ", ".join(f"{k} {v:.1f} vCPUs" for k, v in need.items())
    )
    print(
        f"webhooks: {deliveries_per_order:.1f} deliveries an order to one subscriber, {peak_deliveries:.0f}/s at the "
        f"peak hour; one worker delivered {worker_rate:.0f}/s here (the run and its drain)"
    )
    print(
        f"=> {app_servers} app servers of {m['app_server_vcpus']} vCPUs (at least 2), {workers} flask workers of "
        f"{m['worker_vcpus']} vCPUs (at least 2), PostgreSQL with {sizing['postgresql_vcpus']} vCPUs; "
        f"{bytes_per_order / 1024:.1f} KB a new order in the database: about {sizing['database_gb_per_year']} GB a "
        f"year, plus {stock_gb:.1f} GB of stock rows ({stock_rows:,}), which should fit in its RAM"
    )
    errors = sum(r["errors"] for r in rows.values())
    if args.json:
        Path(args.json).write_text(
            json.dumps(
                {
                    "elapsed_s": elapsed,
                    "journeys": journeys,
                    "healthz_rps": reference,
                    "operations": rows,
                    "outbox_lag_s": lags,
                    "drained_s": drained,
                    "cpu_s": {"app": app_cpu, "worker": worker_cpu, "postgresql": pg_cpu, "driver": driver_cpu},
                    "model": MODEL,
                    "sizing": sizing,
                },
                indent=1,
            )
        )
    five_hundreds = errors  # every non-2xx is counted; the first of each operation is printed above
    return 1 if five_hundreds else 0


if __name__ == "__main__":
    sys.exit(main())
