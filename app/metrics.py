"""Prometheus metrics, with prometheus_client (the exposition format is never written by hand).

Counters of business events are counted where the event happens in the core (`count(...)`), but only once the
transaction that wrote it commits: a request retried after a deadlock, or rolled back, counts nothing. Request
latency is observed per route *template* (never the raw path). Queue sizes and lags are read from the database
when /metrics is scraped (a few indexed counts), so every process answers the same.

Under gunicorn every worker is its own process: with PROMETHEUS_MULTIPROC_DIR set (gunicorn.conf.py and the image
set it), counters and histograms are kept in files there and /metrics adds up every worker's; the directory is
emptied when gunicorn starts and a dead worker's live gauges are dropped (child_exit). Without it each process
answers for itself (development, `flask worker --metrics-port`).
"""

import hmac
import ipaddress
import logging
import os

from flask import Flask, Response, abort, current_app, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.pool import Pool

if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):  # the metrics below write their files there from now on
    os.makedirs(os.environ["PROMETHEUS_MULTIPROC_DIR"], exist_ok=True)

PENDING_KEY = "metrics_pending"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

REQUEST_LATENCY = Histogram(
    "comptoir_http_request_duration_seconds",
    "Time to answer a request, by route template, method and status.",
    ["route", "method", "status"],
    buckets=LATENCY_BUCKETS,
)
ORDERS = Counter("comptoir_orders_captured_total", "Orders recorded (not repeats of one).", ["method"])
SOURCING = Counter(
    "comptoir_sourcing_decisions_total",
    "Sourcing decisions by trigger and outcome: full (every unit placed), partial, none (no unit placed).",
    ["trigger", "outcome"],
)
SCANS = Counter(
    "comptoir_scans_total", "Scans and taps recorded, by purpose and whether they counted.", ["purpose", "ok"]
)
REJECTIONS = Counter(
    "comptoir_rejections_total",
    "Work given back by a store: whole fulfilments or some lines, by reason code.",
    ["scope", "reason"],
)
WEBHOOKS = Counter(
    "comptoir_webhook_deliveries_total",
    "Webhook delivery attempts by outcome: delivered, pending (retried later), dead (dead-lettered).",
    ["outcome"],
)
PAYMENTS = Counter(
    "comptoir_payment_steps_total",
    "Answers recorded for payment steps, by kind (capture, void, refund) and status (succeeded, failed, pending).",
    ["kind", "status"],
)
DB_IN_USE = Gauge(
    "comptoir_db_connections_in_use",
    "Database connections checked out of the pools, over every live process.",
    multiprocess_mode="livesum",
)

REJECTION_REASONS = ("out_of_stock", "damaged", "cannot_find", "too_busy", "other")


def rejection_reason(reason: str) -> str:
    """A bounded label for a rejection's free-text reason ("out_of_stock: note", "acceptance deadline missed")."""
    code = (reason or "").split(":", 1)[0].strip()
    if code in REJECTION_REASONS:
        return code
    if "deadline" in (reason or ""):
        return "deadline"
    return "other"


# --------------------------------------------------------------------------- counting at commit


def count(counter, amount: float = 1, **labels) -> None:
    """Count an event of the current transaction once it commits (nothing when it rolls back)."""
    from app.extensions import db

    db.session.info.setdefault(PENDING_KEY, []).append((counter, labels, amount))


@event.listens_for(Session, "after_commit")
def _counted_at_commit(session):
    if session.in_nested_transaction():  # a savepoint (begin_nested) committed: the transaction goes on
        return
    for counter, labels, amount in session.info.pop(PENDING_KEY, ()):
        (counter.labels(**labels) if labels else counter).inc(amount)


@event.listens_for(Session, "after_rollback")
def _dropped_at_rollback(session):
    if session.in_nested_transaction():  # a savepoint rolled back: what the transaction counted before it still stands
        return
    session.info.pop(PENDING_KEY, None)


@event.listens_for(Pool, "checkout")
def _checked_out(*_args):
    DB_IN_USE.inc()


@event.listens_for(Pool, "checkin")
def _checked_in(*_args):
    DB_IN_USE.dec()


def observe_request(method: str, route: str | None, status: int, seconds: float) -> None:
    REQUEST_LATENCY.labels(route=route or "(no route)", method=method, status=str(status)).observe(seconds)


# --------------------------------------------------------------------------- read at scrape time


class QueueCollector:
    """Outbox lag, queue sizes and dead letters, read from the database at scrape time (the same on every process)."""

    def describe(self):
        return []

    def collect(self):
        """The families, and comptoir_queues_read (0 when the database could not be read: the rest of the scrape is
        still answered)."""
        from app.extensions import db

        try:
            families = list(self._families())
        except Exception as error:
            db.session.rollback()
            logging.getLogger(__name__).warning("metrics: the queues could not be read (%s)", type(error).__name__)
            families = []
        yield from families
        yield GaugeMetricFamily(
            "comptoir_queues_read", "1 when the queue figures were read.", value=int(bool(families))
        )

    def _families(self):
        from sqlalchemy import func, select

        from app.core.models import OutboundEmail, OutboundSms, OutboxEvent, PaymentTransaction, WebhookDelivery
        from app.core.models.base import utcnow
        from app.extensions import db

        now = utcnow()

        def age(oldest) -> float:
            return max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0

        s = db.session
        lag = GaugeMetricFamily(
            "comptoir_outbox_lag_seconds",
            "Age of the oldest work waiting: events not yet numbered in the feed, webhook deliveries past due.",
            labels=["queue"],
        )
        lag.add_metric(
            ["events"], age(s.scalar(select(func.min(OutboxEvent.created_at)).where(OutboxEvent.position.is_(None))))
        )
        due = select(func.min(WebhookDelivery.next_attempt_at)).where(
            WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now
        )
        lag.add_metric(["webhooks"], age(s.scalar(due)))
        yield lag
        size = GaugeMetricFamily("comptoir_queue_size", "Rows waiting to be sent or called.", labels=["queue"])
        for name, model in (("email", OutboundEmail), ("sms", OutboundSms), ("payments", PaymentTransaction)):
            size.add_metric([name], s.scalar(select(func.count()).where(model.status == "pending")) or 0)
        size.add_metric(["webhooks"], s.scalar(select(func.count()).where(WebhookDelivery.status == "pending")) or 0)
        yield size
        dead = s.scalar(select(func.count()).where(WebhookDelivery.status == "dead")) or 0
        yield GaugeMetricFamily("comptoir_webhook_dead_letters", "Webhook deliveries dead-lettered.", value=dead)
        s.rollback()  # the scrape's reads end here: no snapshot kept open


class _ThisProcess:
    """This process's own metrics (the default registry) inside a per-scrape registry."""

    def collect(self):
        yield from REGISTRY.collect()


def exposition(with_queues: bool = True) -> bytes:
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    if with_queues:
        registry.register(QueueCollector())
    return generate_latest(registry)


# --------------------------------------------------------------------------- /metrics


def _allowed_networks(value: str) -> list:
    networks = []
    for item in (value or "").replace(",", " ").split():
        networks.append(ipaddress.ip_network(item, strict=False))
    return networks


def allowed(config, headers, remote_addr: str | None) -> bool:
    """A scrape is let in with the bearer token METRICS_TOKEN, or from an address of METRICS_ALLOW; with neither
    set, only from this machine (development; production refuses to start so)."""
    token = config.get("METRICS_TOKEN") or ""
    header = headers.get("Authorization", "")
    if token and header.lower().startswith("bearer "):
        if hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return True
    networks = config.get("METRICS_ALLOW_NETWORKS") or []
    if not token and not networks:
        networks = _allowed_networks("127.0.0.1/32 ::1/128")
    try:
        address = ipaddress.ip_address((remote_addr or "").split("%", 1)[0])
    except ValueError:
        return False
    return any(address in network for network in networks)


def init_app(app: Flask) -> None:
    app.config["METRICS_ALLOW_NETWORKS"] = _allowed_networks(app.config.get("METRICS_ALLOW", ""))

    from app.extensions import talisman

    @app.get("/metrics")
    @talisman(force_https=False)  # scraped on the private network over plain HTTP, even with FORCE_HTTPS
    def metrics():
        """Prometheus metrics; a bearer token (METRICS_TOKEN) or an allowed address (METRICS_ALLOW)."""
        if not current_app.config.get("METRICS_ENABLED", True):
            abort(404)
        if not allowed(current_app.config, request.headers, request.remote_addr):
            response = Response("metrics: a valid bearer token or an allowed address is required\n", 401)
            response.headers["WWW-Authenticate"] = 'Bearer realm="metrics"'
            response.mimetype = "text/plain"
            return response
        return Response(exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
