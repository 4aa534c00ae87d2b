"""Orders and the fulfilment state machine. Every allowed transition is in TRANSITIONS."""

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, select
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.exc import StaleDataError

from app import metrics
from app.core import audit, batch, payments
from app.core.actor import Actor
from app.core.errors import N_, ConcurrentChange, IllegalTransition, InvalidInput, OrderConflict, OrderHeld
from app.core.integration import customer_messages, events
from app.core.inventory import stock
from app.core.inventory.catalogue import find_products
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    FulfilmentLine,
    Location,
    Order,
    OrderLine,
    OrderStatus,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.ordering import hours
from app.core.service import text
from app.extensions import db

OPEN = {S.CREATED, S.ACCEPTED, S.PICKING, S.PICKED, S.PACKED, S.READY_FOR_PICKUP}
TERMINAL = set(S) - OPEN
TRANSITIONS: dict[S, set[S]] = {
    S.CREATED: {S.ACCEPTED},
    S.ACCEPTED: {S.PICKING},
    S.PICKING: {S.PICKED},
    S.PICKED: {S.PACKED, S.READY_FOR_PICKUP},
    S.PACKED: {S.SHIPPED, S.READY_FOR_PICKUP},
    S.READY_FOR_PICKUP: {S.COLLECTED, S.EXPIRED},
}
for _state in OPEN:
    TRANSITIONS[_state] |= {S.REJECTED, S.CANCELLED}
# Targets that only make sense for one delivery method (click & collect may pack into a bag).
ONLY_FOR = {
    S.SHIPPED: DeliveryMethod.SHIP,
    S.READY_FOR_PICKUP: DeliveryMethod.COLLECT,
    S.COLLECTED: DeliveryMethod.COLLECT,
    S.EXPIRED: DeliveryMethod.COLLECT,
}


def is_allowed(method: str, current: str, target: str) -> bool:
    """Whether the state machine lets a fulfilment of this delivery method move current -> target."""
    return target in TRANSITIONS.get(current, set()) and ONLY_FOR.get(target, method) == method


@dataclass
class LineDraft:
    code: str
    quantity: int
    unit_price: Decimal | None = None


@dataclass
class OrderDraft:
    channel: str
    external_ref: str
    customer_name: str
    delivery_method: str
    lines: list[LineDraft]
    customer_email: str = ""
    customer_phone: str = ""
    customer_language: str = "en"
    ship_to: dict = field(default_factory=dict)
    pickup_location_code: str | None = None
    promised_by: datetime | None = None
    payment_reference: str = ""
    payment_amount: Decimal | None = None
    currency: str = "EUR"
    payment_provider: str = ""
    shipping_fee: Decimal | None = None
    needs_review: bool = False
    gift_wrap: bool = False
    gift_message: str = ""

    def fingerprint(self) -> str:
        # What dataclasses.asdict gives (the same JSON, so the orders taken before still match their resends), without
        # its deep copy of every value: a third of a millisecond of each order's capture.
        content = {f.name: getattr(self, f.name) for f in fields(self)}
        content["lines"] = [{f.name: getattr(line, f.name) for f in fields(line)} for line in self.lines]
        for name in ("gift_wrap", "gift_message", "shipping_fee"):  # added later: left out when unused, so older
            if not content[name]:  # orders still match
                del content[name]
        del content["payment_provider"]  # recorded with the payment; not part of what the order is
        return hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()


def _validate(draft: OrderDraft) -> tuple[list, Location | None]:
    errors, products, pickup = {}, [], None
    if not draft.channel.strip():
        errors["channel"] = N_("Required.")
    if not draft.external_ref.strip():
        errors["external_ref"] = N_("Required.")
    if not draft.customer_name.strip():
        errors["customer.name"] = N_("Required.")
    if not draft.lines:
        errors["lines"] = N_("An order needs at least one line.")
    known = find_products(line.code for line in draft.lines if isinstance(line.code, str))
    for i, line in enumerate(draft.lines):
        product = known.get(line.code.strip()) if isinstance(line.code, str) else None
        if product is None:
            errors[f"lines.{i}.sku"] = N_("Unknown product code.")
        elif not product.active:
            errors[f"lines.{i}.sku"] = (N_("%(sku)s is no longer sold: it cannot be ordered."), {"sku": product.sku})
        if not isinstance(line.quantity, int) or isinstance(line.quantity, bool) or line.quantity <= 0:
            errors[f"lines.{i}.quantity"] = N_("Must be a whole number above zero.")
        products.append(product)
    if draft.delivery_method == DeliveryMethod.SHIP:
        for key in ("line1", "postcode", "city", "country"):
            if not str(draft.ship_to.get(key) or "").strip():
                errors[f"delivery.address.{key}"] = N_("Required.")
    elif draft.delivery_method == DeliveryMethod.COLLECT:
        pickup = db.session.scalar(select(Location).where(Location.code == draft.pickup_location_code))
        if pickup is None or not pickup.active or not pickup.click_and_collect:
            errors["delivery.pickup_location"] = N_("Unknown store, or it does not offer click & collect.")
    else:
        errors["delivery.method"] = N_("Must be ship or collect.")
    if errors:
        raise InvalidInput(N_("The order has invalid fields."), fields=errors)
    return products, pickup


def create_order(draft: OrderDraft, *, actor: Actor) -> tuple[Order, bool]:
    """Record a new order; the same channel and reference again returns the first (created=False)."""
    fingerprint = draft.fingerprint()
    # An order is almost always new: its reference is not looked up first, the INSERT below skips one already taken
    # (ON CONFLICT DO NOTHING) and that one is read then. A resend that no longer validates (a product withdrawn
    # since) is still answered with the order taken before, as a resend is.
    try:
        products, pickup = _validate(draft)
    except InvalidInput:
        existing = find_order(draft.channel, draft.external_ref)
        if existing is None:
            raise
        return _same_or_conflict(existing, fingerprint), False
    ship = draft.ship_to
    values = dict(
        channel=draft.channel,
        external_ref=draft.external_ref,
        fingerprint=fingerprint,
        customer_name=draft.customer_name,
        customer_email=draft.customer_email,
        customer_phone=draft.customer_phone,
        customer_language=draft.customer_language,
        delivery_method=draft.delivery_method,
        pickup_location_id=pickup.id if pickup else None,
        ship_line1=ship.get("line1", ""),
        ship_line2=ship.get("line2", ""),
        ship_postcode=ship.get("postcode", ""),
        ship_city=ship.get("city", ""),
        ship_country=ship.get("country", ""),
        ship_latitude=ship.get("latitude"),
        ship_longitude=ship.get("longitude"),
        promised_by=draft.promised_by,
        payment_reference=draft.payment_reference,
        payment_amount=draft.payment_amount,
        currency=draft.currency,
        payment_provider=draft.payment_provider,
        shipping_fee=draft.shipping_fee,
        needs_review=draft.needs_review,
        gift_wrap=draft.gift_wrap,
        gift_message=draft.gift_message,
        # A Core INSERT: the model's before_insert event does not run, so the folded text goes in with the rest.
        search_text=text.search_text(draft.customer_name, draft.customer_email, draft.customer_phone),
    )
    # The order and its lines in one statement (on PostgreSQL; two on SQLite), instead of a look-up and a savepoint
    # around a flush: the same channel and reference, sent before or written by a request that raced ours, is skipped
    # by the database (ON CONFLICT DO NOTHING waits for that request to commit or roll back), its lines with it, and
    # the order it wrote is then read. The lines then exist before sourcing writes fulfilment lines on them.
    rows = [
        {"line_no": i + 1, "product_id": p.id, "quantity": line.quantity, "unit_price": line.unit_price}
        for i, (line, p) in enumerate(zip(draft.lines, products, strict=True))
    ]
    order, lines = batch.inserted_with_lines(
        Order, values, OrderLine, rows, parent_key="order_id", skip_conflicts_on=("channel", "external_ref")
    )
    if order is None:  # sent before, or by a request that raced ours
        winner = find_order(draft.channel, draft.external_ref)
        if winner is None:
            raise ConcurrentChange()
        return _same_or_conflict(winner, fingerprint), False
    for line, p in zip(lines, products, strict=True):
        set_committed_value(line, "order", order)
        set_committed_value(line, "product", p)
    set_committed_value(order, "lines", lines)
    set_committed_value(order, "fulfilments", [])  # a new order has none: no query to find out
    audit.record(actor, "order.create", order, None, {"reference": order.reference})
    events.emit("order.created", order)
    payments.record_authorisation(order, actor=actor, new=True)
    metrics.count(metrics.ORDERS, method=order.delivery_method)
    return order, True


def _same_or_conflict(order: Order, fingerprint: str) -> Order:
    if order.fingerprint != fingerprint:
        raise OrderConflict(ref=order.external_ref, channel=order.channel)
    return order


def find_order(channel: str, external_ref: str) -> Order | None:
    """The order a channel knows by this reference, if any."""
    order_id = db.session.scalar(_FIND_ORDER_ID, {"channel": channel, "external_ref": external_ref})
    return db.session.get(Order, order_id) if order_id is not None else None


# Built once: every order captured looks its reference up first, and is almost always new, so the look-up asks
# for the id alone (a plain Core statement, no ORM loading), and the order is loaded only when there is one.
_FIND_ORDER_ID = select(Order.__table__.c.id).where(
    Order.__table__.c.channel == bindparam("channel"), Order.__table__.c.external_ref == bindparam("external_ref")
)


def assigned_quantity(order_line: OrderLine) -> int:
    """Units of an order line already given to a location and not given back."""
    return sum(
        line.quantity - line.short
        for f in order_line.order.fulfilments
        if f.status not in {S.REJECTED, S.CANCELLED, S.EXPIRED}
        for line in f.lines
        if line.order_line_id == order_line.id
    )


def deadlines(location: Location, now: datetime) -> tuple[datetime, datetime]:
    """accept_by and ready_by: the store's allowed minutes counted in its opening hours, in its timezone."""
    opening = hours.store_hours(location)
    return (
        hours.add_open_minutes(opening, location.timezone, now, location.accept_within_minutes),
        hours.add_open_minutes(opening, location.timezone, now, location.ready_within_minutes),
    )


def assign_fulfilment(
    order: Order,
    location: Location,
    quantities: dict,
    *,
    actor: Actor,
    now=None,
    transfer_to: Location | None = None,
    reship_of: Fulfilment | None = None,
) -> Fulfilment:
    """Give a location part of an order ({order_line: quantity}) and reserve its stock there.

    transfer_to: for click & collect served elsewhere, the pickup store the goods travel to.
    reship_of: a shipped fulfilment whose parcel was lost or damaged: these units go again, at no charge, beyond what
    the order asked for (app.core.service.actions.reship).
    """
    extra = reship_of is not None
    now = now or utcnow()
    if order.id is None or any(line.id is None for line in quantities):  # built but not written yet
        db.session.flush()
    if not quantities or any(not isinstance(q, int) or q <= 0 for q in quantities.values()):
        raise InvalidInput(N_("A fulfilment needs at least one unit."), field="lines")
    if not location.active:
        raise InvalidInput(N_("This location is closed."), field="location")
    for order_line, quantity in quantities.items():
        if order_line.order_id != order.id:
            raise InvalidInput(N_("This line belongs to another order."), field="lines")
        if not extra and quantity > order_line.wanted - assigned_quantity(order_line):
            raise InvalidInput(N_("More units than the order still needs."), field="lines")
    accept_by, ready_by = deadlines(location, now)
    # The fulfilment and its lines in one statement (PostgreSQL; one INSERT each on SQLite), without a flush: what
    # this transaction has pending (the order's audit and event rows) goes out later with the fulfilment's.
    fulfilment, lines = batch.inserted_with_lines(
        Fulfilment,
        {
            "order_id": order.id,
            "location_id": location.id,
            "transfer_to_id": transfer_to.id if transfer_to is not None else None,
            "reship_of_id": reship_of.id if reship_of is not None else None,
            "status": S.CREATED,
            "created_at": now,
            "accept_by": accept_by,
            "ready_by": ready_by,
        },
        FulfilmentLine,
        [{"order_line_id": ol.id, "product_id": ol.product_id, "quantity": q} for ol, q in quantities.items()],
        parent_key="fulfilment_id",
        flush=False,
    )
    for line, order_line in zip(lines, quantities, strict=True):
        set_committed_value(line, "fulfilment", fulfilment)
        set_committed_value(line, "order_line", order_line)
        set_committed_value(line, "product", order_line.product)
    set_committed_value(fulfilment, "order", order)
    set_committed_value(fulfilment, "location", location)
    set_committed_value(fulfilment, "transfer_to", transfer_to)
    set_committed_value(fulfilment, "reship_of", reship_of)
    set_committed_value(fulfilment, "lines", lines)
    set_committed_value(fulfilment, "parcels", [])  # a new fulfilment has none: no query to find out
    if "fulfilments" in order.__dict__:  # loaded: the new one joins it (the highest id comes last)
        set_committed_value(order, "fulfilments", [*order.fulfilments, fulfilment])
    stock.lock_levels([(location.id, line.product_id) for line in fulfilment.lines])
    for line in fulfilment.lines:
        stock.reserve(
            location,
            line.product,
            line.quantity,
            actor=actor,
            fulfilment_line=line,
            reference=fulfilment_reference(fulfilment),
            new_line=True,
        )
    after = {"location": location.code, "status": S.CREATED}
    if transfer_to is not None:
        after["transfer_to"] = transfer_to.code
    if reship_of is not None:
        after["reship_of"] = reship_of.id
    audit.record(actor, "fulfilment.assign", fulfilment, None, after)
    events.emit("fulfilment.created", order, fulfilment)
    return fulfilment


def fulfilment_reference(fulfilment: Fulfilment) -> str:
    """The reference of a fulfilment's ledger rows: order reference / F<id>."""
    return f"{fulfilment.order.reference}/F{fulfilment.id}"


def _release_all(fulfilment: Fulfilment, actor: Actor) -> None:
    for line in fulfilment.lines:
        held = stock.reserved_for(line)
        if held:
            stock.release(
                fulfilment.location,
                line.product,
                held,
                actor=actor,
                fulfilment_line=line,
                reference=fulfilment_reference(fulfilment),
                reason=fulfilment.status_reason,
            )


def _consume_picked(fulfilment: Fulfilment, actor: Actor) -> None:
    for line in fulfilment.lines:
        if line.picked:
            stock.consume(
                fulfilment.location,
                line.product,
                line.picked,
                actor=actor,
                fulfilment_line=line,
                reference=fulfilment_reference(fulfilment),
            )
    _release_all(fulfilment, actor)


def _fill_picked(fulfilment: Fulfilment, actor: Actor) -> None:
    for line in fulfilment.lines:
        line.picked = line.quantity - line.short


# A rejection is re-sourced first (sourcing voids what nothing could take: void_after_resourcing).
VOID_AFTER = {S.SHIPPED, S.COLLECTED, S.CANCELLED, S.EXPIRED}

EFFECTS = {
    S.PICKED: _fill_picked,
    S.SHIPPED: _consume_picked,
    S.COLLECTED: _consume_picked,
    S.REJECTED: _release_all,
    S.CANCELLED: _release_all,
    S.EXPIRED: _release_all,
}


def transition(fulfilment: Fulfilment, target: str, *, actor: Actor, reason: str = "", effect=None) -> Fulfilment:
    """Move a fulfilment to a new state if the state machine allows it, with its stock effects.

    effect: the caller's own stock effect instead of the target's (a partial hand-over consumes what was taken).
    A click & collect order that ends while its bags are on the hold shelf (expired, cancelled, rejected) keeps
    its picked units reserved, off sale, until an associate puts them back (app.core.floor.pickups)."""
    current = fulfilment.status
    if not is_allowed(fulfilment.order.delivery_method, current, target):
        raise IllegalTransition(current=current, target=target)
    fulfilment.status, fulfilment.status_reason = target, reason[:200]
    if effect is None and target in {S.EXPIRED, S.CANCELLED, S.REJECTED} and _at_pickup_store(fulfilment, current):
        from app.core.floor.pickups import hold_for_put_back

        effect = hold_for_put_back
    effect = effect or EFFECTS.get(S(target))
    if effect:
        effect(fulfilment, actor)
    audit.record(actor, f"fulfilment.{target}", fulfilment, {"status": current}, {"status": target, "reason": reason})
    settle_order(fulfilment.order)
    events.emit(f"fulfilment.{target}", fulfilment.order, fulfilment, reason=reason)
    if target in VOID_AFTER:  # nothing more will leave a store: what was authorised and not captured is released
        payments.void_remainder(fulfilment.order, actor=actor)
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise ConcurrentChange() from exc
    return fulfilment


def _at_pickup_store(fulfilment: Fulfilment, current: str) -> bool:
    """Whether a click & collect order's units are at its pickup store: on the hold shelf, or a transfer received
    there (its reservation moved with it). Ending such an order leaves its units for an associate to put back."""
    if current == S.READY_FOR_PICKUP:
        return True
    if fulfilment.order.delivery_method != DeliveryMethod.COLLECT or fulfilment.transfer_to_id is None:
        return False
    pickup = fulfilment.pickup
    return pickup is not None and pickup.received_at is not None


def accept_fulfilment(fulfilment: Fulfilment, *, actor: Actor) -> Fulfilment:
    """Accept the work a location was given."""
    return transition(fulfilment, S.ACCEPTED, actor=actor)


def reject_fulfilment(fulfilment: Fulfilment, *, reason: str, actor: Actor) -> Fulfilment:
    """Refuse the work with a reason; its reservations are released."""
    if not reason.strip():
        raise InvalidInput(N_("A reason is required."), field="reason")
    rejected = transition(fulfilment, S.REJECTED, actor=actor, reason=reason)
    metrics.count(metrics.REJECTIONS, scope="fulfilment", reason=metrics.rejection_reason(reason))
    return rejected


def lock_order(order: Order) -> Order:
    """Lock an order for this transaction and reload it with its fulfilments, so a change that raced in is seen.

    Every operation that changes an order's fulfilments takes this lock first, then stock rows: one order of locks.
    """
    db.session.refresh(order, with_for_update=True)
    db.session.scalars(
        select(Fulfilment)
        .where(Fulfilment.order_id == order.id)
        .options(selectinload(Fulfilment.lines))
        .execution_options(populate_existing=True)
    ).all()
    db.session.expire(order, ["fulfilments"])
    return order


def lock_stock_of(fulfilments) -> None:
    """Lock the stock rows that these fulfilments hold, in canonical order, before changing any."""
    stock.lock_levels([(f.location_id, line.product_id) for f in fulfilments for line in f.lines])


def cancel_order(order: Order, *, reason: str, actor: Actor) -> Order:
    """Cancel an order and every open fulfilment; refused once anything has left a store.

    Racing cancels of one order queue on the order's lock: the later ones find it cancelled and answer the same.
    """
    lock_order(order)
    if any(f.status in {S.SHIPPED, S.COLLECTED} for f in order.fulfilments):
        raise IllegalTransition(N_("Part of this order has already left the store; it cannot be cancelled."))
    if order.status == OrderStatus.CANCELLED:
        return order
    lock_stock_of([f for f in order.fulfilments if f.status in OPEN])
    released = payments.totals(order) if payments.has_payment(order) else None
    for fulfilment in order.fulfilments:
        if fulfilment.status in OPEN:
            transition(fulfilment, S.CANCELLED, actor=actor, reason=reason)
    order.status = OrderStatus.CANCELLED
    # An order cancelled before any store took it has no transition to void its authorisation: release it here.
    payments.void_remainder(order, actor=actor)
    audit.record(actor, "order.cancel", order, None, {"reason": reason})
    events.emit("order.cancelled", order, reason=reason)
    db.session.flush()
    if released is not None:  # what the cancel voided: the authorisation the customer sees released
        after = payments.totals(order)
        released = after.voided + after.voiding - released.voided - released.voiding
    customer_messages.order_cancelled(order, void_amount=released or None)
    return order


def settle_order(order: Order) -> None:
    """An order is completed once everything it still needs has left a store."""
    done = {S.SHIPPED, S.COLLECTED}
    statuses = {f.status for f in order.fulfilments}
    needed = all(assigned_quantity(line) >= line.wanted for line in order.lines)
    if statuses & done and not statuses & OPEN and needed and order.status != OrderStatus.COMPLETED:
        order.status = OrderStatus.COMPLETED
        events.emit("order.completed", order)


def ensure_not_held(fulfilment: Fulfilment) -> None:
    """Refuse floor work (picking) on an order held for a manager's review."""
    if fulfilment.order.needs_review:
        raise OrderHeld()


def release_review(order: Order, note: str, actor: Actor) -> Order:
    """A manager lets a held order go on, with a note; releasing an order no longer held changes nothing."""
    note = (note or "").strip()
    if not note:
        raise InvalidInput(N_("A note is required."), field="note")
    if not order.needs_review:
        return order
    order.needs_review = False
    audit.record(actor, "order.review_released", order, {"needs_review": True}, {"needs_review": False, "note": note})
    events.emit("order.review_released", order, note=note)
    db.session.flush()
    return order
