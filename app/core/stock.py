"""Stock operations: the ONLY code that writes stock tables. Every change is one ledger row.

Rows are locked with SELECT ... FOR UPDATE on PostgreSQL (one row per call, so no lock
order issue), and every UPDATE repeats the business guard in its WHERE clause, so that on
SQLite (which ignores row locks) a race fails instead of overselling. The database CHECK
constraints are the last backstop on both.
"""

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.actor import Actor
from app.core.errors import N_, ConcurrentChange, DomainError, InsufficientStock, InvalidInput, OutOfStock
from app.core.models import Location, MovementKind, Product, Reservation, StockLevel, StockMovement
from app.core.models.base import utcnow
from app.extensions import db

ADJUST_KINDS = {MovementKind.ADJUST, MovementKind.DAMAGE, MovementKind.PICK}
COUNT_KINDS = {MovementKind.COUNT, MovementKind.SYNC}


def _positive(quantity: int, field: str = "quantity") -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise InvalidInput(N_("The quantity must be a whole number above zero."), fields={field: "positive"})


def _ensure_level(location: Location, product: Product) -> None:
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(StockLevel).values(
        location_id=location.id, product_id=product.id, on_hand=0, reserved=0, safety_stock=0, updated_at=utcnow()
    )
    db.session.execute(stmt.on_conflict_do_nothing(index_elements=["location_id", "product_id"]))


def level_for_update(location: Location, product: Product) -> StockLevel:
    """Return the stock row of a product at a location, created if missing, locked for this transaction."""
    _ensure_level(location, product)
    stmt = (
        select(StockLevel)
        .where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return db.session.scalars(stmt).one()


def _apply(
    level,
    location,
    product,
    kind,
    actor,
    *,
    on_hand=0,
    reserved=0,
    damaged=0,
    need_available=0,
    reason="",
    reference="",
):
    """Change one stock row by the given deltas and append the matching ledger row."""
    new_on_hand, new_reserved = level.on_hand + on_hand, level.reserved + reserved
    params = {"sku": product.sku, "location": location.code}
    if need_available and level.available < need_available:
        raise OutOfStock(available=level.available, requested=need_available, **params)
    if new_on_hand < 0 or new_reserved < 0 or new_reserved > new_on_hand:
        raise InsufficientStock(**params)
    guards = [
        StockLevel.id == level.id,
        StockLevel.on_hand + on_hand >= 0,
        StockLevel.reserved + reserved >= 0,
        StockLevel.reserved + reserved <= StockLevel.on_hand + on_hand,
    ]
    if need_available:
        guards.append(StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock >= need_available)
    result = db.session.execute(
        update(StockLevel)
        .where(*guards)
        .values(
            on_hand=StockLevel.on_hand + on_hand,
            reserved=StockLevel.reserved + reserved,
            damaged=StockLevel.damaged + damaged,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # only reachable without row locks (SQLite): someone got there first
        raise ConcurrentChange()
    movement = StockMovement(
        location_id=location.id,
        product_id=product.id,
        kind=str(kind),
        on_hand_delta=on_hand,
        reserved_delta=reserved,
        damaged_delta=damaged,
        reason=reason[:200],
        reference=reference[:120],
        actor=actor.label,
    )
    db.session.add(movement)
    db.session.flush()
    db.session.refresh(level)
    return movement


def receive(location, product, quantity: int, *, actor: Actor, reference: str = "", reason: str = ""):
    """Add received units to on hand."""
    _positive(quantity)
    level = level_for_update(location, product)
    return _apply(
        level, location, product, MovementKind.RECEIVE, actor, on_hand=quantity, reason=reason, reference=reference
    )


def return_to_stock(location, product, quantity: int, *, actor: Actor, reference: str = "", reason: str = ""):
    """Put returned, resellable units back on hand."""
    _positive(quantity)
    level = level_for_update(location, product)
    return _apply(
        level, location, product, MovementKind.RETURN, actor, on_hand=quantity, reason=reason, reference=reference
    )


def adjust(location, product, delta: int, *, reason: str, actor: Actor, reference: str = "", kind=MovementKind.ADJUST):
    """Change on hand by a signed number of units, with a reason (adjust, damage, pick)."""
    if kind not in ADJUST_KINDS:
        raise InvalidInput(N_("This kind of movement is not an adjustment."), fields={"kind": "invalid"})
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise InvalidInput(N_("The change must be a whole number other than zero."), fields={"delta": "non_zero"})
    if not reason.strip():
        raise InvalidInput(N_("A reason is required."), fields={"reason": "required"})
    level = level_for_update(location, product)
    return _apply(level, location, product, kind, actor, on_hand=delta, reason=reason, reference=reference)


def set_count(
    location, product, on_hand: int, *, actor: Actor, reason: str = "", reference: str = "", kind=MovementKind.COUNT
):
    """Set on hand to an absolute counted figure; refuses to drop below units reserved for orders."""
    if kind not in COUNT_KINDS:
        raise InvalidInput(N_("This kind of movement is not a count."), fields={"kind": "invalid"})
    if not isinstance(on_hand, int) or isinstance(on_hand, bool) or on_hand < 0:
        raise InvalidInput(N_("The count must be a whole number, zero or more."), fields={"on_hand": "not_negative"})
    level = level_for_update(location, product)
    delta = on_hand - level.on_hand
    if delta == 0:
        return None
    return _apply(level, location, product, kind, actor, on_hand=delta, reason=reason, reference=reference)


def mark_damaged(location, product, quantity: int, *, actor: Actor, reason: str = "damaged", reference: str = ""):
    """Move units from on hand to the damaged count: they stay in the store but are never sold or reserved."""
    _positive(quantity)
    level = level_for_update(location, product)
    return _apply(
        level,
        location,
        product,
        MovementKind.DAMAGE,
        actor,
        on_hand=-quantity,
        damaged=quantity,
        reason=reason,
        reference=reference,
    )


def report_out_of_stock(location, product, *, actor: Actor, reason: str = "reported out of stock", reference=""):
    """An associate found none on the shelf: nothing more is available here (units held for other orders stay)."""
    level = level_for_update(location, product)
    if level.on_hand == level.reserved:
        return None
    return _apply(
        level,
        location,
        product,
        MovementKind.COUNT,
        actor,
        on_hand=level.reserved - level.on_hand,
        reason=reason,
        reference=reference,
    )


def set_safety_stock(location, product, quantity: int, *, actor: Actor) -> StockLevel:
    """Set the units kept back from available-to-promise at a location."""
    from app.core import audit

    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise InvalidInput(N_("Safety stock must be a whole number, zero or more."), fields={"safety_stock": "invalid"})
    level = level_for_update(location, product)
    before = level.safety_stock
    level.safety_stock = quantity
    audit.record(actor, "stock.safety_stock", level, {"safety_stock": before}, {"safety_stock": quantity})
    db.session.flush()
    return level


def reserve(location, product, quantity: int, *, actor: Actor, fulfilment_line, reference: str = ""):
    """Hold available units for a fulfilment line, or raise OutOfStock."""
    _positive(quantity)
    level = level_for_update(location, product)
    movement = _apply(
        level,
        location,
        product,
        MovementKind.RESERVE,
        actor,
        reserved=quantity,
        need_available=quantity,
        reference=reference,
    )
    reservation = db.session.scalar(select(Reservation).where(Reservation.fulfilment_line_id == fulfilment_line.id))
    if reservation is None:
        db.session.add(
            Reservation(
                fulfilment_line_id=fulfilment_line.id, location_id=location.id, product_id=product.id, quantity=quantity
            )
        )
    else:
        reservation.quantity += quantity
    db.session.flush()
    return movement


def _take_reservation(fulfilment_line, quantity: int) -> Reservation:
    reservation = db.session.scalar(
        select(Reservation).where(Reservation.fulfilment_line_id == fulfilment_line.id).with_for_update()
    )
    if reservation is None or reservation.quantity < quantity:
        raise InvalidInput(
            N_("Fewer units are reserved for this line than requested."), fields={"quantity": "too_many"}
        )
    reservation.quantity -= quantity
    return reservation


def release(location, product, quantity: int, *, actor: Actor, fulfilment_line, reference: str = "", reason: str = ""):
    """Give reserved units of a fulfilment line back to available stock."""
    _positive(quantity)
    level = level_for_update(location, product)
    _take_reservation(fulfilment_line, quantity)
    return _apply(
        level, location, product, MovementKind.RELEASE, actor, reserved=-quantity, reason=reason, reference=reference
    )


def consume(location, product, quantity: int, *, actor: Actor, fulfilment_line, reference: str = ""):
    """Take reserved units out of stock when they leave the location (shipped or collected)."""
    _positive(quantity)
    level = level_for_update(location, product)
    _take_reservation(fulfilment_line, quantity)
    return _apply(
        level, location, product, MovementKind.SHIP, actor, on_hand=-quantity, reserved=-quantity, reference=reference
    )


def reserved_for(fulfilment_line) -> int:
    """Units currently reserved for a fulfilment line."""
    value = db.session.scalar(select(Reservation.quantity).where(Reservation.fulfilment_line_id == fulfilment_line.id))
    return value or 0


def available_to_promise(location, product) -> int:
    """On hand minus reserved minus safety stock, floored at zero."""
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
    )
    return level.available if level else 0


def ledger_totals(location_id: int, product_id: int) -> tuple[int, int]:
    """Sum of the ledger's on-hand and reserved deltas for one stock row."""
    row = db.session.execute(
        select(
            func.coalesce(func.sum(StockMovement.on_hand_delta), 0),
            func.coalesce(func.sum(StockMovement.reserved_delta), 0),
        ).where(StockMovement.location_id == location_id, StockMovement.product_id == product_id)
    ).one()
    return int(row[0]), int(row[1])


def sync_count(location, product, on_hand: int, *, actor: Actor, reference: str = "") -> int:
    """Apply an absolute count from a POS or ERP; units reserved for open orders stay reserved.

    Returns how many reserved units the count does not cover (0 normally): on hand is then
    kept at the reserved figure, so no order silently loses its stock, and the caller says so.
    """
    if not isinstance(on_hand, int) or isinstance(on_hand, bool) or on_hand < 0:
        raise InvalidInput(N_("The count must be a whole number, zero or more."), fields={"on_hand": "not_negative"})
    level = level_for_update(location, product)
    uncovered = max(0, level.reserved - on_hand)
    target = on_hand + uncovered
    reason = f"count {on_hand} below {level.reserved} reserved" if uncovered else "sync"
    if target != level.on_hand:
        _apply(
            level,
            location,
            product,
            MovementKind.SYNC,
            actor,
            on_hand=target - level.on_hand,
            reason=reason,
            reference=reference,
        )
    return uncovered


def apply_movements(rows: list[dict], *, actor: Actor) -> int:
    """Apply signed deltas ({location, sku, delta, reason, reference}) all or nothing, naming each refused line."""
    codes, skus = {r["location"] for r in rows}, {r["sku"] for r in rows}
    locations = {loc.code: loc for loc in db.session.scalars(select(Location).where(Location.code.in_(codes)))}
    products = {p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(skus)))}
    errors = {}
    for i, row in enumerate(rows):
        location, product = locations.get(row["location"]), products.get(row["sku"])
        if location is None:
            errors[f"movements.{i}.location"] = N_("Unknown location.")
        if product is None:
            errors[f"movements.{i}.sku"] = N_("Unknown SKU.")
        if row["delta"] == 0:
            errors[f"movements.{i}.delta"] = N_("Must not be zero.")
        if errors:
            continue  # keep validating, apply nothing
        try:
            with db.session.begin_nested():
                if row["delta"] > 0:
                    receive(
                        location, product, row["delta"], actor=actor, reference=row["reference"], reason=row["reason"]
                    )
                else:
                    adjust(
                        location,
                        product,
                        row["delta"],
                        actor=actor,
                        reference=row["reference"],
                        reason=row["reason"] or "api adjustment",
                    )
        except DomainError as error:
            errors[f"movements.{i}.delta"] = (error.message, error.params)  # translated where it is shown
    if errors:
        raise InvalidInput(N_("Some movements were refused; none was applied."), fields=errors)
    return len(rows)
