"""The event feed and the webhook worker under real load, over HTTP against the live gunicorn server.

1. A poller follows its cursor (GET /api/v1/events?after=<last position>) every ~20 ms while 20 writers, each
   its own API client, post 150 orders: it sees every event exactly once, checked against outbox_event in SQL.
2. A real `flask worker` process faces receivers that answer garbage, hang and reset: every attempt counted,
   dead letters at the end, the process still alive, and the deliveries to a good receiver done.
"""

import concurrent.futures
import json
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import bindparam, create_engine, text

from tests.core.test_worker import RawReceiver
from tests.e2e.conftest import ROOT, _server_env, api_tokens, cli_api_client, flask_cli
from tests.e2e.conftest import api_call as _call

pytestmark = pytest.mark.e2e
WRITERS, ORDERS = 20, 150
MAX_ATTEMPTS = 8  # app.core.integration.worker.MAX_ATTEMPTS
PARIS = {"line1": "1 rue de Rivoli", "postcode": "75001", "city": "Paris", "country": "FR"}


def test_a_poller_following_its_cursor_sees_every_event_once_while_twenty_clients_post_orders(
    threaded_server, database_url, query
):
    base, run = str(threaded_server), uuid.uuid4().hex[:8]
    tokens = api_tokens(database_url, WRITERS + 1)
    reader, writers = tokens[0], tokens[1:]
    sku = query("SELECT sku FROM product ORDER BY sku LIMIT 1")[0][0]
    status, _ = _call(base, reader, "PUT", f"/api/v1/stock/PAR01/{sku}", {"on_hand": 100_000}, str(uuid.uuid4()))
    assert status == 200

    def page(cursor):
        while True:
            status, body = _call(base, reader, "GET", f"/api/v1/events?after={cursor}&limit=500")
            if status != 429:  # rate limited: ask again shortly, same cursor
                assert status == 200, body
                return body
            stats["429"] += 1
            time.sleep(0.2)

    stats = {"429": 0, "polls": 0, "crossings": 0}
    start = 0
    while batch := page(start):  # to the end of the feed as it is before the writers start
        start = batch[-1]["position"]
    seen, done = [], threading.Event()

    def poll():
        cursor, highest_id = start, 0
        while True:
            finished = done.is_set()
            batch = page(cursor)
            stats["polls"] += 1
            for event in batch:
                stats["crossings"] += event["id"] < highest_id  # an id cursor would have skipped this one
                highest_id = max(highest_id, event["id"])
                seen.append((event["position"], event["id"]))
            if batch:
                cursor = batch[-1]["position"]
            elif finished:
                return
            time.sleep(0.02)

    def order(i):
        body = {
            "channel": "web",
            "external_ref": f"FEED-{run}-{i}",
            "customer": {"name": f"Client {i}"},
            "delivery": {"method": "ship", "address": {**PARIS, "latitude": 48.86, "longitude": 2.34}},
            "lines": [{"sku": sku, "quantity": 1}],
        }
        return _call(base, writers[i % WRITERS], "POST", "/api/v1/orders", body)[0]

    poller = threading.Thread(target=poll)
    poller.start()
    with concurrent.futures.ThreadPoolExecutor(max_workers=WRITERS) as pool:
        statuses = list(pool.map(order, range(ORDERS)))
    done.set()
    poller.join(timeout=120)
    assert not poller.is_alive()

    assert statuses == [201] * ORDERS
    rows = query("SELECT position, id FROM outbox_event WHERE position > :start ORDER BY position", start=start)
    assert query("SELECT count(*) FROM outbox_event WHERE position IS NULL")[0][0] == 0
    assert len(seen) == len(set(seen))  # no duplicate
    assert seen == [tuple(r) for r in rows]  # none missing, in position order
    ours = query(
        "SELECT e.id FROM outbox_event e JOIN customer_order o ON o.id = e.order_id WHERE o.external_ref LIKE :p",
        p=f"FEED-{run}-%",
    )
    assert {r[0] for r in ours} <= {event_id for _, event_id in seen}
    assert len(ours) >= 2 * ORDERS  # order.created and fulfilment.created at least
    print(
        f"\nfeed: {len(seen)} events seen / {len(rows)} expected ({len(ours)} of the {ORDERS} orders), "
        f"{stats['polls']} polls, {stats['429']} rate-limited, "
        f"{stats['crossings']} arrived after a higher id (an id cursor would have lost them)",
        file=sys.stderr,
    )


# --------------------------------------------------------------------------- the worker process


class GoodReceiver:
    def __init__(self):
        self.received, lock = [], threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with lock:
                    received.append(json.loads(body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


# `flask worker` itself (flask.cli.main, as the `flask` script runs it), with a short receiver timeout and no
# backoff so that eight attempts take seconds, not hours.
WORKER = """
import sys
from datetime import timedelta
from app.core.integration import worker
worker.TIMEOUT_SECONDS = 0.5
worker.backoff = lambda attempts: timedelta(0)
from flask.cli import main
sys.argv = ["flask", "worker", "--interval", "0.1"]
main()
"""


DELIVERIES = text(
    "SELECT s.url, d.status, d.attempts, d.last_error FROM webhook_delivery d"
    " JOIN webhook_subscription s ON s.id = d.subscription_id WHERE s.url IN :urls ORDER BY d.id"
).bindparams(bindparam("urls", expanding=True))
SWITCH_OFF = text("UPDATE webhook_subscription SET active = false WHERE url IN :urls").bindparams(
    bindparam("urls", expanding=True)
)


def test_a_worker_process_facing_receivers_that_answer_garbage_hang_or_reset_stays_alive_and_dead_letters(
    live_server, database_url, query, tmp_path
):
    base, run = str(live_server), uuid.uuid4().hex[:8]
    env = _server_env(database_url)
    bad = [RawReceiver("garbage"), RawReceiver("hang"), RawReceiver("reset")]
    good = GoodReceiver()
    urls = [r.url for r in bad] + [good.url]
    worker_log = tmp_path / "worker.log"
    proc, engine = None, create_engine(database_url)
    try:
        for url in urls:
            flask_cli(database_url, "webhooks", "add", url, "--secret", "s" * 20, "--events", "order.created")
        token = cli_api_client(database_url, f"hooks-{run}")
        sku = query("SELECT sku FROM product ORDER BY sku LIMIT 1")[0][0]
        _call(base, token, "PUT", f"/api/v1/stock/PAR01/{sku}", {"on_hand": 100_000}, str(uuid.uuid4()))
        refs = [f"HOOK-{run}-{i}" for i in range(3)]
        for ref in refs:
            body = {
                "channel": "web",
                "external_ref": ref,
                "customer": {"name": "Client"},
                "delivery": {"method": "ship", "address": {**PARIS, "latitude": 48.86, "longitude": 2.34}},
                "lines": [{"sku": sku, "quantity": 1}],
            }
            assert _call(base, token, "POST", "/api/v1/orders", body)[0] == 201

        def deliveries():
            with engine.connect() as conn:
                return conn.execute(DELIVERIES, {"urls": urls}).all()

        assert len(deliveries()) == 3 * len(urls)
        with open(worker_log, "w") as log:
            proc = subprocess.Popen([sys.executable, "-c", WORKER], cwd=ROOT, env=env, stdout=log, stderr=log)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rows = deliveries()
            if all(status in {"dead", "delivered"} for _, status, _, _ in rows):
                break
            assert proc.poll() is None, worker_log.read_text()
            time.sleep(0.3)
        time.sleep(1)  # a few more passes with nothing to do
        assert proc.poll() is None, "flask worker died:\n" + worker_log.read_text()

        rows = deliveries()
        by_url = {url: [(s, a) for u, s, a, _ in rows if u == url] for url in urls}
        errors = {url: {e for u, _, _, e in rows if u == url} for url in urls}
        assert by_url[good.url] == [("delivered", 1)] * 3
        assert sorted(e["data"]["external_ref"] for e in good.received) == refs
        for receiver, expected in zip(bad, ["BadStatusLine", "timed out", "reset"], strict=True):
            assert by_url[receiver.url] == [("dead", MAX_ATTEMPTS)] * 3, (receiver.mode, by_url[receiver.url])
            assert all(expected in e for e in errors[receiver.url]), (receiver.mode, errors[receiver.url])
            assert receiver.connections == 3 * MAX_ATTEMPTS
        log_text = worker_log.read_text()
        assert "Traceback" not in log_text
        assert "failed: BadStatusLine" in log_text
        print(
            f"\nworker: {sum(a for u, _, a, _ in rows if u != good.url)} failed attempts over "
            f"{len(rows) - 3} dead letters ({MAX_ATTEMPTS} each), 3 / 3 delivered to the good receiver, "
            f"process alive (pid {proc.pid})",
            file=sys.stderr,
        )
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=20)
        for receiver in bad:
            receiver.close()
        good.close()
        with engine.begin() as conn:  # later tests' orders must not queue deliveries to these receivers
            conn.execute(SWITCH_OFF, {"urls": urls})
        engine.dispose()
