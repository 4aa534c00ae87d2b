"""Background jobs: number the event feed and the stock change feed, deliver webhooks, expire missed acceptances,
end click & collect holds that ran out and remind their customers before, send the customer e-mails and text
messages. Safe to run in several processes.

Due deliveries are claimed with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL) and a lease written in
a short transaction, so no two workers send the same delivery, and no lock is held during the HTTP
call. A worker that dies mid-delivery lets the lease run out; the delivery is then retried.

Nothing a receiver does stops the worker: any exception while sending one delivery (refused, reset, timed out,
an answer that is not HTTP...) is a failed attempt, recorded with its error text, retried with backoff and
dead-lettered after MAX_ATTEMPTS. Each job of a pass runs on its own: one that fails is logged and the others
go on.
"""

import hashlib
import hmac
import json
import logging
import re
import time
import urllib.error
import urllib.request
from datetime import timedelta
from time import perf_counter  # the job lines' durations (tests drive `time.monotonic`, the pass's lease clock)

from sqlalchemy import select, update

from app import metrics
from app.core import audit, payments, privacy, reports
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.floor import pickups
from app.core.integration import customer_messages, events, mail, sms
from app.core.inventory import changes
from app.core.models import DeliveryStatus, Fulfilment, WebhookDelivery, WebhookSubscription
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.reports import prediction
from app.core.uow import unit_of_work
from app.extensions import db
from app.observability import new_request_id, origin_request_id_var, request_id_var

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=60)
CLAIM_BATCH = 20  # deliveries leased at once
DELIVERY_BATCHES = 25  # at most this many batches a pass (500 deliveries), within half the lease
MAX_ATTEMPTS = 8
TIMEOUT_SECONDS = 5
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]+")


def sign(secret: str, body: bytes) -> str:
    """The value of the X-Comptoir-Signature header for a body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(3600, 30 * 2 ** max(0, attempts - 1)))


def claim_due(limit: int | None = None, now=None) -> list[int]:
    """Take a lease on due deliveries no other worker holds; returns their ids (commits)."""
    now, limit = now or utcnow(), limit or CLAIM_BATCH
    with unit_of_work(writes=True):
        rows = db.session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING, WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        claimed = []
        for row in rows:  # the guarded UPDATE also makes the claim exclusive on SQLite (no row locks)
            taken = db.session.execute(
                update(WebhookDelivery)
                .where(WebhookDelivery.id == row.id, WebhookDelivery.next_attempt_at == row.next_attempt_at)
                .values(next_attempt_at=now + LEASE, attempts=WebhookDelivery.attempts + 1)
                .execution_options(synchronize_session=False)
            ).rowcount
            if taken:
                claimed.append(row.id)
    return claimed


def _post(url: str, body: bytes, headers: dict) -> None:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - admin-set URL
    with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310
        if not 200 <= response.status < 300:
            raise urllib.error.HTTPError(url, response.status, "not 2xx", response.headers, None)


def describe(error: BaseException) -> str:
    """The error text kept on a failed delivery: one line, no control characters (a receiver's garbage may hold
    NUL, which PostgreSQL text cannot store), at most 500 characters."""
    text = f"{type(error).__name__}: {error}"
    return " ".join(_CONTROL_CHARACTERS.sub(" ", text).split())[:500]


def _request(delivery_id: int) -> tuple[str, bytes, dict]:
    """The URL, body and headers of one delivery."""
    with unit_of_work():  # read, then end the transaction: no lock or snapshot held during the HTTP call
        delivery = db.session.get(WebhookDelivery, delivery_id)
        event, subscription = delivery.event, delivery.subscription
        envelope = {
            "id": event.id,
            "type": event.type,
            "created_at": event.created_at.isoformat(),
            "data": event.payload,
        }
        body = json.dumps(envelope, sort_keys=True).encode()
        url = subscription.url
        headers = {
            "Content-Type": "application/json",
            "X-Comptoir-Event": event.type,
            "X-Comptoir-Delivery": str(delivery.id),
            "X-Comptoir-Signature": sign(subscription.secret, body),
            # the request that wrote the event, so the receiver's logs meet ours; else this job's id
            "X-Request-ID": event.request_id or request_id_var.get() or new_request_id("job-"),
        }
        if event.request_id:
            origin_request_id_var.set(event.request_id)
    return url, body, headers


def deliver(delivery_id: int, now=None) -> str:
    """Send one claimed delivery and record the outcome: delivered, pending (retry later) or dead.

    Any exception while preparing or sending is a failed attempt: URLError, HTTPError, timeouts and resets, but
    also an answer that is not HTTP (http.client.BadStatusLine and the like) or a URL urllib cannot use.
    """
    error = ""
    try:
        _post(*_request(delivery_id))
    except Exception as exc:  # whatever the receiver did, this attempt failed; the worker goes on
        error = describe(exc)
        log.warning("webhook delivery %s failed: %s", delivery_id, error)
    now = now or utcnow()
    with unit_of_work(writes=True):
        delivery = db.session.get(WebhookDelivery, delivery_id)
        if delivery is None:  # its subscription was deleted meanwhile
            return "gone"
        if not error:
            delivery.status, delivery.delivered_at, delivery.last_error = "delivered", now, ""
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status, delivery.last_error = "dead", error
        else:
            delivery.next_attempt_at, delivery.last_error = now + backoff(delivery.attempts), error
        metrics.count(metrics.WEBHOOKS, outcome=delivery.status)
        return delivery.status


def replay(delivery: WebhookDelivery, *, actor: Actor) -> WebhookDelivery:
    """Send a dead-lettered delivery again from scratch; any other delivery is left as it is (a repeat is harmless)."""
    if delivery.status != "dead":
        return delivery
    before = {"status": delivery.status, "attempts": delivery.attempts}
    delivery.status, delivery.attempts, delivery.next_attempt_at, delivery.last_error = "pending", 0, utcnow(), ""
    audit.record(actor, "webhook.replay", delivery, before, {"status": "pending"})
    return delivery


def subscribe(url: str, secret: str, event_types: str = "*", *, actor: Actor) -> WebhookSubscription:
    """Send events to a URL, signed with the shared secret."""
    url, event_types = (url or "").strip(), ",".join(t.strip() for t in (event_types or "*").split(",") if t.strip())
    errors = {}
    if not url.startswith(("http://", "https://")) or len(url) > 500:
        errors["url"] = N_("Must be an http or https address.")
    if len(secret or "") < 16 or len(secret) > 128:
        errors["secret"] = N_("Must be 16 to 128 characters.")
    if not event_types:
        errors["event_types"] = N_("Required.")
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    subscription = WebhookSubscription(url=url, secret=secret, event_types=event_types)
    db.session.add(subscription)
    db.session.flush()
    audit.record(actor, "webhook.subscribe", subscription, None, {"url": url, "event_types": event_types})
    return subscription


def release(delivery_ids: list[int], claimed_at) -> None:
    """Give back claimed deliveries this pass will not send (the lease is not counted as an attempt)."""
    if not delivery_ids:
        return
    with unit_of_work(writes=True):
        db.session.execute(
            update(WebhookDelivery)
            .where(
                WebhookDelivery.id.in_(delivery_ids),
                WebhookDelivery.status == DeliveryStatus.PENDING,
                WebhookDelivery.next_attempt_at == claimed_at + LEASE,  # still our lease
            )
            .values(next_attempt_at=claimed_at, attempts=WebhookDelivery.attempts - 1)
            .execution_options(synchronize_session=False)
        )


def expire_late_acceptances(now=None, limit: int = 50) -> int:
    """Reject fulfilments nobody accepted in time and re-source them elsewhere, each in its own transaction
    (commits): one that cannot be re-routed is logged and the others still are."""
    from app.core.ordering.sourcing import reject_and_reroute

    now = now or utcnow()
    with unit_of_work():
        late_ids = db.session.scalars(
            select(Fulfilment.id)
            .where(Fulfilment.status == S.CREATED, Fulfilment.accept_by < now)
            .order_by(Fulfilment.id)
            .limit(limit)
        ).all()
    expired = 0
    for fulfilment_id in late_ids:
        try:
            with unit_of_work(writes=True):
                fulfilment = db.session.scalar(
                    select(Fulfilment)
                    .where(Fulfilment.id == fulfilment_id, Fulfilment.status == S.CREATED, Fulfilment.accept_by < now)
                    .with_for_update(skip_locked=True)
                )
                if fulfilment is not None:
                    reject_and_reroute(fulfilment, reason="acceptance deadline missed", actor=Actor.system("worker"))
                    expired += 1
        except Exception:
            log.exception("could not expire the missed acceptance of fulfilment %s", fulfilment_id)
    return expired


def tell_late_orders(now=None, limit: int = 50) -> int:
    """Tell the customers of work past its ready_by that their order is late, once an order, each in its own
    transaction (commits); nothing when the retailer turned order_delayed off."""
    now = now or utcnow()
    with unit_of_work():
        if not customer_messages.enabled("order_delayed"):
            return 0
        late_ids = customer_messages.late_fulfilments(now, limit)
    told = 0
    for fulfilment_id in late_ids:
        try:
            with unit_of_work(writes=True):
                fulfilment = db.session.get(Fulfilment, fulfilment_id)
                order = fulfilment.order
                db.session.refresh(order, with_for_update=True)  # two workers: the second finds the first's message
                late = fulfilment.status in customer_messages.NOT_READY and fulfilment.ready_by is not None
                if late and not customer_messages.already_told_delay(order.id):
                    customer_messages.order_delayed(fulfilment)
                    told += 1
        except Exception:
            log.exception("could not tell the customer of late fulfilment %s", fulfilment_id)
    return told


def _job(name: str, work, errors: list, default=0):
    """Run one job under a job id of its own (every log line it writes carries it, a webhook call sends it as
    X-Request-ID); an exception is logged and counted, and the pass goes on with the next job. A job that did
    something, or failed, writes one line: job, job id, result, duration."""
    token, started = request_id_var.set(new_request_id("job-")), perf_counter()
    origin_token = origin_request_id_var.set(None)
    failed, result = False, default
    try:
        result = work()
        return result
    except Exception:
        failed = True
        log.exception("worker job %s failed", name)
        errors.append(name)
        db.session.rollback()  # whatever the job left half done, the next one starts clean
        return default
    finally:
        duration_ms = round((perf_counter() - started) * 1000, 1)
        fields = {"job": name, "result": "failed" if failed else result, "duration_ms": duration_ms}
        if origin_request_id_var.get():  # the request that caused this job's work
            fields["origin_request_id"] = origin_request_id_var.get()
        origin_request_id_var.reset(origin_token)
        level, job_id = logging.INFO if failed or result else logging.DEBUG, request_id_var.get()
        log.log(level, "job", extra={"fields": fields, "request_id": job_id})
        request_id_var.reset(token)


def run_once(now=None, *, figures: bool = True) -> dict:
    """One pass of every job; no job's failure stops the others (see the `errors` count and the log).

    Deliveries are sent one after the other, batch after batch while batches come full (a busy hour's events do
    not wait for the next pass, 20 at a time); when a pass has run for half the lease (receivers that hang until
    the timeout), the deliveries it has not started are given back, so no lease runs out before its send.
    figures: also roll the stores' days up and predict their lateness (every store: the costly jobs, which
    `flask worker` runs about once a minute rather than on every pass).
    """
    errors: list[str] = []
    # Holds that ran out, then reminders for those ending soon (each pickup in its own transaction): their events
    # and stock movements are numbered, and their e-mails and text messages sent, in this same pass.
    pickups_expired = _job("expire pickups", lambda: pickups.expire_due(now=now), errors)
    # Payment steps nobody called yet (a crash after commit) and retries after a provider timeout.
    payments_done = _job("payments", lambda: payments.process_due(now=now), errors)
    reminded = _job("remind pickups", lambda: pickups.remind_due(now=now), errors)
    # The ledger first: the stock.changed events its run writes are then numbered in this same pass.
    stock_sequenced = _job("sequence stock movements", changes.sequence, errors)
    sequenced = _job("sequence events", events.sequence, errors)
    expired = _job("expire late acceptances", lambda: expire_late_acceptances(now), errors)
    # Customers of work past its ready_by hear it is late (their e-mails and texts go out in this same pass).
    delayed = _job("tell late orders", lambda: tell_late_orders(now), errors)
    started, outcomes = time.monotonic(), []
    for _batch in range(DELIVERY_BATCHES):
        claimed_at = now or utcnow()
        claimed = _job("claim deliveries", lambda at=claimed_at: claim_due(now=at), errors, default=[])
        for index, delivery_id in enumerate(claimed):
            if time.monotonic() - started > LEASE.total_seconds() / 2:
                _job("release deliveries", lambda rest=claimed[index:], at=claimed_at: release(rest, at), errors)
                claimed = []  # no further batch either
                break
            outcomes.append(_job(f"deliver {delivery_id}", lambda d=delivery_id: deliver(d, now), errors, default=""))
        if len(claimed) < CLAIM_BATCH:  # nothing more was due (or the pass is out of time)
            break
    # The stores' days in figures (today and yesterday, store-local) for the board and the reports.
    rolled_up = _job("reports", lambda: reports.refresh(now=now), errors) if figures else 0
    predicted = _job("predictions", lambda: prediction.refresh(now=now), errors) if figures else 0
    # Customers' personal data of orders closed longer than the retailer's retention period (app.core.privacy).
    anonymised = _job("erase expired personal data", lambda: privacy.erase_expired_due(now), errors)
    return {
        "sequenced": sequenced,
        "stock_sequenced": stock_sequenced,
        "expired": expired,
        "delivered": outcomes.count("delivered"),
        "retrying": outcomes.count("pending"),
        "dead": outcomes.count("dead"),
        "pickups_expired": pickups_expired,
        "payments": payments_done,
        "reminded": reminded,
        "delayed": delayed,
        "reports": rolled_up,
        "predictions": predicted,
        "anonymised": anonymised,
        "emailed": _job("send e-mails", mail.send_pending, errors),
        "texted": _job("send text messages", sms.send_pending, errors),
        "errors": len(errors),
    }
