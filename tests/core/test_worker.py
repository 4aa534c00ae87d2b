"""Webhook delivery and background jobs, against a real HTTP receiver on 127.0.0.1."""

import hashlib
import hmac
import json
import os
import socket
import struct
import subprocess
import sys
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest
from sqlalchemy import func, select

from app.core.integration import worker
from app.core.inventory import stock
from app.core.models import OutboxEvent, WebhookDelivery, WebhookSubscription
from app.core.models.base import utcnow
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product, ship_draft, stocked

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s3cret-for-webhooks-0123"


@pytest.fixture
def receiver():
    received, lock = [], threading.Lock()
    answers = {"status": 204}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            with lock:
                received.append((dict(self.headers), body))
            self.send_response(answers["status"])
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}/hook", "received": received, "answers": answers}
    server.shutdown()
    server.server_close()


def _subscribe(url, events="*"):
    db.session.add(WebhookSubscription(url=url, secret=SECRET, event_types=events))
    db.session.flush()


def _orders(count):
    product = make_product()
    for _ in range(count):
        orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    db.session.commit()


def test_events_are_delivered_signed_and_only_once(app, receiver):
    _subscribe(receiver["url"], events="order.created")
    _orders(3)
    result = worker.run_once()
    assert result["delivered"] == 3
    assert worker.run_once()["delivered"] == 0
    assert len(receiver["received"]) == 3
    for headers, body in receiver["received"]:
        expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Comptoir-Signature"] == expected
        assert json.loads(body)["type"] == "order.created"


def test_a_busy_hour_is_delivered_in_one_pass_batch_after_batch(app, receiver):
    _subscribe(receiver["url"], events="order.created")
    _orders(worker.CLAIM_BATCH * 2 + 5)  # two full batches and a part
    assert worker.run_once(figures=False)["delivered"] == worker.CLAIM_BATCH * 2 + 5
    assert len(receiver["received"]) == worker.CLAIM_BATCH * 2 + 5
    assert worker.run_once(figures=False)["delivered"] == 0


def test_a_pass_without_figures_leaves_the_per_store_jobs_for_later(app, monkeypatch):
    ran = []
    monkeypatch.setattr(worker.reports, "refresh", lambda now=None: ran.append("reports") or 1)
    monkeypatch.setattr(worker.prediction, "refresh", lambda now=None: ran.append("predictions") or 1)
    quick = worker.run_once(figures=False)
    assert (quick["reports"], quick["predictions"], ran) == (0, 0, [])
    full = worker.run_once()
    assert (full["reports"], full["predictions"], ran) == (1, 1, ["reports", "predictions"])


def test_a_failing_webhook_is_retried_with_backoff_then_dead_lettered_and_can_be_replayed(app, receiver):
    receiver["answers"]["status"] = 500
    _subscribe(receiver["url"])
    _orders(1)
    now = utcnow()
    statuses = []
    for _ in range(worker.MAX_ATTEMPTS):
        statuses.append(worker.run_once(now=now))
        db.session.rollback()
        delivery = db.session.scalar(select(WebhookDelivery))
        now = delivery.next_attempt_at + timedelta(seconds=1)
    assert [s["retrying"] for s in statuses[:-1]] == [1] * (worker.MAX_ATTEMPTS - 1)
    assert statuses[-1]["dead"] == 1
    assert delivery.status == "dead" and "500" in delivery.last_error
    assert len(receiver["received"]) == worker.MAX_ATTEMPTS
    receiver["answers"]["status"] = 200
    worker.replay(delivery, actor=ACTOR)
    db.session.commit()
    assert worker.run_once()["delivered"] == 1


def test_two_worker_processes_never_deliver_the_same_event_twice(app, receiver):
    _subscribe(receiver["url"])
    _orders(30)
    total = db.session.scalar(select(func.count()).select_from(WebhookDelivery))
    assert total == 30
    script = (
        "from app import create_app\nfrom app.core.integration import worker\napp = create_app()\n"
        "with app.app_context():\n    idle = 0\n    while idle < 3:\n"
        "        idle = idle + 1 if not sum(worker.run_once().values()) else 0\n"
    )
    env = {**os.environ, "RATELIMIT_ENABLED": "false"}
    procs = [subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, env=env) for _ in range(2)]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    ids = [headers["X-Comptoir-Delivery"] for headers, _ in receiver["received"]]
    assert len(ids) == total
    assert len(set(ids)) == total
    db.session.rollback()  # end the test's read transaction to see what the workers committed
    assert db.session.scalar(select(func.count()).where(WebhookDelivery.status == "delivered")) == total


def test_a_missed_acceptance_is_rejected_and_rerouted(app):
    product = make_product()
    first, second = make_location(code="SLOW"), make_location(code="NEXT")
    stocked(first, product, 1)
    stocked(second, product, 1)
    order, _ = orders.create_order(ship_draft((product, 1)), actor=ACTOR)
    sourcing.source_order(order, actor=ACTOR)
    db.session.commit()
    late = order.fulfilments[0].accept_by + timedelta(minutes=1)
    assert worker.expire_late_acceptances(now=late) == 1
    db.session.rollback()
    assert {(f.location.code, f.status) for f in order.fulfilments} == {("NEXT", "rejected"), ("SLOW", "created")}
    assert order.fulfilments[0].status_reason == "acceptance deadline missed"


def test_the_webhook_commands_subscribe_list_dead_letters_and_replay(app, runner):
    bad = runner.invoke(args=["webhooks", "add", "ftp://x", "--secret", "short"])
    assert bad.exit_code != 0 and "url" in bad.output and "secret" in bad.output
    added = runner.invoke(args=["webhooks", "add", "https://erp.example/h", "--secret", "s" * 20])
    assert added.exit_code == 0, added.output
    subscription = db.session.scalar(select(WebhookSubscription))
    event = OutboxEvent(type="order.created", payload={})
    db.session.add(event)
    db.session.flush()
    dead = WebhookDelivery(event=event, subscription=subscription, status="dead", attempts=8, last_error="HTTP 503")
    db.session.add(dead)
    db.session.commit()
    listed = runner.invoke(args=["webhooks", "dead"])
    assert f"{dead.id}\tevent {event.id}\thttps://erp.example/h\t8 attempts\tHTTP 503" in listed.output
    assert runner.invoke(args=["webhooks", "replay", str(dead.id)]).exit_code == 0
    db.session.expire_all()
    assert db.session.get(WebhookDelivery, dead.id).status == "pending"
    assert runner.invoke(args=["webhooks", "replay", "999999"]).exit_code != 0


# --------------------------------------------------------------------------- receivers that misbehave


class RawReceiver:
    """A TCP server on 127.0.0.1 that does what a broken receiver does, on every connection:
    garbage: reads the request and answers "HELLO" (not HTTP); hang: accepts and never answers;
    reset: reads the request and resets the connection (RST)."""

    def __init__(self, mode: str, answer: bytes = b"HELLO\r\n\r\n"):
        self.mode, self.answer, self.connections = mode, answer, 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/{mode}"
        self.held, self.stopped = [], threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopped.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.connections += 1
            if self.mode == "hang":
                self.held.append(conn)  # never read, never answered, closed at the end
                continue
            try:
                conn.settimeout(2)
                conn.recv(65536)
                if self.mode == "garbage":
                    conn.sendall(self.answer)
                else:  # reset: close with SO_LINGER 0, the kernel sends RST
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            except OSError:
                pass
            finally:
                conn.close()

    def close(self):
        self.stopped.set()
        self.sock.close()
        self.thread.join(timeout=5)
        for conn in self.held:
            conn.close()


@pytest.fixture
def raw_receivers():
    made = []

    def make(mode, **kwargs):
        made.append(RawReceiver(mode, **kwargs))
        return made[-1]

    yield make
    for receiver_ in made:
        receiver_.close()


def _run_until_settled(passes: int):
    """run_once `passes` times, each time as late as the next retry, as if the backoff had elapsed."""
    now, results = utcnow(), []
    for _ in range(passes):
        results.append(worker.run_once(now=now))
        db.session.rollback()
        pending = db.session.scalar(select(func.max(WebhookDelivery.next_attempt_at)))
        now = max(now, pending or now) + timedelta(seconds=1)
    return results


def test_receivers_that_answer_garbage_hang_or_reset_are_failed_attempts_then_dead_letters(
    app, receiver, raw_receivers, monkeypatch
):
    monkeypatch.setattr(worker, "TIMEOUT_SECONDS", 0.5)
    bad = {mode: raw_receivers(mode) for mode in ("garbage", "hang", "reset")}
    nul = raw_receivers("garbage", answer=b"HEL\x00LO \xff\x01\r\n\r\n")  # PostgreSQL text cannot hold NUL
    for url in [*(r.url for r in bad.values()), nul.url, receiver["url"]]:  # the good receiver comes last
        _subscribe(url, events="order.created")
    _orders(2)

    results = _run_until_settled(worker.MAX_ATTEMPTS)

    assert results[0]["delivered"] == 2 and results[0]["retrying"] == 8  # the good one served in the first pass
    assert [r["retrying"] for r in results[1:-1]] == [8] * (worker.MAX_ATTEMPTS - 2)
    assert results[-1]["dead"] == 8
    assert all(r["errors"] == 0 for r in results)
    assert len(receiver["received"]) == 2
    deliveries = db.session.scalars(select(WebhookDelivery).join(WebhookSubscription)).all()
    by_url = {}
    for delivery in deliveries:
        by_url.setdefault(delivery.subscription.url, []).append(delivery)
    assert {(d.status, d.attempts) for d in by_url[receiver["url"]]} == {("delivered", 1)}
    expected_errors = {"garbage": "BadStatusLine", "hang": "timed out", "reset": "reset"}
    for mode, server in bad.items():
        assert {(d.status, d.attempts) for d in by_url[server.url]} == {("dead", worker.MAX_ATTEMPTS)}
        assert all(expected_errors[mode] in d.last_error for d in by_url[server.url]), by_url[server.url][0].last_error
        assert server.connections == 2 * worker.MAX_ATTEMPTS
    [nul_error] = {d.last_error for d in by_url[nul.url]}
    assert nul_error.startswith("BadStatusLine") and "\x00" not in nul_error and "\r" not in nul_error


def test_no_job_failure_stops_the_other_jobs_of_a_pass(app, receiver, monkeypatch, caplog):
    _subscribe(receiver["url"], events="order.created")
    _orders(3)
    first, *_ = db.session.scalars(select(WebhookDelivery.id).order_by(WebhookDelivery.id)).all()
    real_deliver = worker.deliver

    def deliver(delivery_id, now=None):
        if delivery_id == first:
            raise RuntimeError("the database went away while recording")
        return real_deliver(delivery_id, now)

    def expire(now=None):
        raise RuntimeError("sourcing broke")

    monkeypatch.setattr(worker, "deliver", deliver)
    monkeypatch.setattr(worker, "expire_late_acceptances", expire)
    result = worker.run_once()
    assert (result["delivered"], result["errors"]) == (2, 2)
    assert len(receiver["received"]) == 2
    logged = [r for r in caplog.records if r.name == "app.core.integration.worker" and r.exc_info]
    assert {r.getMessage() for r in logged} == {
        "worker job expire late acceptances failed",
        f"worker job deliver {first} failed",
    }


def test_a_pass_that_runs_past_half_the_lease_gives_back_what_it_has_not_sent(app, receiver, monkeypatch):
    _subscribe(receiver["url"], events="order.created")
    _orders(3)
    clock = iter([0.0, 0.0, 1000.0, 1000.0, 1000.0])  # the second delivery starts after half the lease
    monkeypatch.setattr(worker, "time", SimpleNamespace(monotonic=lambda: next(clock)))
    result = worker.run_once()
    assert result["delivered"] == 1
    db.session.rollback()
    rows = db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)).all()
    assert [(d.status, d.attempts) for d in rows] == [("delivered", 1), ("pending", 0), ("pending", 0)]
    monkeypatch.undo()
    assert worker.run_once()["delivered"] == 2


def test_a_stock_changed_subscription_receives_one_batch_per_location_with_every_movement_once(app, receiver):
    _subscribe(receiver["url"], events="stock.changed")
    _subscribe(receiver["url"] + "?orders", events="order.created")  # wants no stock batches
    paris, lyon = make_location(code="PAR01"), make_location(code="LYO01")
    shirt, jeans = make_product(sku="TSH-M"), make_product(sku="JEAN-32")
    stock.receive(paris, shirt, 5, actor=ACTOR, reference="PO-1")
    stock.adjust(paris, shirt, -1, reason="broken", actor=ACTOR)
    stock.receive(lyon, jeans, 7, actor=ACTOR)
    stock.receive(paris, jeans, 2, actor=ACTOR)
    db.session.commit()

    result = worker.run_once()
    assert (result["stock_sequenced"], result["delivered"]) == (4, 2)
    batches = {}
    for headers, body in receiver["received"]:
        envelope = json.loads(body)
        assert headers["X-Comptoir-Event"] == envelope["type"] == "stock.changed"
        assert (
            headers["X-Comptoir-Signature"] == "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        )
        batches[envelope["data"]["location"]] = envelope["data"]["changes"]
    assert batches == {
        "PAR01": [
            {"cursor": 1, "sku": "TSH-M", "kind": "receive", "delta": 5, "on_hand": 5},
            {"cursor": 2, "sku": "TSH-M", "kind": "adjust", "delta": -1, "on_hand": 4},
            {"cursor": 4, "sku": "JEAN-32", "kind": "receive", "delta": 2, "on_hand": 2},
        ],
        "LYO01": [{"cursor": 3, "sku": "JEAN-32", "kind": "receive", "delta": 7, "on_hand": 7}],
    }
    # The batches were numbered in the same pass, and are not sent again.
    db.session.rollback()
    assert db.session.scalar(select(func.count()).where(OutboxEvent.position.is_(None))) == 0
    assert worker.run_once()["delivered"] == 0

    stock.receive(lyon, jeans, 1, actor=ACTOR)
    db.session.commit()
    assert worker.run_once()["delivered"] == 1
    latest = json.loads(receiver["received"][-1][1])["data"]
    assert latest == {
        "location": "LYO01",
        "changes": [{"cursor": 5, "sku": "JEAN-32", "kind": "receive", "delta": 1, "on_hand": 8}],
    }


def test_no_stock_changed_event_is_written_when_nobody_subscribes(app):
    stocked(make_location(), make_product(), 3)
    db.session.commit()
    assert worker.run_once()["stock_sequenced"] == 1
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
