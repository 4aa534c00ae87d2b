"""The ledger's invariants, checked over the whole database (`flask check`): after a restore, an incident, a manual
fix in SQL. Each is one set-based query that lists at most a few offending rows; none writes anything.

- every stock row's on hand, reserved, damaged and quarantined figures equal the sums of its ledger rows' deltas;
- every stock row's reserved figure equals the units its reservations hold;
- no reservation holds units for work that is over (shipped, collected, rejected, cancelled, expired), but for the
  units of a click & collect order left on the hold shelf, reserved until an associate puts them back;
- per order, the payments never exceed: captured <= authorised, refunded <= captured (succeeded steps);
- every event and stock movement numbered in the feeds has a distinct position (the feeds' cursors).
"""

from dataclasses import dataclass, field

from sqlalchemy import and_, case, func, literal, or_, select

from app.core.models import (
    Fulfilment,
    FulfilmentLine,
    OutboxEvent,
    PaymentTransaction,
    Pickup,
    Reservation,
    StockLevel,
    StockMovement,
)
from app.core.models.orders import OPEN_STATUSES
from app.extensions import db

SHOWN = 5  # offending rows listed per check


@dataclass
class Invariant:
    name: str
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)

    def line(self) -> str:
        if self.ok:
            return f"ok    {self.name} ({self.checked} checked)"
        return f"FAIL  {self.name}: " + "; ".join(self.problems)


def _ledger() -> Invariant:
    sums = (
        select(
            StockMovement.location_id,
            StockMovement.product_id,
            func.sum(StockMovement.on_hand_delta).label("on_hand"),
            func.sum(StockMovement.reserved_delta).label("reserved"),
            func.sum(StockMovement.damaged_delta).label("damaged"),
            func.sum(StockMovement.quarantined_delta).label("quarantined"),
        )
        .group_by(StockMovement.location_id, StockMovement.product_id)
        .subquery()
    )
    joined = and_(sums.c.location_id == StockLevel.location_id, sums.c.product_id == StockLevel.product_id)
    figures = ("on_hand", "reserved", "damaged", "quarantined")
    differs = or_(*(getattr(StockLevel, f) != func.coalesce(getattr(sums.c, f), 0) for f in figures))
    bad = db.session.execute(
        select(StockLevel.id, StockLevel.location_id, StockLevel.product_id, *(getattr(StockLevel, f) for f in figures))
        .add_columns(*(func.coalesce(getattr(sums.c, f), 0) for f in figures))
        .outerjoin(sums, joined)
        .where(differs)
        .order_by(StockLevel.id)
    ).all()
    # Ledger rows of a location and product that has no stock row at all.
    orphans = db.session.execute(
        select(sums.c.location_id, sums.c.product_id)
        .outerjoin(StockLevel, joined)
        .where(StockLevel.id.is_(None), or_(*(func.coalesce(getattr(sums.c, f), 0) != 0 for f in figures)))
    ).all()
    checked = db.session.scalar(select(func.count()).select_from(StockLevel)) or 0
    problems = [
        f"stock row {r[0]} (location {r[1]}, product {r[2]}): "
        f"on hand/reserved/damaged/quarantined {tuple(r[3:7])} but its ledger sums to {tuple(int(v) for v in r[7:11])}"
        for r in bad[:SHOWN]
    ]
    problems += [f"ledger rows of location {r[0]}, product {r[1]} without a stock row" for r in orphans[:SHOWN]]
    if len(bad) > SHOWN:
        problems.append(f"... {len(bad)} stock rows in all")
    return Invariant("stock equals its ledger", not bad and not orphans, checked, problems)


def _reservations() -> Invariant:
    held = (
        select(
            Reservation.location_id,
            Reservation.product_id,
            func.sum(Reservation.quantity).label("units"),
        )
        .group_by(Reservation.location_id, Reservation.product_id)
        .subquery()
    )
    joined = and_(held.c.location_id == StockLevel.location_id, held.c.product_id == StockLevel.product_id)
    bad = db.session.execute(
        select(StockLevel.id, StockLevel.location_id, StockLevel.product_id, StockLevel.reserved)
        .add_columns(func.coalesce(held.c.units, 0))
        .outerjoin(held, joined)
        .where(StockLevel.reserved != func.coalesce(held.c.units, 0))
        .order_by(StockLevel.id)
    ).all()
    orphans = db.session.execute(
        select(held.c.location_id, held.c.product_id, held.c.units)
        .outerjoin(StockLevel, joined)
        .where(StockLevel.id.is_(None), held.c.units != 0)
    ).all()
    checked = db.session.scalar(select(func.count()).select_from(StockLevel)) or 0
    problems = [
        f"stock row {r[0]} (location {r[1]}, product {r[2]}): reserved {r[3]} but its reservations hold {int(r[4])}"
        for r in bad[:SHOWN]
    ]
    problems += [f"{int(r[2])} units reserved at location {r[0]}, product {r[1]} without a stock row" for r in orphans]
    return Invariant("reserved equals the reservations' units", not bad and not orphans, checked, problems)


def _closed_work() -> Invariant:
    bad = db.session.execute(
        select(Reservation.id, Fulfilment.id, Fulfilment.status, Reservation.quantity)
        .join(FulfilmentLine, FulfilmentLine.id == Reservation.fulfilment_line_id)
        .join(Fulfilment, Fulfilment.id == FulfilmentLine.fulfilment_id)
        .outerjoin(Pickup, Pickup.fulfilment_id == Fulfilment.id)
        .where(
            Reservation.quantity > 0,
            Fulfilment.status.not_in(OPEN_STATUSES),
            # Units of a pickup that ended on the hold shelf stay reserved until an associate puts them back.
            or_(Pickup.id.is_(None), Pickup.put_back.is_(False)),
        )
        .order_by(Reservation.id)
        .limit(SHOWN + 1)
    ).all()
    checked = db.session.scalar(select(func.count()).select_from(Reservation).where(Reservation.quantity > 0)) or 0
    problems = [f"reservation {r[0]} holds {r[3]} units for fulfilment {r[1]}, which is {r[2]}" for r in bad[:SHOWN]]
    return Invariant("reservations hold units only for open work", not bad, checked, problems)


def _payments() -> Invariant:
    def total(kind: str):
        return func.coalesce(
            func.sum(case((PaymentTransaction.kind == kind, PaymentTransaction.amount), else_=literal(0))), 0
        )

    authorised, captured, refunded = total("authorisation"), total("capture"), total("refund")
    per_order = (
        select(
            PaymentTransaction.order_id,
            authorised.label("authorised"),
            captured.label("captured"),
            refunded.label("refunded"),
        )
        .where(PaymentTransaction.status == "succeeded")
        .group_by(PaymentTransaction.order_id)
        .subquery()
    )
    bad = db.session.execute(
        select(per_order)
        .where(or_(per_order.c.captured > per_order.c.authorised, per_order.c.refunded > per_order.c.captured))
        .order_by(per_order.c.order_id)
    ).all()
    checked = db.session.scalar(select(func.count()).select_from(per_order)) or 0
    problems = [
        f"order {r.order_id}: authorised {r.authorised}, captured {r.captured}, refunded {r.refunded}"
        for r in bad[:SHOWN]
    ]
    return Invariant("payments never exceed (captured <= authorised, refunded <= captured)", not bad, checked, problems)


def _positions() -> Invariant:
    problems, checked = [], 0
    for name, model in (("event", OutboxEvent), ("stock movement", StockMovement)):
        numbered = db.session.execute(
            select(func.count(model.position), func.count(func.distinct(model.position)))
        ).one()
        checked += numbered[0]
        if numbered[0] != numbered[1]:
            problems.append(f"{numbered[0] - numbered[1]} {name} positions are used twice")
    return Invariant("feed positions are distinct", not problems, checked, problems)


INVARIANTS = (_ledger, _reservations, _closed_work, _payments, _positions)


def run() -> list[Invariant]:
    """Every invariant, in one read-only transaction (rolled back after)."""
    try:
        return [check() for check in INVARIANTS]
    finally:
        db.session.rollback()
