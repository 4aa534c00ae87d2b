"""Sourcing: which locations serve an order, ranked with reasons, every decision stored.

Ship orders: eligible locations (active, ship-from-store offered and not paused, capacity left
today, not excluded) are ranked by: serves everything, distance to the customer, priority, open
workload. One location serves the order when it can; otherwise the fewest-split plan up to
max_splits. Click & collect orders are served by the pickup store only.
"""

import math
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import func, select

from app.core import events
from app.core.actor import Actor
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    Location,
    Order,
    SourcingDecision,
    StockLevel,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.orders import OPEN, assign_fulfilment, assigned_quantity, reject_fulfilment
from app.extensions import db

MAX_SPLITS = 2


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
    reasons: list = field(default_factory=list)

    def covers(self, needed: dict) -> int:
        return sum(min(self.available.get(line, 0), qty) for line, qty in needed.items())

    def rank(self, needed: dict) -> tuple:
        full = self.covers(needed) == sum(needed.values())
        return (
            not full,
            -self.covers(needed),
            self.distance if self.distance is not None else 0.0,
            -self.location.sourcing_priority,
            self.open_work,
            self.location.code,
        )


def _needed(order: Order) -> dict:
    return {
        line: line.quantity - assigned_quantity(line) for line in order.lines if line.quantity > assigned_quantity(line)
    }


def _workload(location_ids, now) -> tuple[dict, dict]:
    open_rows = db.session.execute(
        select(Fulfilment.location_id, func.count())
        .where(Fulfilment.location_id.in_(location_ids), Fulfilment.status.in_(OPEN))
        .group_by(Fulfilment.location_id)
    ).all()
    today_rows = db.session.execute(
        select(Fulfilment.location_id, func.count())
        .where(Fulfilment.location_id.in_(location_ids), Fulfilment.created_at >= now - timedelta(hours=24))
        .group_by(Fulfilment.location_id)
    ).all()
    return dict(open_rows), dict(today_rows)


def _candidates(order: Order, needed: dict, exclude: set, now) -> tuple[list[Candidate], list[dict]]:
    if order.delivery_method == DeliveryMethod.COLLECT:
        locations = [order.pickup_location]
    else:
        locations = db.session.scalars(select(Location).where(Location.active).order_by(Location.code)).all()
    open_work, today = _workload([loc.id for loc in locations], now)
    products = {line.product_id for line in needed}
    levels = db.session.scalars(
        select(StockLevel).where(
            StockLevel.location_id.in_([loc.id for loc in locations]), StockLevel.product_id.in_(products)
        )
    ).all()
    atp = {(lv.location_id, lv.product_id): lv.available for lv in levels}
    ranked, refused = [], []
    for loc in locations:
        why_not = None
        if loc.code in exclude:
            why_not = "already failed this order"
        elif order.delivery_method == DeliveryMethod.SHIP and (not loc.ships_from_store or loc.ship_paused):
            why_not = "ship-from-store paused" if loc.ship_paused else "does not ship"
        elif loc.daily_capacity - today.get(loc.id, 0) <= 0:
            why_not = "no capacity left today"
        available = {line: atp.get((loc.id, line.product_id), 0) for line in needed}
        if why_not is None and not any(available.values()):
            why_not = "no stock of any line"
        if why_not:
            refused.append({"location": loc.code, "eligible": False, "reasons": [why_not]})
            continue
        distance = None
        if order.delivery_method == DeliveryMethod.SHIP:
            distance = distance_km(order.ship_latitude, order.ship_longitude, loc.latitude, loc.longitude)
        ranked.append(
            Candidate(loc, available, distance, open_work.get(loc.id, 0), loc.daily_capacity - today.get(loc.id, 0))
        )
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


def _describe(c: Candidate, needed: dict, chosen: bool) -> dict:
    total = sum(needed.values())
    reasons = [f"can serve {c.covers(needed)} of {total} units"]
    reasons.append(
        f"{c.distance:.1f} km from the customer" if c.distance is not None else "no coordinates: distance neutral"
    )
    reasons += [
        f"priority {c.location.sourcing_priority}",
        f"{c.open_work} open fulfilments",
        f"capacity left today {c.capacity_left}",
    ]
    return {
        "location": c.location.code,
        "eligible": True,
        "chosen": chosen,
        "distance_km": round(c.distance, 1) if c.distance is not None else None,
        "reasons": reasons,
    }


def source_order(
    order: Order, *, actor: Actor, exclude=(), trigger: str = "new_order", max_splits: int = MAX_SPLITS, now=None
) -> SourcingDecision:
    """Assign what an order still needs to the best locations, reserve stock there, and record why."""
    now = now or utcnow()
    needed = _needed(order)
    ranked, refused = _candidates(order, needed, set(exclude), now)
    plan = _plan(ranked, needed, max_splits if order.delivery_method == DeliveryMethod.SHIP else 1)
    chosen = {c.location.code for c, _ in plan}
    for candidate, take in plan:
        assign_fulfilment(order, candidate.location, take, actor=actor, now=now)
    left = {str(line.line_no): qty - sum(t.get(line, 0) for _, t in plan) for line, qty in needed.items()}
    decision = SourcingDecision(
        order_id=order.id,
        trigger=trigger,
        actor=actor.label,
        candidates=[_describe(c, needed, c.location.code in chosen) for c in ranked] + refused,
        plan=[{"location": c.location.code, "lines": {str(line.line_no): q for line, q in t.items()}} for c, t in plan],
        unfulfilled={k: v for k, v in left.items() if v > 0},
    )
    db.session.add(decision)
    if decision.unfulfilled:
        order.needs_customer_service = True
        events.emit("order.needs_customer_service", order, unfulfilled=decision.unfulfilled)
    db.session.flush()
    return decision


def failed_locations(order: Order) -> set[str]:
    """Codes of the locations that rejected, or let expire, part of this order."""
    return {f.location.code for f in order.fulfilments if f.status in {S.REJECTED, S.EXPIRED}}


def reject_and_reroute(fulfilment: Fulfilment, *, reason: str, actor: Actor) -> SourcingDecision:
    """Reject a fulfilment and re-source what it held, never back to a location that already failed it."""
    reject_fulfilment(fulfilment, reason=reason, actor=actor)
    order = fulfilment.order
    return source_order(order, actor=actor, exclude=failed_locations(order), trigger="rejected")
