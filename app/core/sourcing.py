"""Sourcing: which locations serve an order, ranked with reasons, every decision stored.

Rules live in the database (app.core.rules, edited by admins), not here. Ship orders: eligible
locations (active, ship-from-store offered and not paused, warehouses if the rules allow, capacity
left in the store's local day, not excluded, product not blocked) are ranked: serves everything
first, then most units, then a score in kilometre-equivalents (distance to the customer, open
workload, share of today's capacity used, priority). One location serves the order when it can;
otherwise the fewest-split plan up to the rules' max_splits. Click & collect orders are served by
the pickup store; what it lacks is either refused or transferred from other locations, by rule.
"""

import math
from dataclasses import dataclass, field
from datetime import UTC, timedelta

from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from app.core import audit, events, geo, hours, rules, stock
from app.core.actor import Actor
from app.core.errors import N_, ConcurrentChange, IllegalTransition, InvalidInput
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    FulfilmentLine,
    Location,
    Order,
    SourcingDecision,
    SourcingRules,
    StockLevel,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.orders import (
    OPEN,
    assign_fulfilment,
    assigned_quantity,
    fulfilment_reference,
    reject_fulfilment,
    transition,
)
from app.extensions import db


def distance_km(lat1, lon1, lat2, lon2) -> float | None:
    """Great-circle distance, or None when a point has no coordinates."""
    if None in (lat1, lon1, lat2, lon2):
        return None
    p1, p2 = math.radians(float(lat1)), math.radians(float(lat2))
    dp, dl = p2 - p1, math.radians(float(lon2) - float(lon1))
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 6371.0 * 2 * math.asin(math.sqrt(a))


@dataclass
class Candidate:
    location: Location
    available: dict  # order_line -> units it can give now
    distance: float | None
    open_work: int
    capacity_left: int
    rules: SourcingRules
    blocked: list = field(default_factory=list)

    def covers(self, needed: dict) -> int:
        return sum(min(self.available.get(line, 0), qty) for line, qty in needed.items())

    @property
    def score(self) -> float:
        """Kilometre-equivalents, lower is better."""
        r, loc = self.rules, self.location
        used = 1 - self.capacity_left / loc.daily_capacity if loc.daily_capacity else 1
        distance = self.distance if self.distance is not None else r.unknown_distance_km
        return (
            distance
            + r.workload_km_per_order * self.open_work
            + r.capacity_km * used
            - r.priority_km * loc.sourcing_priority
        )

    def rank(self, needed: dict) -> tuple:
        full = self.covers(needed) == sum(needed.values())
        return (not full, -self.covers(needed), round(self.score, 3), self.location.code)


@dataclass
class Origin:
    """Where the goods must go, for distances: the customer, or the pickup store of a transfer."""

    latitude: float | None
    longitude: float | None
    note: str


def _needed(order: Order) -> dict:
    return {
        line: line.quantity - assigned_quantity(line) for line in order.lines if line.quantity > assigned_quantity(line)
    }


def _customer_origin(order: Order) -> Origin:
    if order.ship_latitude is not None and order.ship_longitude is not None:
        return Origin(order.ship_latitude, order.ship_longitude, "customer coordinates from the address")
    found = geo.locate(order.ship_country or "", order.ship_postcode or "")
    if found:
        lat, lon, area = found
        return Origin(lat, lon, f"customer coordinates from postcode area {area}")
    return Origin(None, None, "no coordinates for the address or its postcode: distance neutral")


def _workload(locations, now) -> tuple[dict, dict]:
    """Open fulfilments per location, and fulfilments created since local midnight at each."""
    ids = [loc.id for loc in locations]
    rows = db.session.execute(
        select(Fulfilment.location_id, Fulfilment.status, Fulfilment.created_at).where(
            Fulfilment.location_id.in_(ids),
            (Fulfilment.status.in_(OPEN)) | (Fulfilment.created_at >= now - timedelta(hours=48)),
        )
    ).all()
    starts = {loc.id: hours.local_day_start(loc.timezone, now) for loc in locations}
    open_work, today = {}, {}
    for location_id, status, created_at in rows:
        if status in OPEN:
            open_work[location_id] = open_work.get(location_id, 0) + 1
        created = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
        if created >= starts[location_id]:
            today[location_id] = today.get(location_id, 0) + 1
    return open_work, today


def _shipping_locations(r: SourcingRules) -> list[Location]:
    stmt = select(Location).where(Location.active).order_by(Location.code)
    if not r.ship_from_warehouses:
        stmt = stmt.where(Location.kind != "warehouse")
    return list(db.session.scalars(stmt))


def _candidates(
    locations, needed: dict, exclude: set, now, r: SourcingRules, origin: Origin | None, shipping: bool
) -> tuple[list[Candidate], list[dict]]:
    open_work, today = _workload(locations, now)
    products = {line.product_id for line in needed}
    ids = [loc.id for loc in locations]
    levels = db.session.scalars(
        select(StockLevel).where(StockLevel.location_id.in_(ids), StockLevel.product_id.in_(products))
    ).all()
    atp = {(lv.location_id, lv.product_id): lv.available for lv in levels}
    blocked = rules.blocked_product_ids(ids)
    ranked, refused = [], []
    for loc in locations:
        why_not = refusal = None
        if loc.code in exclude:
            why_not, refusal = "already failed this order", "failed"
        elif shipping and (not loc.ships_from_store or loc.ship_paused):
            why_not = "ship-from-store paused" if loc.ship_paused else "does not ship"
            refusal = "paused" if loc.ship_paused else "no_ship"
        elif loc.daily_capacity - today.get(loc.id, 0) <= 0:
            why_not, refusal = "no capacity left today", "no_capacity"
        available = {
            line: 0 if (loc.id, line.product_id) in blocked else atp.get((loc.id, line.product_id), 0)
            for line in needed
        }
        blocked_here = sorted({line.product.sku for line in needed if (loc.id, line.product_id) in blocked})
        if why_not is None and not any(available.values()):
            why_not, refusal = "no stock of any line", "no_stock"
            if blocked_here:
                why_not, refusal = "product blocked here: " + ", ".join(blocked_here), "blocked"
        if why_not:
            refused.append(
                {
                    "location": loc.code,
                    "eligible": False,
                    "reasons": [why_not],
                    "refusal": refusal,
                    "skus": blocked_here,
                }
            )
            continue
        distance = None
        if origin is not None:
            distance = distance_km(origin.latitude, origin.longitude, loc.latitude, loc.longitude)
        capacity = loc.daily_capacity - today.get(loc.id, 0)
        ranked.append(Candidate(loc, available, distance, open_work.get(loc.id, 0), capacity, r, blocked_here))
    ranked.sort(key=lambda c: c.rank(needed))
    return ranked, refused


def _plan(ranked: list[Candidate], needed: dict, max_splits: int) -> list[tuple[Candidate, dict]]:
    remaining, plan = dict(needed), []
    pool = list(ranked)
    while pool and any(remaining.values()) and len(plan) < max_splits:
        best = min(pool, key=lambda c: c.rank(remaining))
        take = {line: min(best.available.get(line, 0), qty) for line, qty in remaining.items()}
        take = {line: qty for line, qty in take.items() if qty > 0}
        if not take:
            break
        plan.append((best, take))
        pool.remove(best)
        for line, qty in take.items():
            remaining[line] -= qty
    return plan


def _describe(c: Candidate, needed: dict, chosen: bool, role: str = "") -> dict:
    total = sum(needed.values())
    reasons = [f"can serve {c.covers(needed)} of {total} units"]
    if role:
        reasons.append(role)
    reasons.append(f"{c.distance:.1f} km away" if c.distance is not None else "no coordinates: distance neutral")
    reasons += [
        f"priority {c.location.sourcing_priority}",
        f"{c.open_work} open fulfilments",
        f"capacity left today {c.capacity_left}",
        f"score {c.score:.1f}",
    ]
    if c.blocked:
        reasons.append("product blocked here: " + ", ".join(c.blocked))
    return {  # reasons in English for integrations; the other keys let screens say it in the reader's language
        "location": c.location.code,
        "eligible": True,
        "chosen": chosen,
        "role": role,
        "covers": c.covers(needed),
        "needed": total,
        "distance_km": round(c.distance, 1) if c.distance is not None else None,
        "priority": c.location.sourcing_priority,
        "open_work": c.open_work,
        "capacity_left": c.capacity_left,
        "score": round(c.score, 1),
        "skus": c.blocked,
        "reasons": reasons,
    }


def _subtract(needed: dict, plan) -> dict:
    left = {line: qty - sum(t.get(line, 0) for _, t in plan) for line, qty in needed.items()}
    return {line: qty for line, qty in left.items() if qty > 0}


def source_order(order: Order, *, actor: Actor, exclude=(), trigger: str = "new_order", now=None) -> SourcingDecision:
    """Assign what an order still needs to the best locations, reserve stock there, and record why."""
    now = now or utcnow()
    r = rules.current_rules()
    needed, exclude = _needed(order), set(exclude)
    notes = [f"max splits {r.max_splits}"]
    candidates: list[dict] = []
    transfers = []
    if order.delivery_method == DeliveryMethod.COLLECT:
        pickup = order.pickup_location
        ranked, refused = _candidates([pickup], needed, exclude, now, r, None, shipping=False)
        plan = _plan(ranked, needed, 1)
        candidates += [_describe(c, needed, bool(plan), "pickup store") for c in ranked] + refused
        missing = _subtract(needed, plan)
        if missing and r.collect_shortage == "transfer" and r.max_splits > len(plan):
            notes.append(f"pickup store {pickup.code} lacks stock: transfer from another location (rule)")
            origin = Origin(pickup.latitude, pickup.longitude, f"transfers go to {pickup.code}")
            others = [loc for loc in _shipping_locations(r) if loc.id != pickup.id]
            ranked2, refused2 = _candidates(others, missing, exclude, now, r, origin, shipping=True)
            transfers = _plan(ranked2, missing, r.max_splits - len(plan))
            chosen = {c.location.code for c, _ in transfers}
            candidates += [_describe(c, missing, c.location.code in chosen, "transfer") for c in ranked2] + refused2
        elif missing:
            notes.append(f"pickup store {pickup.code} lacks stock: refused (rule)")
    else:
        origin = _customer_origin(order)
        notes.insert(0, origin.note)
        ranked, refused = _candidates(_shipping_locations(r), needed, exclude, now, r, origin, shipping=True)
        plan = _plan(ranked, needed, r.max_splits)
        chosen = {c.location.code for c, _ in plan}
        candidates = [_describe(c, needed, c.location.code in chosen) for c in ranked] + refused
    pickup_code = order.pickup_location.code if order.pickup_location else None
    rows = [(c, t, None) for c, t in plan] + [(c, t, order.pickup_location) for c, t in transfers]
    for candidate, take, transfer_to in rows:
        assign_fulfilment(order, candidate.location, take, actor=actor, now=now, transfer_to=transfer_to)
    left = _subtract(needed, plan + transfers)
    decision = SourcingDecision(
        order_id=order.id,
        trigger=trigger,
        actor=actor.label,
        candidates=candidates,
        plan=[
            {
                "location": c.location.code,
                "lines": {str(line.line_no): q for line, q in t.items()},
                **({"transfer_to": pickup_code} if transfer_to is not None else {}),
            }
            for c, t, transfer_to in rows
        ],
        unfulfilled={str(line.line_no): qty for line, qty in left.items()},
        notes=notes,
    )
    db.session.add(decision)
    if decision.unfulfilled:
        order.needs_customer_service = True
        events.emit("order.needs_customer_service", order, unfulfilled=decision.unfulfilled)
    db.session.flush()
    return decision


def failed_locations(order: Order) -> set[str]:
    """Codes of the locations that rejected, let expire, or could not find part of this order."""
    return {
        f.location.code
        for f in order.fulfilments
        if f.status in {S.REJECTED, S.EXPIRED} or any(line.short for line in f.lines)
    }


def reject_and_reroute(fulfilment: Fulfilment, *, reason: str, actor: Actor) -> SourcingDecision:
    """Reject a fulfilment and re-source what it held, never back to a location that already failed it."""
    reject_fulfilment(fulfilment, reason=reason, actor=actor)
    order = fulfilment.order
    return source_order(order, actor=actor, exclude=failed_locations(order), trigger="rejected")


def short_pick(line: FulfilmentLine, quantity: int, *, reason: str, actor: Actor) -> SourcingDecision:
    """Units of a line cannot be found: give their reservation back and re-source them elsewhere.

    The rest of the fulfilment goes on; a fulfilment left with nothing to pick is rejected.
    """
    fulfilment = line.fulfilment
    if fulfilment.status not in {S.ACCEPTED, S.PICKING}:
        raise IllegalTransition(N_("Only work being picked can be short-picked."))
    left = line.quantity - line.picked - line.short
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= left:
        raise InvalidInput(
            N_("Short quantity must be from 1 to %(left)s."), fields={"quantity": "range"}, left=max(left, 0)
        )
    if not reason.strip():
        raise InvalidInput(N_("A reason is required."), fields={"reason": "required"})
    reference = fulfilment_reference(fulfilment)
    stock.release(
        fulfilment.location,
        line.product,
        quantity,
        actor=actor,
        fulfilment_line=line,
        reference=reference,
        reason=f"short pick: {reason}",
    )
    line.short += quantity
    audit.record(
        actor, "fulfilment.short", fulfilment, None, {"sku": line.product.sku, "short": quantity, "reason": reason}
    )
    events.emit("fulfilment.short_picked", fulfilment.order, fulfilment, sku=line.product.sku, quantity=quantity)
    if all(item.short == item.quantity for item in fulfilment.lines):
        transition(fulfilment, S.REJECTED, actor=actor, reason=f"short pick: {reason}")
    db.session.flush()
    order = fulfilment.order
    return source_order(order, actor=actor, exclude=failed_locations(order), trigger="short_pick")


# Why a store gives work back; the screens show each in the reader's language.
REJECT_REASONS = ("out_of_stock", "damaged", "cannot_find", "too_busy", "other")
REJECTABLE = {S.CREATED, S.ACCEPTED}  # once picking has started, missing units are short-picked instead


@dataclass
class Rejection:
    """What reject_lines did: the new sourcing decision, and damaged units that were not on the shelf to move."""

    decision: SourcingDecision
    units: int
    full: bool
    damaged_missing: dict = field(default_factory=dict)  # sku -> units that could not be set aside as damaged


def _units_left(line: FulfilmentLine) -> int:
    return line.quantity - line.picked - line.short


def _check_rejection(fulfilment: Fulfilment, quantities: dict, reason_code: str, note: str) -> dict:
    """Every rule of a rejection, checked before anything changes; returns {line: units} above zero."""
    errors, params = {}, {}
    if fulfilment.status not in REJECTABLE:
        raise IllegalTransition(N_("Only work not yet being picked can be rejected."))
    if reason_code not in REJECT_REASONS:
        errors["reason"] = N_("Choose a reason from the list.")
    if reason_code == "other" and not note.strip():
        errors["note"] = N_("Say why in the note when the reason is Other.")
    chosen = {}
    for line, quantity in quantities.items():
        if line.fulfilment_id != fulfilment.id:
            raise InvalidInput(N_("This line belongs to another order."), fields={"lines": "foreign"})
        left = _units_left(line)
        if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 <= quantity <= left:
            errors[f"lines.{line.id}"] = (N_("Must be a whole number from 0 to %(left)s."), {"left": max(left, 0)})
        elif quantity:
            chosen[line] = quantity
    if not chosen and not any(key.startswith("lines.") for key in errors):
        errors["lines"] = N_("Choose at least one unit to reject.")
    if errors:
        first = next(iter(errors.values()))
        message, params = first if isinstance(first, tuple) else (first, {})
        raise InvalidInput(message, fields=errors, **params)
    return chosen


def apply_stock_effect(
    fulfilment: Fulfilment, chosen: dict, reason_code: str, reason: str, actor: Actor, context: str = "rejected"
) -> dict:
    """What a rejection or a short pick says about the shelf: none left (out of stock), or units set aside as
    damaged (as many as are on hand unreserved; returns {sku: units} that could not be set aside)."""
    location, reference, missing = fulfilment.location, fulfilment_reference(fulfilment), {}
    if reason_code == "out_of_stock":
        for product in {line.product.id: line.product for line in chosen}.values():
            stock.report_out_of_stock(
                location, product, actor=actor, reason=f"{context}: {reason}", reference=reference
            )
    elif reason_code == "damaged":
        units: dict = {}
        for line, quantity in chosen.items():
            units[line.product] = units.get(line.product, 0) + quantity
        for product, quantity in units.items():
            level = stock.level_for_update(location, product)
            movable = min(quantity, max(0, level.on_hand - level.reserved))
            if movable:
                stock.mark_damaged(
                    location, product, movable, actor=actor, reason=f"{context}: {reason}", reference=reference
                )
            if movable < quantity:
                missing[product.sku] = quantity - movable
    return missing


def reject_lines(fulfilment: Fulfilment, quantities: dict, reason_code: str, note: str, actor: Actor) -> Rejection:
    """Give back all or some units of a fulfilment ({line: units}) with a reason, and re-source them elsewhere.

    All the remaining units: the fulfilment is rejected (reject_and_reroute). Some: their reservations are
    released, the lines remember them as short, and the rest of the fulfilment stays to be accepted.
    Out of stock leaves nothing available here (units held for other orders stay); damaged sets the
    units aside (as many as are on the shelf unreserved; the rest are reported in damaged_missing).
    """
    note = (note or "").strip()
    chosen = _check_rejection(fulfilment, quantities, reason_code, note)
    reason = f"{reason_code}: {note}" if note else reason_code
    order = fulfilment.order
    units = sum(chosen.values())
    full = all(chosen.get(line, 0) == _units_left(line) for line in fulfilment.lines)
    if full:
        decision = reject_and_reroute(fulfilment, reason=reason, actor=actor)
        missing = apply_stock_effect(fulfilment, chosen, reason_code, reason, actor)
        db.session.flush()
        return Rejection(decision, units, True, missing)
    reference = fulfilment_reference(fulfilment)
    for line, quantity in chosen.items():
        stock.release(
            fulfilment.location,
            line.product,
            quantity,
            actor=actor,
            fulfilment_line=line,
            reference=reference,
            reason=f"rejected: {reason}",
        )
        line.short += quantity
    fulfilment.updated_at = utcnow()  # a new version: a resent or stale form is refused
    rejected = {line.product.sku: quantity for line, quantity in chosen.items()}
    audit.record(actor, "fulfilment.lines_rejected", fulfilment, None, {"lines": rejected, "reason": reason})
    events.emit("fulfilment.lines_rejected", order, fulfilment, lines=rejected, reason=reason)
    try:
        db.session.flush()
    except StaleDataError as exc:
        raise ConcurrentChange() from exc
    missing = apply_stock_effect(fulfilment, chosen, reason_code, reason, actor)
    decision = source_order(order, actor=actor, exclude=failed_locations(order), trigger="rejected")
    return Rejection(decision, units, False, missing)


def reject_all_open(location: Location, reason: str, actor: Actor) -> int:
    """Give back every fulfilment of a store not yet being picked, each re-sourced elsewhere; returns how many.

    A repeat finds nothing left to reject and returns 0.
    """
    reason = (reason or "").strip()
    if not reason:
        raise InvalidInput(N_("A reason is required."), fields={"reason": "required"})
    open_work = db.session.scalars(
        select(Fulfilment)
        .where(Fulfilment.location_id == location.id, Fulfilment.status.in_(REJECTABLE))
        .order_by(Fulfilment.id)
    ).all()
    for fulfilment in open_work:
        reject_and_reroute(fulfilment, reason=reason, actor=actor)
    if open_work:
        audit.record(
            actor, "location.reject_all", location, None, {"reason": reason, "fulfilments": [f.id for f in open_work]}
        )
        db.session.flush()
    return len(open_work)
