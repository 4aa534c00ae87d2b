"""Customers' personal data: what we hold about a customer (export), erased on request (erase) and after the
retailer's retention period (erase_expired). docs/PRIVACY.md says what is kept, what is erased and why.

Erasing anonymises, it deletes nothing: the order keeps its id, channel reference, lines, quantities, prices,
statuses, payments, returns, fulfilments and parcels, the stock ledger and the stores' days in figures stay as they
were, so every total and report is unchanged. What goes is what names or reaches the person: the name (replaced by
"erased-<order id>"), e-mail, phone, street lines, postcode, town, coordinates, gift message and search text on the
order; the address, text and QR code of the e-mails and text messages sent to them; the arrival note and identity
check of a pickup; the distances from their home in the sourcing decision; and every copy of those strings in the
audit trail, the event outbox, the webhook errors and the stored answers of API calls (idempotency records), where
customer service notes, free text that may name anyone, are erased whole. The country stays (figures by country).

The erasure is audited without personal data: the e-mail's SHA-256, never the e-mail. Erasing twice is harmless:
the second finds nothing left under that e-mail.
"""

import hashlib
import json
import re
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import String, bindparam, cast, func, or_, select

from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput
from app.core.models import (
    AuditEvent,
    CustomerReturn,
    Fulfilment,
    IdempotencyRecord,
    Order,
    OrderStatus,
    OutboundEmail,
    OutboundSms,
    OutboxEvent,
    Parcel,
    PaymentTransaction,
    Pickup,
    PrintJob,
    PrintJobChunk,
    ShippingLabel,
    SourcingDecision,
    WebhookDelivery,
)
from app.core.models.base import utcnow
from app.core.service.text import digits
from app.core.uow import unit_of_work
from app.extensions import db

ERASED = "[erased]"
CLOSED = (OrderStatus.COMPLETED, OrderStatus.CANCELLED)
# Keys of audit and event JSON whose value is free text or an address: erased whole on an erased order's rows.
PERSONAL_KEYS = {
    "note",
    "notes",
    "reason_text",
    "message",
    "gift_message",
    "arrival_note",
    "address",
    "line1",
    "line2",
    "postcode",
    "city",
    "customer_name",
    "customer_email",
    "customer_phone",
    "name",
    "email",
    "phone",
    "last_digits",
    "id_check",
}
BATCH = 200
MAX_BATCHES = 5  # per worker pass: the pass stays short, the next one goes on
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
REASON_LENGTH = 200
# The worker's retention pass runs at most this often per process (the work is due by days, not seconds, and the
# pass reads the idempotency records by date): erase_expired_due.
RETENTION_INTERVAL_SECONDS = 600
_last_run = {"at": None}
_last_run_lock = threading.Lock()


class OpenOrders(DomainError):
    code = "open_orders"
    http_status = 409
    message = N_("Some of this customer's orders are still open (%(orders)s): close or cancel them first.")


def normalise_email(email) -> str:
    """The e-mail as orders are looked up by (trimmed, lower case); InvalidInput when it is not one."""
    value = (email or "").strip().lower() if isinstance(email, str) else ""
    if not value or len(value) > 254 or not _EMAIL.match(value):
        raise InvalidInput(N_("A valid e-mail address is required."), field="email")
    return value


def email_hash(email: str) -> str:
    """What the audit keeps of an erased customer's e-mail: its SHA-256, to answer "was X erased?" later."""
    return hashlib.sha256(normalise_email(email).encode()).hexdigest()


def orders_of(email: str, *, lock: bool = False) -> list[Order]:
    """The orders placed under this e-mail (any case), oldest first."""
    statement = select(Order).where(func.lower(Order.customer_email) == normalise_email(email)).order_by(Order.id)
    if lock:
        statement = statement.with_for_update()
    return list(db.session.scalars(statement))


# --- export ---------------------------------------------------------------------------------------------------


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _money(value) -> str | None:
    return str(value) if value is not None else None


def _order_export(order: Order) -> dict:
    fulfilment_ids = [f.id for f in order.fulfilments]
    emails = db.session.scalars(
        select(OutboundEmail).where(OutboundEmail.order_id == order.id).order_by(OutboundEmail.id)
    )
    texts = db.session.scalars(select(OutboundSms).where(OutboundSms.order_id == order.id).order_by(OutboundSms.id))
    payments = db.session.scalars(
        select(PaymentTransaction).where(PaymentTransaction.order_id == order.id).order_by(PaymentTransaction.id)
    )
    returns = db.session.scalars(
        select(CustomerReturn).where(CustomerReturn.order_id == order.id).order_by(CustomerReturn.id)
    )
    pickups = (
        db.session.scalars(select(Pickup).where(Pickup.fulfilment_id.in_(fulfilment_ids))).all()
        if fulfilment_ids
        else []
    )
    notes = db.session.scalars(
        select(AuditEvent)
        .where(
            AuditEvent.subject_type == Order.__tablename__,
            AuditEvent.subject_id == str(order.id),
            AuditEvent.action.like("order.cs_%"),
        )
        .order_by(AuditEvent.id)
    )
    return {
        "id": order.id,
        "reference": order.reference,
        "channel": order.channel,
        "external_ref": order.external_ref,
        "status": order.status,
        "placed_at": _when(order.created_at),
        "customer": {
            "name": order.customer_name,
            "email": order.customer_email,
            "phone": order.customer_phone,
            "language": order.customer_language,
        },
        "delivery": {
            "method": order.delivery_method,
            "line1": order.ship_line1,
            "line2": order.ship_line2,
            "postcode": order.ship_postcode,
            "city": order.ship_city,
            "country": order.ship_country,
            "latitude": str(order.ship_latitude) if order.ship_latitude is not None else None,
            "longitude": str(order.ship_longitude) if order.ship_longitude is not None else None,
            "pickup_store": order.pickup_location.code if order.pickup_location is not None else None,
        },
        "gift": {"wrap": bool(order.gift_wrap), "message": order.gift_message},
        "currency": order.currency,
        "payment_amount": _money(order.payment_amount),
        "shipping_fee": _money(order.shipping_fee),
        "lines": [
            {
                "line_no": line.line_no,
                "sku": line.product.sku,
                "product": line.product.name,
                "quantity": line.quantity,
                "cancelled": line.cancelled or 0,
                "unit_price": _money(line.unit_price),
            }
            for line in order.lines
        ],
        "fulfilments": [
            {
                "id": f.id,
                "location": f.location.code,
                "status": f.status,
                "tracking_numbers": [label.tracking_number for parcel in f.parcels for label in parcel.labels],
            }
            for f in order.fulfilments
        ],
        "pickups": [
            {
                "store": p.location.code,
                "ready_at": _when(p.ready_at),
                "collected_at": _when(p.collected_at),
                "arrival_note": p.arrival_note,
                "identity_check": p.id_check,
            }
            for p in pickups
        ],
        "payments": [
            {
                "kind": t.kind,
                "amount": _money(t.amount),
                "currency": t.currency,
                "status": t.status,
                "at": _when(t.created_at),
            }
            for t in payments
        ],
        "returns": [
            {
                "number": r.number,
                "status": r.status,
                "refund_amount": _money(r.refund_amount),
                "at": _when(r.created_at),
            }
            for r in returns
        ],
        "emails": [
            {
                "kind": e.kind,
                "to": e.to,
                "subject": e.subject,
                "body": e.body,
                "status": e.status,
                "at": _when(e.created_at),
            }
            for e in emails
        ],
        "text_messages": [
            {"kind": s.kind, "to": s.to, "body": s.body, "status": s.status, "at": _when(s.created_at)} for s in texts
        ],
        "customer_service": [{"action": n.action, "at": _when(n.created_at), "details": n.after} for n in notes],
        "personal_data_erased_at": _when(order.personal_data_erased_at),
    }


def export(email: str) -> dict:
    """Everything held about the customer of this e-mail: each of their orders with its address, messages, payments,
    returns and customer service notes (JSON-serialisable). An e-mail with no order gives an empty list."""
    address = normalise_email(email)
    return {
        "email": address,
        "exported_at": utcnow().isoformat(),
        "orders": [_order_export(o) for o in orders_of(address)],
    }


# --- erasure --------------------------------------------------------------------------------------------------


def _strings_of(order: Order) -> set[str]:
    """The personal strings an order holds, as they may be copied elsewhere (names, contacts, street, gift text)."""
    found = {
        order.customer_name,
        order.customer_email,
        order.customer_phone,
        order.ship_line1,
        order.ship_line2,
        order.gift_message,
    }
    if len(digits(order.customer_phone)) >= 6:
        found.add(digits(order.customer_phone))
    if len((order.ship_postcode or "").strip()) >= 4:
        found.add(order.ship_postcode)
    return {s.strip() for s in found if s and len(s.strip()) >= 3}


def _scrub_text(value: str, strings: list[str]) -> str:
    for personal in strings:
        if personal in value:
            value = value.replace(personal, ERASED)
    return value


def scrub(value, strings: list[str], *, whole_keys: bool = True):
    """A copy of a JSON value with every personal string replaced by ERASED, and (whole_keys) the values of
    PERSONAL_KEYS erased whole."""
    if isinstance(value, dict):
        return {
            key: (
                ERASED
                if whole_keys and key in PERSONAL_KEYS and value[key] not in (None, "", [], {})
                else scrub(v, strings, whole_keys=whole_keys)
            )
            for key, v in value.items()
        }
    if isinstance(value, list):
        return [scrub(v, strings, whole_keys=whole_keys) for v in value]
    if isinstance(value, str):
        return _scrub_text(value, strings)
    return value


def _old_addresses(order_ids: list[int]) -> set[str]:
    """The addresses customer service replaced (before the change, in the audit trail): personal strings too."""
    rows = db.session.scalars(
        select(AuditEvent.before).where(
            AuditEvent.subject_type == Order.__tablename__,
            AuditEvent.subject_id.in_([str(i) for i in order_ids]),
            AuditEvent.action == "order.cs_address_changed",
        )
    )
    found = set()
    for before in rows:
        for name in ("line1", "line2", "postcode"):
            value = str((before or {}).get(name) or "").strip()
            if len(value) >= 3:
                found.add(value)
    return found


def _erase_orders(orders: list[Order], now: datetime, *, stored_copies: bool = True) -> dict:
    """Anonymise these orders and every copy of their customer's data; the figures stay. Returns counts.

    stored_copies: also look through the stored API answers and label batches written since the first of these
    orders (tables without an index on the order; on request, for one customer). The retention job passes False and
    drops instead every stored answer and label batch older than the retention period (_purge_old_copies): each
    lives at most that long, whatever order it names."""
    if not orders:
        return {"orders": 0, "emails": 0, "text_messages": 0, "audit_events": 0, "events": 0, "api_answers": 0}
    ids = [o.id for o in orders]
    strings = set().union(*(_strings_of(o) for o in orders)) | _old_addresses(ids)
    pickups = db.session.scalars(select(Pickup).join(Fulfilment).where(Fulfilment.order_id.in_(ids))).all()
    strings |= {p.arrival_note.strip() for p in pickups if len((p.arrival_note or "").strip()) >= 3}
    ordered = sorted(strings, key=len, reverse=True)  # the longest first: "Léa Rossi" before "Rossi"
    since = min(o.created_at for o in orders)

    for order in orders:
        order.customer_name = f"erased-{order.id}"
        order.customer_email = order.customer_phone = ""
        order.ship_line1 = order.ship_line2 = order.ship_postcode = order.ship_city = ""
        order.ship_latitude = order.ship_longitude = None
        order.gift_message = ""
        order.personal_data_erased_at = now
    db.session.flush()

    emails = db.session.scalars(select(OutboundEmail).where(OutboundEmail.order_id.in_(ids))).all()
    for email in emails:
        email.to, email.subject, email.body = "", _scrub_text(email.subject, ordered), ERASED
        email.html = email.qr = None
        email.last_error = _scrub_text(email.last_error or "", ordered)
        if email.status == "pending":  # nobody to send it to any more
            email.status, email.last_error = "failed", ERASED
    texts = db.session.scalars(select(OutboundSms).where(OutboundSms.order_id.in_(ids))).all()
    for text in texts:
        text.to, text.body = "", ERASED
        text.last_error = _scrub_text(text.last_error or "", ordered)
        if text.status == "pending":
            text.status, text.last_error = "failed", ERASED

    for pickup in pickups:
        pickup.arrival_note = ""
        if pickup.id_check:  # how the person was identified: the kind of document stays, its digits go
            pickup.id_check = {"kind": pickup.id_check.get("kind"), "by": pickup.id_check.get("by"), "erased": True}

    for decision in db.session.scalars(select(SourcingDecision).where(SourcingDecision.order_id.in_(ids))):
        # Distances from the customer's home to named stores would locate it: they go, the ranking stays.
        decision.candidates = [
            {**c, "distance_km": None} if isinstance(c, dict) else c
            for c in scrub(decision.candidates or [], ordered, whole_keys=False)
        ]
        decision.notes = scrub(decision.notes or [], ordered, whole_keys=False)

    fulfilment_ids = [f.id for o in orders for f in o.fulfilments]
    parcel_ids = (
        db.session.scalars(select(Parcel.id).where(Parcel.fulfilment_id.in_(fulfilment_ids))).all()
        if fulfilment_ids
        else []
    )
    label_ids = (
        db.session.scalars(select(ShippingLabel.id).where(ShippingLabel.parcel_id.in_(parcel_ids))).all()
        if parcel_ids
        else []
    )
    transactions = db.session.scalars(select(PaymentTransaction).where(PaymentTransaction.order_id.in_(ids))).all()
    for transaction in transactions:
        transaction.last_error = _scrub_text(transaction.last_error or "", ordered)
    return_ids = db.session.scalars(select(CustomerReturn.id).where(CustomerReturn.order_id.in_(ids))).all()
    subjects = {
        Order.__tablename__: ids,
        Fulfilment.__tablename__: fulfilment_ids,
        Pickup.__tablename__: [p.id for p in pickups],
        Parcel.__tablename__: parcel_ids,
        ShippingLabel.__tablename__: label_ids,
        CustomerReturn.__tablename__: return_ids,
        PaymentTransaction.__tablename__: [t.id for t in transactions],
        OutboundEmail.__tablename__: [e.id for e in emails],
    }
    audited = 0
    for subject_type, subject_ids in subjects.items():
        if not subject_ids:
            continue
        rows = db.session.scalars(
            select(AuditEvent).where(
                AuditEvent.subject_type == subject_type, AuditEvent.subject_id.in_([str(i) for i in subject_ids])
            )
        )
        for row in rows:
            before, after = scrub(row.before, ordered), scrub(row.after, ordered)
            if (before, after) != (row.before, row.after):
                row.before, row.after = before, after
                audited += 1

    events = db.session.scalars(select(OutboxEvent).where(OutboxEvent.order_id.in_(ids))).all()
    for event in events:
        payload = scrub(event.payload, ordered)
        if payload != event.payload:
            event.payload = payload
    if events:
        for delivery in db.session.scalars(
            select(WebhookDelivery).where(
                WebhookDelivery.event_id.in_([e.id for e in events]), WebhookDelivery.last_error != ""
            )
        ):
            delivery.last_error = _scrub_text(delivery.last_error, ordered)

    idempotency = 0
    if stored_copies:
        # The stored answers of API calls that name the customer, among those written since their first order
        # (none does today: a fulfilment's answer names its order by id; one that would is covered).
        # JSON columns may hold text with non-ASCII characters escaped ("L\\u00e9a"): looked for in both spellings.
        keys = sorted(
            {o.customer_email for o in orders if o.customer_email}
            | {json.dumps(s)[1:-1] for s in ordered}
            | set(ordered)
        )
        if keys:
            text = cast(IdempotencyRecord.response, String)
            candidates = db.session.scalars(
                select(IdempotencyRecord).where(
                    IdempotencyRecord.created_at >= since, or_(*(text.contains(k, autoescape=True) for k in keys))
                )
            ).all()
            for record in candidates:
                response = scrub(record.response, ordered, whole_keys=False)
                if response != record.response:
                    record.response = response
                    idempotency += 1

        # Label batches rendered into PDFs hold the addresses: rendered again (erased) if printed again.
        if label_ids:
            wanted = set(label_ids)
            for job in db.session.scalars(select(PrintJob).where(PrintJob.created_at >= since)):
                if wanted & set(job.label_ids or []):
                    for chunk in db.session.scalars(select(PrintJobChunk).where(PrintJobChunk.job_id == job.id)):
                        db.session.delete(chunk)
                    job.done, job.status = 0, "running"
    db.session.flush()
    return {
        "orders": len(orders),
        "emails": len(emails),
        "text_messages": len(texts),
        "audit_events": audited,
        "events": len(events),
        "api_answers": idempotency,
    }


def _audit(actor: Actor, action: str, order: Order, after: dict) -> None:
    db.session.add(
        AuditEvent(
            actor_user_id=actor.user_id,
            actor=actor.label,
            action=action,
            subject_type=Order.__tablename__,
            subject_id=str(order.id),
            before=None,
            after=after,
            ip=actor.ip,
            device=actor.device,
        )
    )


def erase(email: str, *, actor: Actor, reason: str = "", now: datetime | None = None) -> dict:
    """Erase the personal data of the customer of this e-mail (on their request) from every order they placed,
    closed ones only: an open order still needs its address (OpenOrders, nothing changed: cancel or finish it
    first). Audited per order with the e-mail's SHA-256 and the reason (without the customer's strings). A second
    call finds nothing more to erase. Returns what was erased: {"email_sha256", "orders", ...}."""
    address = normalise_email(email)
    hashed = email_hash(address)
    reason = " ".join((reason or "").split())[:REASON_LENGTH]
    if not reason:
        raise InvalidInput(N_("A reason is required."), field="reason")
    now = now or utcnow()
    orders = orders_of(address, lock=True)
    still_open = [o.reference for o in orders if o.status not in CLOSED]
    if still_open:
        raise OpenOrders(orders=", ".join(still_open))
    strings = sorted(set().union(set(), *(_strings_of(o) for o in orders)), key=len, reverse=True)
    reason = _scrub_text(reason, strings)
    summary = _erase_orders(orders, now)
    for order in orders:
        _audit(actor, "order.personal_data_erased", order, {"email_sha256": hashed, "reason": reason, "on": "request"})
    db.session.flush()
    return {"email_sha256": hashed, **summary, "order_ids": [o.id for o in orders]}


def retention_cutoff(now: datetime | None = None) -> tuple[datetime, int]:
    from app.core import payments
    from app.core.payments.retailer_settings import retention_days

    days = retention_days(payments.settings())
    return (now or utcnow()) - timedelta(days=days), days


def _purge_old_copies(cutoff: datetime) -> None:
    """Drop the stored API answers and the rendered label batches older than the retention period."""
    db.session.execute(IdempotencyRecord.__table__.delete().where(IdempotencyRecord.created_at < cutoff))
    old_jobs = select(PrintJob.id).where(PrintJob.created_at < cutoff).scalar_subquery()
    db.session.execute(PrintJobChunk.__table__.delete().where(PrintJobChunk.job_id.in_(old_jobs)))


def erase_expired(now: datetime | None = None, batch: int = BATCH, max_batches: int = MAX_BATCHES) -> int:
    """Erase the personal data of orders closed (completed or cancelled) and unchanged for longer than the
    retailer's retention period, `batch` orders a transaction (commits), at most max_batches a call; and drop the
    stored API answers and rendered label batches older than that period. Returns how many orders were erased. Safe in several workers."""
    now = now or utcnow()
    erased = 0
    with unit_of_work(writes=True):
        cutoff, days = retention_cutoff(now)
        _purge_old_copies(cutoff)
    system = Actor.system("retention")
    for _ in range(max_batches):
        with unit_of_work(writes=True):
            orders = db.session.scalars(
                select(Order)
                .where(
                    # The partial index's own words, statuses as literals (as open_statuses_clause, for the same
                    # reason: PostgreSQL's generic plan cannot match bound parameters to the index's WHERE).
                    Order.status.in_(
                        bindparam("closed", [s.value for s in CLOSED], expanding=True, literal_execute=True)
                    ),
                    Order.personal_data_erased_at.is_(None),
                    Order.updated_at < cutoff,
                )
                .order_by(Order.updated_at)  # the index's order: the first `batch` rows, no sort of the backlog
                .limit(batch)
                .with_for_update(skip_locked=True)
            ).all()
            _erase_orders(orders, now, stored_copies=False)
            for order in orders:
                _audit(system, "order.personal_data_erased", order, {"on": "retention", "days": days})
        erased += len(orders)
        if len(orders) < batch:
            break
    return erased


def erase_expired_due(now: datetime | None = None) -> int:
    """erase_expired, when this process has not run it in the last RETENTION_INTERVAL_SECONDS (for the worker's
    pass every few seconds); 0 otherwise. Only how often it runs depends on the process: what is erased does not."""
    with _last_run_lock:
        last = _last_run["at"]
        if last is not None and time.monotonic() - last < RETENTION_INTERVAL_SECONDS:
            return 0
        _last_run["at"] = time.monotonic()
    return erase_expired(now)
