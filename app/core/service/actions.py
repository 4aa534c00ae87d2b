"""Customer service actions on an order: each takes a note, is audited, and is safe to repeat.

A repeat changes nothing (the same hold, the same goodwill refund key) or is refused with a sentence saying why
(nothing left to re-route, a message already waiting to go). Each action locks the order first, as every change
of an order's fulfilments does (orders.lock_order).

The goodwill refund limit is GOODWILL_LIMIT, or the application's CS_GOODWILL_LIMIT when set: a retailer-set
value in RetailerSettings would need a migration, left for later.
"""

from datetime import datetime
from decimal import Decimal, InvalidOperation

from flask import current_app, has_app_context
from sqlalchemy import select

from app.core import audit, payments
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput, NotFound
from app.core.floor import pickups
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    Location,
    Order,
    OutboundEmail,
    PaymentTransaction,
    SourcingDecision,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.ordering import orders, rules, sourcing
from app.extensions import db

GOODWILL_LIMIT = Decimal("50.00")  # per order, all goodwill refunds together
NOTE_LENGTH = 500
REROUTABLE = {S.REJECTED, S.CREATED, S.ACCEPTED}  # rejected, or open and not yet being picked


class ServiceRefused(DomainError):
    """Too late, or nothing to do: the order's state does not allow this action."""

    code = "service_refused"
    http_status = 409
    message = N_("This action is no longer possible on this order.")


def goodwill_limit() -> Decimal:
    configured = current_app.config.get("CS_GOODWILL_LIMIT") if has_app_context() else None
    return payments.money(configured) if configured is not None else GOODWILL_LIMIT


def _note(note: str | None) -> str:
    note = " ".join((note or "").split())
    if not note:
        raise InvalidInput(N_("A note is required."), field="note")
    return note[:NOTE_LENGTH]


# --- a note ----------------------------------------------------------------------------------------------------


def add_note(order: Order, note: str, *, actor: Actor) -> bool:
    """Write a note on the order's timeline; the same note again right after the last one is not written twice.
    True when written."""
    note = _note(note)
    orders.lock_order(order)
    last = db.session.scalar(
        select(audit.AuditEvent.after)
        .where(
            audit.AuditEvent.subject_type == Order.__tablename__,
            audit.AuditEvent.subject_id == str(order.id),
            audit.AuditEvent.action == "order.cs_note",
        )
        .order_by(audit.AuditEvent.id.desc())
        .limit(1)
    )
    if last and last.get("note") == note:
        return False
    audit.record(actor, "order.cs_note", order, None, {"note": note})
    db.session.flush()
    return True


# --- messages --------------------------------------------------------------------------------------------------


def resend_email(order: Order, email_id: int, note: str, *, actor: Actor) -> OutboundEmail:
    """Queue the same e-mail again (subject, text, HTML and QR of the original), to the order's address now.
    Refused while a copy of it is still waiting to be sent."""
    note = _note(note)
    orders.lock_order(order)
    original = db.session.get(OutboundEmail, email_id)
    if original is None or original.order_id != order.id:
        raise NotFound()
    address = (order.customer_email or "").strip() or original.to
    waiting = db.session.scalar(
        select(OutboundEmail.id).where(
            OutboundEmail.order_id == order.id,
            OutboundEmail.kind == original.kind,
            OutboundEmail.subject == original.subject,
            OutboundEmail.status == "pending",
            OutboundEmail.id != original.id,
            OutboundEmail.id > original.id,
        )
    )
    if waiting is not None or original.status == "pending":
        raise ServiceRefused(N_("This message is still waiting to be sent: it is not queued twice."))
    copy = OutboundEmail(
        order_id=order.id,
        to=address,
        subject=original.subject,
        body=original.body,
        kind=original.kind,
        html=original.html,
        qr=original.qr,
    )
    db.session.add(copy)
    db.session.flush()
    audit.record(
        actor,
        "message.resent",
        order,
        None,
        {"kind": original.kind, "email": original.id, "copy": copy.id, "note": note},
    )
    db.session.flush()
    return copy


# --- pickup holds ----------------------------------------------------------------------------------------------


def extend_hold(fulfilment: Fulfilment, expires_at: datetime, note: str, *, actor: Actor, now=None) -> bool:
    """Move the end of a click & collect hold (pickups.extend_hold); the same end again changes nothing.
    True when it changed."""
    note = _note(note)
    orders.lock_order(fulfilment.order)
    if fulfilment.status != S.READY_FOR_PICKUP:
        raise ServiceRefused(N_("This order is no longer waiting on the hold shelf: its hold cannot be changed."))
    before = fulfilment.pickup.expires_at
    pickup = pickups.extend_hold(fulfilment, expires_at, actor=actor, now=now)
    if pickup.expires_at == before:
        return False
    audit.record(actor, "order.cs_hold_extended", fulfilment.order, None, {"fulfilment": fulfilment.id, "note": note})
    db.session.flush()
    return True


# --- re-routing ------------------------------------------------------------------------------------------------


def units_to_reroute(fulfilment: Fulfilment) -> dict:
    """{order line: units} of this fulfilment that no location holds now (after ending it, for an open one)."""
    left = {}
    ending = fulfilment.status in orders.OPEN
    for line in fulfilment.lines:
        order_line = line.order_line
        units = line.quantity - line.short
        unplaced = order_line.quantity - orders.assigned_quantity(order_line) + (units if ending else 0)
        take = min(units, max(0, unplaced)) - left.get(order_line, 0)
        if take > 0:
            left[order_line] = left.get(order_line, 0) + take
    return left


def _origin(order: Order):
    if order.delivery_method == DeliveryMethod.COLLECT and order.pickup_location is not None:
        p = order.pickup_location
        return sourcing.Origin(p.latitude, p.longitude, f"transfers go to {p.code}")
    return sourcing._customer_origin(order)


def reroute_candidates(fulfilment: Fulfilment, now=None) -> list[dict]:
    """The locations that could take what is left of this fulfilment, ranked as sourcing ranks them (every unit
    first, then most units, then the score), the fulfilment's own location left out: [{location, covers, units,
    distance_km, score}]."""
    left = units_to_reroute(fulfilment)
    if not left:
        return []
    demand = sourcing._by_product(left)
    r = rules.current_rules()
    shipping = fulfilment.order.delivery_method == DeliveryMethod.SHIP
    with db.session.no_autoflush:
        ranked, _ = sourcing._candidates(
            demand, {fulfilment.location.code}, now or utcnow(), r, _origin(fulfilment.order), shipping
        )
    wanted = sum(demand.values())
    return [
        {
            "location": c.location.code,
            "location_id": c.location.id,
            "covers": c.covers(demand) == wanted,
            "units": c.covers(demand),
            "wanted": wanted,
            "distance_km": round(c.distance, 1) if c.distance is not None else None,
            "score": round(c.score, 1),
        }
        for c in ranked
    ]


def reroute(fulfilment: Fulfilment, location_code: str, note: str, *, actor: Actor, now=None) -> Fulfilment:
    """Give what is left of a rejected, or open and not yet picked, fulfilment to a location chosen from the ranked
    candidates, its stock reserved there. An open one is first given back (rejected, "re-routed by customer
    service"): cancelling it would release the payment when it was the order's only open fulfilment.
    Refused when the location cannot take every unit, or nothing is left to re-route (a repeat)."""
    note = _note(note)
    order = orders.lock_order(fulfilment.order)
    if fulfilment.status not in REROUTABLE:
        raise ServiceRefused(
            N_("This fulfilment is already being picked or has left the store: it can no longer be re-routed.")
        )
    location = db.session.scalar(select(Location).where(Location.code == (location_code or "").strip()))
    if location is None or not location.active:
        raise InvalidInput(N_("Unknown location, or it is closed."), field="location")
    left = units_to_reroute(fulfilment)
    if not left:
        raise ServiceRefused(N_("Nothing of this fulfilment is left to re-route: it was placed elsewhere already."))
    candidates = {c["location"]: c for c in reroute_candidates(fulfilment, now)}
    chosen = candidates.get(location.code)
    if chosen is None or not chosen["covers"]:
        raise ServiceRefused(
            N_("%(location)s does not have the stock for every unit left: choose another location."),
            location=location.code,
        )
    if fulfilment.status in orders.OPEN:
        orders.lock_stock_of([fulfilment])
        orders.transition(fulfilment, S.REJECTED, actor=actor, reason="re-routed by customer service")
    transfer_to = None
    if order.delivery_method == DeliveryMethod.COLLECT and order.pickup_location_id != location.id:
        transfer_to = order.pickup_location
    new = orders.assign_fulfilment(order, location, left, actor=actor, now=now, transfer_to=transfer_to)
    unfulfilled = {
        str(line.line_no): line.quantity - orders.assigned_quantity(line)
        for line in order.lines
        if line.quantity > orders.assigned_quantity(line)
    }
    db.session.add(
        SourcingDecision(
            order_id=order.id,
            trigger="customer_service",
            actor=actor.label,
            candidates=[
                {"location": c["location"], "eligible": True, "chosen": c["location"] == location.code, "reasons": []}
                for c in candidates.values()
            ],
            plan=[{"location": location.code, "lines": {str(line.line_no): q for line, q in left.items()}}],
            unfulfilled=unfulfilled,
            notes=[f"re-routed from {fulfilment.location.code} by customer service: {note}"],
        )
    )
    audit.record(
        actor,
        "order.cs_rerouted",
        order,
        {"fulfilment": fulfilment.id, "location": fulfilment.location.code},
        {"fulfilment": new.id, "location": location.code, "note": note},
    )
    db.session.flush()
    return new


# --- goodwill refunds ------------------------------------------------------------------------------------------


def goodwill_refunds(order: Order) -> list[PaymentTransaction]:
    prefix = f"goodwill-O{order.id}-"
    return [t for t in payments.transactions(order) if t.kind == "refund" and t.idempotency_key.startswith(prefix)]


def next_goodwill_number(order: Order) -> int:
    return len(goodwill_refunds(order)) + 1


def goodwill_refund(order: Order, amount, note: str, *, actor: Actor, number: int | None = None) -> PaymentTransaction:
    """Refund a gesture of goodwill to the original payment: within the limit for the order (all goodwill refunds
    together) and never above what is refundable. number: the refund's place among the order's goodwill refunds
    (the form carries it): the same number again answers the first refund (key goodwill-O<id>-<n>)."""
    note = _note(note)
    try:
        amount = payments.money(amount)
    except (InvalidOperation, TypeError, ValueError):
        raise InvalidInput(N_("Give an amount."), field="amount") from None
    if not amount.is_finite() or amount <= 0:
        raise InvalidInput(N_("Give an amount above zero."), field="amount")
    orders.lock_order(order)
    if not payments.has_payment(order):
        raise ServiceRefused(N_("This order was not paid through us: there is nothing to refund."))
    number = number or next_goodwill_number(order)
    key = f"goodwill-O{order.id}-{number}"
    done = [t for t in goodwill_refunds(order) if t.idempotency_key == key]
    if done:
        return done[0]
    if number != next_goodwill_number(order):
        raise ServiceRefused(N_("Another goodwill refund was made meanwhile. Reload the order and try again."))
    given = sum((payments.money(t.amount) for t in goodwill_refunds(order) if t.status != "failed"), payments.ZERO)
    limit = goodwill_limit()
    if given + amount > limit:
        raise InvalidInput(
            N_("Goodwill refunds on one order come to at most %(limit)s; %(left)s is left."),
            field="amount",
            limit=str(limit),
            left=str(max(payments.ZERO, limit - given)),
        )
    refundable = payments.totals(order).refundable
    if refundable <= 0:
        raise ServiceRefused(N_("Nothing paid on this order is left to refund."))
    if amount > refundable:
        raise InvalidInput(
            N_("At most %(refundable)s can still be refunded on this order."),
            field="amount",
            refundable=str(refundable),
        )
    txn = payments.refund(order, amount, key=key, actor=actor)
    audit.record(actor, "order.cs_goodwill", order, None, {"amount": str(txn.amount), "key": key, "note": note})
    db.session.flush()
    return txn
