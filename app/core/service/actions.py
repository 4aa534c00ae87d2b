"""Customer service actions on an order: each takes a note, is audited, and is safe to repeat.

Notes, resent e-mails, pickup holds, re-routing, re-shipping, cancelling lines, a new delivery address or pickup
store, goodwill refunds, a complaint flagged and the flag resolved: the console (app.web.cs) and the API
(app.api.orders, app.api.fulfilments) call these, on the same core operations as the floor.

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

from app import formatting
from app.core import audit, payments
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput, NotFound
from app.core.floor import pickups
from app.core.integration import customer_messages, events
from app.core.inventory import stock
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    Location,
    Order,
    OrderStatus,
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
        unplaced = order_line.wanted - orders.assigned_quantity(order_line) + (units if ending else 0)
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
    shipping = fulfilment.order.delivery_method == DeliveryMethod.SHIP
    return _ranked(left, {fulfilment.location.code}, fulfilment.order, shipping, now)


def _ranked(units: dict, excluded: set, order: Order, shipping: bool, now=None) -> list[dict]:
    """The locations that could take these units ({order line: units}), ranked as sourcing ranks them: every unit
    first, then most units, then the score."""
    demand = sourcing._by_product(units)
    with db.session.no_autoflush:
        ranked, _ = sourcing._candidates(
            demand, excluded, now or utcnow(), rules.current_rules(), _origin(order), shipping
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
    from app.core.service import story

    flagged_unplaced = order.needs_customer_service and story.flag_reason(order)[0] == "unfulfilled"
    if fulfilment.status in orders.OPEN:
        orders.lock_stock_of([fulfilment])
        orders.transition(fulfilment, S.REJECTED, actor=actor, reason="re-routed by customer service")
    transfer_to = None
    if order.delivery_method == DeliveryMethod.COLLECT and order.pickup_location_id != location.id:
        transfer_to = order.pickup_location
    new = orders.assign_fulfilment(order, location, left, actor=actor, now=now, transfer_to=transfer_to)
    unfulfilled = {
        str(line.line_no): line.wanted - orders.assigned_quantity(line)
        for line in order.lines
        if line.wanted > orders.assigned_quantity(line)
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
    if flagged_unplaced and not unfulfilled:  # what flagged the order (units nobody took) is placed now
        _clear_flag(order, note, actor, audited=f"every unit placed: {note}")
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
            limit=formatting.money(limit, order.currency),
            left=formatting.money(max(payments.ZERO, limit - given), order.currency),
        )
    refundable = payments.totals(order).refundable
    if refundable <= 0:
        raise ServiceRefused(N_("Nothing paid on this order is left to refund."))
    if amount > refundable:
        raise InvalidInput(
            N_("At most %(refundable)s can still be refunded on this order."),
            field="amount",
            refundable=formatting.money(refundable, order.currency),
        )
    txn = payments.refund(order, amount, key=key, actor=actor)
    audit.record(actor, "order.cs_goodwill", order, None, {"amount": str(txn.amount), "key": key, "note": note})
    db.session.flush()
    return txn


# --- cancelling lines ------------------------------------------------------------------------------------------

# Open work whose lines are made smaller unit by unit (nothing picked yet); later open work is cancelled whole.
REDUCIBLE = {S.CREATED, S.ACCEPTED}
GONE = {S.SHIPPED, S.COLLECTED}


def _gone(order_line) -> int:
    """Units of the line that left a store (shipped, or handed over)."""
    return sum(
        line.quantity - line.short
        for f in order_line.order.fulfilments
        if f.status in GONE and f.reship_of_id is None
        for line in f.lines
        if line.order_line_id == order_line.id
    )


def cancellable(order: Order) -> dict[int, int]:
    """{line_no: units} the customer still wants and that have not left a store: what may be cancelled (units a
    store is already preparing only with every unit it holds for the order)."""
    if order.status != OrderStatus.OPEN:
        return {line.line_no: 0 for line in order.lines}
    return {line.line_no: max(0, line.wanted - _gone(line)) for line in order.lines}


def _cancel_plan(order: Order, wanted: dict) -> tuple[dict, dict]:
    """Where each cancelled unit comes from: units no location holds first (nothing to undo), then units taken off
    open lines not yet picked ({fulfilment line: n}), then work already under way ({fulfilment: n}, whole only)."""
    reduce, whole = {}, {}
    for order_line, n in wanted.items():
        n -= min(n, max(0, order_line.wanted - orders.assigned_quantity(order_line)))
        for stage in (REDUCIBLE, orders.OPEN - REDUCIBLE):
            for f in sorted(order.fulfilments, key=lambda f: -f.id):  # the newest work first
                if f.status not in stage:
                    continue
                for line in f.lines:
                    if n and line.order_line_id == order_line.id and line.quantity - line.short > 0:
                        take = min(n, line.quantity - line.short)
                        if stage is REDUCIBLE:
                            reduce[line] = reduce.get(line, 0) + take
                        else:
                            whole[f] = whole.get(f, 0) + take
                        n -= take
        if n:
            raise ServiceRefused(
                N_("Line %(line)s: these units have already left a store. Take them back as a return."),
                line=order_line.line_no,
            )
    for f, n in whole.items():
        if n != sum(line.quantity - line.short for line in f.lines):
            raise ServiceRefused(
                N_(
                    "%(location)s is already preparing these items: cancel every unit it holds for this order, or "
                    "let them go and take a return."
                ),
                location=f.location.code,
            )
    return reduce, whole


def _take_off(line, n: int, actor: Actor) -> None:
    """Give n reserved units of an open line back to the store's stock and make the line smaller; a line left with
    nothing is removed (nothing was picked or scanned on it)."""
    fulfilment = line.fulfilment
    stock.release(
        fulfilment.location,
        line.product,
        n,
        actor=actor,
        fulfilment_line=line,
        reference=orders.fulfilment_reference(fulfilment),
        reason="cancelled by customer service",
    )
    line.quantity -= n
    if line.quantity == 0:
        fulfilment.lines.remove(line)
        db.session.delete(line)


def cancel_lines(order: Order, units: dict, note: str, *, actor: Actor, expected: dict | None = None) -> dict[int, int]:
    """Cancel units of the order's lines ({line_no: units}) before they leave a store: units no store holds are
    simply dropped; a store's open lines not yet picked are made smaller (their stock released); work a store is
    already preparing goes only whole (cancelled; units on the hold shelf go to its put-back list). What the
    units were authorised for is released (a void) and the customer told. Every unit of the order cancelled
    cancels the order.

    expected: {line_no: cancelled units} as the caller saw them: when the lines already show this very cancel
    (a double submit), nothing more is done and the same answer given; when they changed otherwise, refused.
    Returns {line_no: units cancelled}."""
    note = _note(note)
    order = orders.lock_order(order)
    by_no = {line.line_no: line for line in order.lines}
    asked = {}
    for key, n in (units or {}).items():
        try:
            line_no = int(key)
        except (TypeError, ValueError):
            raise InvalidInput(N_("Unknown line."), field="lines") from None
        if line_no not in by_no:
            raise InvalidInput(N_("Unknown line."), field="lines")
        if not isinstance(n, int) or isinstance(n, bool) or n < 0:
            raise InvalidInput(N_("Must be a whole number, zero or more."), field=f"lines.{line_no}")
        if n:
            asked[line_no] = n
    if not asked:
        raise InvalidInput(N_("Choose at least one unit to cancel."), field="lines")
    if expected is not None:
        now_cancelled = {no: line.cancelled or 0 for no, line in by_no.items()}
        seen = {no: int(expected.get(no, expected.get(str(no), 0)) or 0) for no in by_no}
        if now_cancelled == {no: seen[no] + asked.get(no, 0) for no in by_no}:
            return asked  # this very cancel, submitted twice
        if now_cancelled != seen:
            raise ServiceRefused(N_("The order changed meanwhile. Reload it and try again."))
    if order.status != OrderStatus.OPEN:
        raise ServiceRefused(N_("This order is no longer in progress: nothing of it can be cancelled."))
    limits = cancellable(order)
    for line_no, n in asked.items():
        if n > limits[line_no]:
            raise ServiceRefused(
                N_("Line %(line)s: at most %(units)s can still be cancelled; the rest has left a store."),
                line=line_no,
                units=limits[line_no],
            )
    wanted = {by_no[no]: n for no, n in asked.items()}
    reduce, whole = _cancel_plan(order, wanted)
    before = payments.totals(order) if payments.has_payment(order) else None
    touched = {line.fulfilment for line in reduce} | set(whole)
    orders.lock_stock_of(sorted(touched, key=lambda f: f.id))
    for order_line, n in wanted.items():
        order_line.cancelled = (order_line.cancelled or 0) + n
    value = sum((payments.money(line.unit_price) * n for line, n in wanted.items()), payments.ZERO)
    by_fulfilment: dict = {}
    for line, n in reduce.items():
        by_fulfilment.setdefault(line.fulfilment, {})[line] = n
    reason = "cancelled by customer service"
    for fulfilment, lines in sorted(by_fulfilment.items(), key=lambda item: item[0].id):
        if sum(line.quantity - line.short for line in fulfilment.lines) == sum(lines.values()):
            whole[fulfilment] = sum(lines.values())  # nothing of it is left: the whole fulfilment goes
            continue
        for line, n in lines.items():
            _take_off(line, n, actor)
        audit.record(
            actor,
            "fulfilment.lines_cancelled",
            fulfilment,
            None,
            {"lines": {str(line.order_line.line_no): n for line, n in lines.items()}},
        )
        events.emit(
            "fulfilment.lines_cancelled",
            order,
            fulfilment,
            lines={str(line.order_line.line_no): n for line, n in lines.items()},
        )
    everything = all(line.wanted == 0 for line in order.lines)
    if everything:  # cancelling the order's last units cancels the order (a void of what is left follows)
        order.status = OrderStatus.CANCELLED
    for fulfilment in sorted(whole, key=lambda f: f.id):
        orders.transition(fulfilment, S.CANCELLED, actor=actor, reason=reason)
    done = {no: n for no, n in asked.items()}
    audit.record(
        actor, "order.cs_lines_cancelled", order, None, {"lines": {str(k): v for k, v in done.items()}, "note": note}
    )
    events.emit("order.lines_cancelled", order, lines={str(k): v for k, v in done.items()})
    if everything:
        payments.void_remainder(order, actor=actor)
        events.emit("order.cancelled", order, reason=reason)
    else:
        orders.settle_order(order)
        if not any(f.status in orders.OPEN for f in order.fulfilments) and not any(
            line.wanted > orders.assigned_quantity(line) for line in order.lines
        ):
            payments.void_remainder(order, actor=actor)
        elif value > 0:
            count = sum(1 for t in payments.transactions(order) if t.kind == "void")
            payments.void_part(order, value, key=f"void-O{order.id}-{count + 1}", actor=actor)
    db.session.flush()
    released = None
    if before is not None:
        after = payments.totals(order)
        released = after.voided + after.voiding - before.voided - before.voiding
    if everything:
        customer_messages.order_cancelled(order, void_amount=released or None)
    else:
        customer_messages.order_cancelled(order, lines=wanted, void_amount=released or None, requested=True)
    return done


# --- the delivery address and the pickup store -----------------------------------------------------------------

ADDRESS_FIELDS = {"line1": 200, "line2": 200, "postcode": 16, "city": 100, "country": 2}
PACKED_OR_GONE = {S.PACKED, S.SHIPPED, S.READY_FOR_PICKUP, S.COLLECTED}


def _before_packing(order: Order, message: str) -> None:
    if order.status != OrderStatus.OPEN or any(f.status in PACKED_OR_GONE for f in order.fulfilments):
        raise ServiceRefused(message)


def change_address(order: Order, address: dict, note: str, *, actor: Actor) -> bool:
    """A shipped order's delivery address, changed before any of it is packed (a label names the old one after).
    The same address again changes nothing. True when it changed."""
    note = _note(note)
    if order.delivery_method != DeliveryMethod.SHIP:
        raise ServiceRefused(N_("This order is collected in store: change its pickup store instead."))
    clean, errors = {}, {}
    for name, length in ADDRESS_FIELDS.items():
        value = " ".join(str((address or {}).get(name) or "").split())
        if name == "country":
            value = value.upper()
            if len(value) != 2 or not value.isascii() or not value.isalpha():
                errors[name] = N_("A two-letter country code (FR, IT).")
        elif name != "line2" and not value:
            errors[name] = N_("Required.")
        if len(value) > length:
            errors[name] = (N_("Too long: the limit is %(length)s."), {"length": length})
        clean[name] = value
    if errors:
        raise InvalidInput(N_("The address has invalid fields."), fields=errors)
    orders.lock_order(order)
    _before_packing(order, N_("Part of this order is packed or has left: its address can no longer change."))
    before = {name: getattr(order, f"ship_{name}") or "" for name in ADDRESS_FIELDS}
    if before == clean:
        return False
    for name, value in clean.items():
        setattr(order, f"ship_{name}", value)
    order.ship_latitude = order.ship_longitude = None  # the old address's point: the postcode's area from now on
    audit.record(actor, "order.cs_address_changed", order, before, {**clean, "note": note})
    events.emit("order.address_changed", order, address=clean)
    db.session.flush()
    customer_messages.order_changed(order)
    return True


def change_pickup_store(order: Order, location_code: str, note: str, *, actor: Actor) -> bool:
    """A click & collect order's pickup store, changed before any of it is packed: work already given to stores
    goes on there and travels to the new store (or stays, when it is the new store). The same store again changes
    nothing. True when it changed."""
    note = _note(note)
    location = db.session.scalar(select(Location).where(Location.code == (location_code or "").strip()))
    if location is None or not location.active or not location.click_and_collect:
        raise InvalidInput(N_("Unknown store, or it does not offer click & collect."), field="location")
    orders.lock_order(order)
    if order.delivery_method != DeliveryMethod.COLLECT:
        raise ServiceRefused(N_("This order is delivered: change its address instead."))
    _before_packing(
        order, N_("Part of this order is packed or waiting on a hold shelf: its store can no longer change.")
    )
    before = order.pickup_location
    if before is not None and before.id == location.id:
        return False
    order.pickup_location = location
    for fulfilment in order.fulfilments:
        if fulfilment.status in orders.OPEN:
            fulfilment.transfer_to = None if fulfilment.location_id == location.id else location
    audit.record(
        actor,
        "order.cs_pickup_store_changed",
        order,
        {"pickup_location": before.code if before is not None else None},
        {"pickup_location": location.code, "note": note},
    )
    events.emit("order.pickup_store_changed", order, pickup_location=location.code)
    db.session.flush()
    customer_messages.order_changed(order)
    return True


# --- re-shipping -----------------------------------------------------------------------------------------------


def _reship_units(fulfilment: Fulfilment) -> dict:
    """{order line: units} that left with a shipped fulfilment, less what already went again for it."""
    units = {}
    for line in fulfilment.lines:
        if line.picked:
            units[line.order_line] = units.get(line.order_line, 0) + line.picked
    for other in fulfilment.order.fulfilments:
        if other.reship_of_id == fulfilment.id and other.status not in {S.REJECTED, S.CANCELLED, S.EXPIRED}:
            for line in other.lines:
                units[line.order_line] = units.get(line.order_line, 0) - (line.quantity - line.short)
    return {line: n for line, n in units.items() if n > 0}


def reship_candidates(fulfilment: Fulfilment, now=None) -> list[dict]:
    """The locations that could send a shipped fulfilment's units again, ranked as sourcing ranks them (the
    fulfilment's own location included): the same shape as reroute_candidates."""
    if fulfilment.status != S.SHIPPED:
        return []
    units = _reship_units(fulfilment)
    return _ranked(units, set(), fulfilment.order, True, now) if units else []


def reship(fulfilment: Fulfilment, location_code: str, note: str, *, actor: Actor, now=None) -> Fulfilment:
    """Send a shipped fulfilment's units again from a location chosen from the ranked candidates: its parcel was
    lost or damaged. A new fulfilment at no charge (never captured), linked to the first (reship_of_id), its stock
    reserved there. Refused before the first has shipped, or once every unit of it went again (a repeat)."""
    note = _note(note)
    order = orders.lock_order(fulfilment.order)
    if fulfilment.status != S.SHIPPED or fulfilment.reship_of_id is not None:
        raise ServiceRefused(N_("Only a parcel that has left, and was not itself a re-shipment, can be sent again."))
    location = db.session.scalar(select(Location).where(Location.code == (location_code or "").strip()))
    if location is None or not location.active:
        raise InvalidInput(N_("Unknown location, or it is closed."), field="location")
    units = _reship_units(fulfilment)
    if not units:
        raise ServiceRefused(N_("Every unit of this parcel was already sent again."))
    chosen = {c["location"]: c for c in reship_candidates(fulfilment, now)}.get(location.code)
    if chosen is None or not chosen["covers"]:
        raise ServiceRefused(
            N_("%(location)s does not have the stock for every unit left: choose another location."),
            location=location.code,
        )
    new = orders.assign_fulfilment(order, location, units, actor=actor, now=now, reship_of=fulfilment)
    if order.status == OrderStatus.COMPLETED:
        order.status = OrderStatus.OPEN  # open again until the new parcel leaves
    audit.record(
        actor,
        "order.cs_reshipped",
        order,
        {"fulfilment": fulfilment.id},
        {"fulfilment": new.id, "location": location.code, "note": note},
    )
    db.session.flush()
    return new


# --- the exception queue's flag --------------------------------------------------------------------------------


def flag_complaint(order: Order, note: str, *, actor: Actor) -> bool:
    """A customer complained (through the web shop, a call): the order joins the exception queue with the note.
    Flagged already for a complaint: nothing more. True when flagged."""
    note = _note(note)
    orders.lock_order(order)
    if order.needs_customer_service and _last_flag(order) == "order.complaint":
        return False
    order.needs_customer_service = True
    audit.record(actor, "order.complaint", order, None, {"needs_customer_service": True, "note": note})
    events.emit("order.needs_customer_service", order, reason="complaint", note=note)
    db.session.flush()
    return True


def _last_flag(order: Order) -> str | None:
    return db.session.scalar(
        select(audit.AuditEvent.action)
        .where(
            audit.AuditEvent.subject_type == Order.__tablename__,
            audit.AuditEvent.subject_id == str(order.id),
            audit.AuditEvent.action.in_(["order.complaint", "order.cs_resolved"]),
        )
        .order_by(audit.AuditEvent.id.desc())
        .limit(1)
    )


def _clear_flag(order: Order, note: str, actor: Actor, audited: str | None = None) -> None:
    """The order leaves the exception queue: the flag cleared, audited (with `audited`, else the note) and told."""
    order.needs_customer_service = False
    audit.record(
        actor,
        "order.cs_resolved",
        order,
        {"needs_customer_service": True},
        {"needs_customer_service": False, "note": note if audited is None else audited},
    )
    events.emit("order.resolved", order, note=note)


def resolve(order: Order, note: str, *, actor: Actor) -> bool:
    """Customer service dealt with what flagged the order: it leaves the exception queue (a late order stays while
    it is late). Not flagged: nothing changes. True when the flag was cleared."""
    note = _note(note)
    orders.lock_order(order)
    if not order.needs_customer_service:
        return False
    _clear_flag(order, note, actor)
    db.session.flush()
    return True
