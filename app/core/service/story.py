"""What customer service reads of an order: its whole story in one timeline, and the queue of orders needing
attention.

The timeline merges the audit trail of the order, its fulfilments and their parcels (payments and returns are
audited on the order) with the moments its messages went out. The exception queue lists orders flagged
needs_customer_service (nothing could source them, a payment failed, a pickup expired under the retailer's
"customer service" rule, a customer complained: actions.flag_complaint) and orders with open fulfilments past ready_by by more than LATE_HOURS, oldest first.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app, has_app_context
from sqlalchemy import String, and_, cast, distinct, func, or_, select

from app.core.integration import customer_messages
from app.core.models import AuditEvent, Fulfilment, Order, OrderStatus, OutboundEmail, Parcel, SourcingDecision
from app.core.models.base import utcnow
from app.core.models.orders import open_statuses_clause
from app.extensions import db

LATE_HOURS = 4  # an open fulfilment this long past its ready_by is in the exception queue (config CS_LATE_HOURS)
QUEUE_LIMIT = 200


def late_hours() -> int:
    configured = current_app.config.get("CS_LATE_HOURS") if has_app_context() else None
    return int(configured) if configured is not None else LATE_HOURS


@dataclass
class Entry:
    at: datetime
    who: str
    action: str  # the audit action, or message.sent / message.failed
    subject: str  # "order", "fulfilment 12", "parcel 3"
    before: dict | None
    after: dict | None
    order: int  # ties at the same instant keep the trail's order


def _aware(moment: datetime) -> datetime:
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def timeline(order: Order) -> list[Entry]:
    """Everything that happened to the order, oldest first, with who did it."""
    fulfilment_ids = [str(f.id) for f in order.fulfilments]
    parcel_ids = [
        str(pid)
        for pid in db.session.scalars(
            select(Parcel.id).where(Parcel.fulfilment_id.in_([f.id for f in order.fulfilments]))
        )
    ]
    subjects = [and_(AuditEvent.subject_type == "customer_order", AuditEvent.subject_id == str(order.id))]
    if fulfilment_ids:
        subjects.append(and_(AuditEvent.subject_type == "fulfilment", AuditEvent.subject_id.in_(fulfilment_ids)))
    if parcel_ids:
        subjects.append(and_(AuditEvent.subject_type == "parcel", AuditEvent.subject_id.in_(parcel_ids)))
    entries = [
        Entry(
            _aware(e.created_at),
            e.actor,
            e.action,
            "order" if e.subject_type == "customer_order" else f"{e.subject_type} {e.subject_id}",
            e.before,
            e.after,
            e.id,
        )
        for e in db.session.scalars(select(AuditEvent).where(or_(*subjects)).order_by(AuditEvent.id))
    ]
    for message in customer_messages.messages_of([order.id]).get(order.id, []):
        if message["status"] in ("sent", "failed"):
            at = message["sent_at"] or message["created_at"]
            entries.append(
                Entry(
                    _aware(at),
                    "system:messages",
                    f"message.{message['status']}",
                    "order",
                    None,
                    {"kind": message["kind"], "channel": message["channel"]},
                    1 << 62,
                )
            )
    entries.sort(key=lambda e: (e.at, e.order))
    return entries


def emails(order: Order) -> list[OutboundEmail]:
    """The e-mails written for the order, oldest first (the page resends one of them)."""
    return list(
        db.session.scalars(select(OutboundEmail).where(OutboundEmail.order_id == order.id).order_by(OutboundEmail.id))
    )


def decisions(order: Order) -> list[SourcingDecision]:
    return list(
        db.session.scalars(
            select(SourcingDecision).where(SourcingDecision.order_id == order.id).order_by(SourcingDecision.id)
        )
    )


# --- the exception queue ---------------------------------------------------------------------------------------


@dataclass
class Exception_:
    order: Order
    since: datetime
    reason: str  # unfulfilled, payment_failed, pickup_expired, complaint, attention, late
    hours_late: int = 0


def _resolved(order: Order) -> tuple[int, datetime | None]:
    """The audit id and moment customer service last resolved the order (0, None: never)."""
    row = db.session.execute(
        select(AuditEvent.id, AuditEvent.created_at)
        .where(
            AuditEvent.subject_type == "customer_order",
            AuditEvent.subject_id == str(order.id),
            AuditEvent.action == "order.cs_resolved",
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    return (row[0], _aware(row[1])) if row is not None else (0, None)


def flag_reason(order: Order) -> tuple[str, datetime]:
    """Why a flagged order needs customer service, and since when: the latest flagging event since customer
    service last resolved it (what was resolved is no reason any more)."""
    resolved_id, resolved_at = _resolved(order)
    events = db.session.execute(
        select(AuditEvent.action, AuditEvent.after, AuditEvent.created_at)
        .where(AuditEvent.subject_type == "customer_order", AuditEvent.subject_id == str(order.id))
        .where(AuditEvent.id > resolved_id)
        .where(
            or_(
                AuditEvent.action == "payment.capture_failed",
                AuditEvent.action == "payment.refund_failed",
                AuditEvent.action == "payment.void_failed",
                AuditEvent.action == "order.needs_customer_service",
                AuditEvent.action == "order.complaint",
            )
        )
        .order_by(AuditEvent.id.desc())
        .limit(1)
    ).first()
    if events is not None:
        action, after, at = events
        if action.startswith("payment."):
            return "payment_failed", _aware(at)
        if action == "order.complaint":
            return "complaint", _aware(at)
        if (after or {}).get("reason") == "pickup expired":
            return "pickup_expired", _aware(at)
    decision = db.session.scalar(
        select(SourcingDecision)
        .where(SourcingDecision.order_id == order.id)
        .order_by(SourcingDecision.id.desc())
        .limit(1)
    )
    if (
        decision is not None
        and decision.unfulfilled
        and (resolved_at is None or _aware(decision.created_at) > resolved_at)
    ):
        return "unfulfilled", _aware(decision.created_at)
    return "attention", _aware(order.updated_at or order.created_at)


def exceptions(now: datetime | None = None, limit: int = QUEUE_LIMIT) -> list[Exception_]:
    """Orders needing customer service, oldest first: flagged ones, and open ones late beyond the threshold."""
    now = now or utcnow()
    found: dict[int, Exception_] = {}
    flagged = db.session.scalars(
        select(Order).where(Order.needs_customer_service).order_by(Order.id).limit(limit)
    ).all()
    for order in flagged:
        reason, since = flag_reason(order)
        # A cancelled order's old flag (nothing could source it, then it was cancelled) needs nobody; a complaint
        # about it (still charged, a refund missing) does.
        if order.status == OrderStatus.CANCELLED and reason != "complaint":
            continue
        found[order.id] = Exception_(order, since, reason)
    late_before = now - timedelta(hours=late_hours())
    late = db.session.execute(
        select(Fulfilment.order_id, func.min(Fulfilment.ready_by))
        .where(open_statuses_clause(), Fulfilment.ready_by < late_before)
        .group_by(Fulfilment.order_id)
        .order_by(func.min(Fulfilment.ready_by))
        .limit(limit)
    ).all()
    late_orders = {o.id: o for o in db.session.scalars(select(Order).where(Order.id.in_([r[0] for r in late])))}
    for order_id, ready_by in late:
        if order_id in found or order_id not in late_orders:
            continue
        ready_by = _aware(ready_by)
        hours = int((now - ready_by).total_seconds() // 3600)
        found[order_id] = Exception_(late_orders[order_id], ready_by, "late", hours)
    return sorted(found.values(), key=lambda x: (x.since, x.order.id))[:limit]


def exception_count(now: datetime | None = None) -> int:
    """How many orders the exception queue lists, in two counts (not the queue's per-order reads): flagged ones (a
    cancelled one only for a complaint), and open work late beyond the threshold on orders not flagged
    (exceptions' rule)."""
    now = now or utcnow()
    complaint = (
        select(AuditEvent.id)
        .where(
            AuditEvent.subject_type == "customer_order",
            AuditEvent.subject_id == cast(Order.id, String),
            AuditEvent.action == "order.complaint",
        )
        .exists()
    )
    flagged = db.session.scalar(
        select(func.count())
        .select_from(Order)
        .where(Order.needs_customer_service, or_(Order.status != OrderStatus.CANCELLED, complaint))
    )
    late_before = now - timedelta(hours=late_hours())
    late = db.session.scalar(
        select(func.count(distinct(Fulfilment.order_id)))
        .join(Order, Order.id == Fulfilment.order_id)
        .where(open_statuses_clause(), Fulfilment.ready_by < late_before)
        .where(or_(~Order.needs_customer_service, Order.status == OrderStatus.CANCELLED))
    )
    return min(QUEUE_LIMIT, (flagged or 0) + (late or 0))
