"""Stock operations: the ONLY code that writes stock tables. Every change is one ledger row.

Rows are locked with SELECT ... FOR UPDATE on PostgreSQL. A transaction that touches several
rows locks them first with lock_levels(), in one canonical order (location id, product id), so two
transactions never wait on each other in a circle; later calls reuse the rows it holds. Every
UPDATE repeats the business guard in its WHERE clause, so that on SQLite (which ignores row locks)
a race fails instead of overselling. The database CHECK constraints are the last backstop on both.
"""

import json
from contextlib import contextmanager
from functools import cache

from sqlalchemy import Integer, bindparam, func, insert, select, text, tuple_, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm.attributes import set_committed_value

from app.core import batch
from app.core.actor import Actor
from app.core.errors import N_, ConcurrentChange, InsufficientStock, InvalidInput, OutOfStock
from app.core.models import Location, MovementKind, Product, Reservation, StockLevel, StockMovement
from app.core.models.base import utcnow
from app.core.uow import transaction_cache
from app.extensions import db

ADJUST_KINDS = {MovementKind.ADJUST, MovementKind.DAMAGE, MovementKind.PICK}
COUNT_KINDS = {MovementKind.COUNT, MovementKind.SYNC}
MAX_UNITS = 2**31 - 1  # INTEGER columns: a change that would pass this is refused, never a database error


def _positive(quantity: int, field: str = "quantity") -> None:
    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
        raise InvalidInput(N_("The quantity must be a whole number above zero."), field=field)


def _insert():
    return pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert


def _ensure_levels(pairs) -> None:
    """Add the missing stock rows at zero (one statement, compiled once however many rows)."""
    now = utcnow()
    rows = [
        {"location_id": loc, "product_id": prod, "on_hand": 0, "reserved": 0, "safety_stock": 0, "updated_at": now}
        for loc, prod in sorted(set(pairs))
    ]
    if rows:
        stmt = _insert()(StockLevel).on_conflict_do_nothing(index_elements=["location_id", "product_id"])
        db.session.execute(stmt, rows)


def _held() -> dict:
    """Stock rows this transaction (or savepoint) has locked: {(location_id, product_id): StockLevel}."""
    return transaction_cache("held_stock_levels")


@cache
def _lock_statement():
    """SELECT ... FOR UPDATE of the stock rows of the pairs given, in canonical order, every column in the table's
    order (made objects by batch.as_loaded): built once."""
    table = StockLevel.__table__
    return (
        select(*table.c)
        .where(tuple_(table.c.location_id, table.c.product_id).in_(bindparam("pairs", expanding=True)))
        .order_by(table.c.location_id, table.c.product_id)
        .with_for_update()
    )


def lock_levels(pairs, *, create: bool = False) -> dict:
    """Lock the stock rows of (location_id, product_id) pairs in canonical order; returns them by pair.

    create=True adds missing rows at zero first. Rows this transaction already holds are not asked for again.
    """
    held = _held()
    wanted = sorted({(int(loc), int(prod)) for loc, prod in pairs} - held.keys())
    if wanted:
        if create:
            _ensure_levels(wanted)
        session = db.session()
        if session.autoflush:  # as the ORM's own SELECT would (sourcing plans with autoflush off)
            session.flush()
        # Core rows made objects as the ORM's loader makes them, the session's own refreshed with the locked figures
        # (populate_existing): the ORM's SELECT of the same rows cost about 1 ms more of each order's capture.
        for start in range(0, len(wanted), 1000):
            chunk = wanted[start : start + 1000]
            for row in session.connection().execute(_lock_statement(), {"pairs": chunk}).all():
                level = batch.as_loaded(session, StockLevel, row)
                held[(level.location_id, level.product_id)] = level
    return {pair: held[pair] for pair in {(int(loc), int(prod)) for loc, prod in pairs} if pair in held}


def level_for_update(location: Location, product: Product) -> StockLevel:
    """Return the stock row of a product at a location, created if missing, locked for this transaction."""
    pair = (location.id, product.id)
    return lock_levels([pair], create=True)[pair]


@cache
def _guarded_update(needs_available: bool):
    """The UPDATE of one stock row by deltas, its business guards repeated in its WHERE clause: built once per
    shape (building it on every change cost more than running it)."""
    d_on_hand, d_reserved = bindparam("d_on_hand", type_=Integer), bindparam("d_reserved", type_=Integer)
    guards = [
        StockLevel.id == bindparam("level_id", type_=Integer),
        StockLevel.on_hand + d_on_hand >= 0,
        StockLevel.reserved + d_reserved >= 0,
        StockLevel.reserved + d_reserved <= StockLevel.on_hand + d_on_hand,
    ]
    if needs_available:
        guards.append(
            StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock >= bindparam("need", type_=Integer)
        )
    return (
        update(StockLevel)
        .where(*guards)
        .values(
            on_hand=StockLevel.on_hand + d_on_hand,
            reserved=StockLevel.reserved + d_reserved,
            damaged=StockLevel.damaged + bindparam("d_damaged", type_=Integer),
            updated_at=bindparam("now", type_=StockLevel.__table__.c.updated_at.type),
        )
        .returning(StockLevel.on_hand, StockLevel.reserved, StockLevel.damaged)
        .execution_options(synchronize_session=False)
    )


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
    quarantined=0,
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
    if new_on_hand > MAX_UNITS or level.damaged + damaged > MAX_UNITS:
        raise InvalidInput(
            N_("This change would take %(sku)s at %(location)s above the largest count."),
            field="quantity",
            **params,
        )
    if quarantined:
        _change_quarantined(level, quarantined)
    together = db.session().info.get(_TOGETHER)
    if together is not None:  # written with the others at the end of updates_together(), its guards checked then
        change = together.setdefault(level.id, {"id": level.id, "on_hand": 0, "reserved": 0, "damaged": 0, "need": 0})
        change["on_hand"] += on_hand
        change["reserved"] += reserved
        change["damaged"] += damaged
        change["need"] += need_available
        change["after"] = row = (new_on_hand, new_reserved, level.damaged + damaged)
    else:
        # On the session's connection, as plain Core: no autoflush (the UPDATE reads no pending object, and the
        # ledger and reservation rows of every line of a fulfilment then reach the database together, one multi-row
        # INSERT per table) and none of the ORM's result processing.
        row = (
            db.session.connection()
            .execute(
                _guarded_update(bool(need_available)),
                {
                    "level_id": level.id,
                    "d_on_hand": on_hand,
                    "d_reserved": reserved,
                    "d_damaged": damaged,
                    "need": need_available,
                    "now": utcnow(),
                },
            )
            .first()
        )
        if row is None:  # only reachable without row locks (SQLite): someone got there first
            raise ConcurrentChange()
    for name, value in zip(("on_hand", "reserved", "damaged"), row, strict=True):
        set_committed_value(level, name, value)
    values = {
        "location_id": location.id,
        "product_id": product.id,
        "kind": str(kind),
        "on_hand_delta": on_hand,
        "reserved_delta": reserved,
        "damaged_delta": damaged,
        "quarantined_delta": quarantined,
        "reason": reason[:200],
        "reference": reference[:120],
        "actor": actor.label,
        "on_hand_after": row[0],
    }
    rows = batch.pending()
    if rows is not None:  # order capture: written with the other rows of the order (the ledger row is None here)
        rows.add(StockMovement, values)
        return None
    movement = StockMovement(**values)
    db.session.add(movement)
    return movement


_TOGETHER = "stock_updates_together"


@contextmanager
def updates_together():
    """Inside this block, on PostgreSQL, the stock rows changed go out in one UPDATE when it ends, with the guards each
    UPDATE repeats (never below zero, never more reserved than on hand, the units still available): an order capture
    reserving several rows sends one statement, not one a row. The rows are locked before any change (lock_levels),
    so the figures computed meanwhile are exact; code inside the block must not read stock rows back from the database
    (order capture plans every fulfilment before it reserves). SQLite, or a block inside another: rows as always."""
    session = db.session()
    if session.get_bind().dialect.name != "postgresql" or session.info.get(_TOGETHER) is not None:
        yield
        return
    changes = session.info[_TOGETHER] = {}
    try:
        yield
        del session.info[_TOGETHER]
        if changes:
            _update_together(list(changes.values()))
    finally:
        session.info.pop(_TOGETHER, None)


_UPDATE_TOGETHER = text(
    """UPDATE stock_level SET on_hand = stock_level.on_hand + d.on_hand, reserved = stock_level.reserved + d.reserved,
    damaged = stock_level.damaged + d.damaged, updated_at = :now
    FROM json_to_recordset(CAST(:changes AS json)) AS d(id integer, on_hand integer, reserved integer, damaged integer,
                                                       need integer)
    WHERE stock_level.id = d.id AND stock_level.on_hand + d.on_hand >= 0 AND stock_level.reserved + d.reserved >= 0
      AND stock_level.reserved + d.reserved <= stock_level.on_hand + d.on_hand
      AND (d.need = 0 OR stock_level.on_hand - stock_level.reserved - stock_level.safety_stock >= d.need)
    RETURNING stock_level.id, stock_level.on_hand, stock_level.reserved, stock_level.damaged"""
).bindparams(bindparam("now", type_=StockLevel.__table__.c.updated_at.type))


def _update_together(changes: list[dict]) -> None:
    wanted = {c["id"]: c.pop("after") for c in changes}
    rows = db.session.connection().execute(_UPDATE_TOGETHER, {"changes": json.dumps(changes), "now": utcnow()}).all()
    # Every row, with the figures computed on it: anything else means a row changed unlocked, or a guard refused.
    if {row[0]: tuple(row[1:]) for row in rows} != wanted:
        raise ConcurrentChange()


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
        raise InvalidInput(N_("This kind of movement is not an adjustment."), field="kind")
    if not isinstance(delta, int) or isinstance(delta, bool) or delta == 0:
        raise InvalidInput(N_("The change must be a whole number other than zero."), field="delta")
    if not reason.strip():
        raise InvalidInput(N_("A reason is required."), field="reason")
    level = level_for_update(location, product)
    return _apply(level, location, product, kind, actor, on_hand=delta, reason=reason, reference=reference)


def set_count(
    location, product, on_hand: int, *, actor: Actor, reason: str = "", reference: str = "", kind=MovementKind.COUNT
):
    """Set on hand to an absolute counted figure; refuses to drop below units reserved for orders."""
    if kind not in COUNT_KINDS:
        raise InvalidInput(N_("This kind of movement is not a count."), field="kind")
    if not isinstance(on_hand, int) or isinstance(on_hand, bool) or on_hand < 0:
        raise InvalidInput(N_("The count must be a whole number, zero or more."), field="on_hand")
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


def _change_quarantined(level: StockLevel, delta: int) -> None:
    """Returned units into or out of quarantine (guarded like every stock change: never below zero)."""
    if level.quarantined + delta < 0:
        raise InsufficientStock(sku=level.product.sku, location=level.location.code)
    if level.quarantined + delta > MAX_UNITS:
        raise InvalidInput(N_("This change would take the quarantine above the largest count."), field="quantity")
    with db.session.no_autoflush:
        value = db.session.execute(
            update(StockLevel)
            .where(StockLevel.id == level.id, StockLevel.quarantined + delta >= 0)
            .values(quarantined=StockLevel.quarantined + delta)
            .returning(StockLevel.quarantined)
            .execution_options(synchronize_session=False)
        ).scalar()
    if value is None:
        raise ConcurrentChange()
    set_committed_value(level, "quarantined", value)


RETURN_CONDITIONS = ("resellable", "damaged", "inspect")


def take_back(location, product, quantity: int, condition: str, *, actor: Actor, reference: str = "", reason=""):
    """Returned units into this location's stock, by their condition: `resellable` on hand (on sale at once),
    `damaged` to the damaged count, `inspect` to quarantine until a manager decides (decide_quarantined). A product
    the location never stocked gets its stock row here."""
    _positive(quantity)
    if condition not in RETURN_CONDITIONS:
        raise InvalidInput(N_("Choose the condition of the returned item."), field="condition")
    level = level_for_update(location, product)
    deltas = {
        "resellable": {"on_hand": quantity},
        "damaged": {"damaged": quantity},
        "inspect": {"quarantined": quantity},
    }
    return _apply(
        level, location, product, MovementKind.RETURN, actor, reason=reason, reference=reference, **deltas[condition]
    )


def decide_quarantined(location, product, quantity: int, outcome: str, *, actor: Actor, reference: str = ""):
    """A manager's decision on returned units in quarantine: back on sale (`resellable`) or `damaged`."""
    _positive(quantity)
    if outcome not in ("resellable", "damaged"):
        raise InvalidInput(N_("Choose whether the item goes back on sale or is damaged."), field="outcome")
    level = level_for_update(location, product)
    if outcome == "resellable":
        return _apply(
            level,
            location,
            product,
            MovementKind.RETURN,
            actor,
            on_hand=quantity,
            quarantined=-quantity,
            reason="inspected: resellable",
            reference=reference,
        )
    return _apply(
        level,
        location,
        product,
        MovementKind.DAMAGE,
        actor,
        damaged=quantity,
        quarantined=-quantity,
        reason="inspected: damaged",
        reference=reference,
    )


def on_hand_when_out_of_stock(reserved: int) -> int:
    """What a location counts on hand once reported out of stock: the units held for orders, nothing more."""
    return reserved


def report_out_of_stock(location, product, *, actor: Actor, reason: str = "reported out of stock", reference=""):
    """An associate found none on the shelf: nothing more is available here (units held for other orders stay)."""
    level = level_for_update(location, product)
    counted = on_hand_when_out_of_stock(level.reserved)
    if level.on_hand == counted:
        return None
    return _apply(
        level,
        location,
        product,
        MovementKind.COUNT,
        actor,
        on_hand=counted - level.on_hand,
        reason=reason,
        reference=reference,
    )


def set_safety_stock(location, product, quantity: int, *, actor: Actor) -> StockLevel:
    """Set the units kept back from available-to-promise at a location."""
    from app.core import audit

    if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity < 0:
        raise InvalidInput(N_("Safety stock must be a whole number, zero or more."), field="safety_stock")
    level = level_for_update(location, product)
    before = level.safety_stock
    level.safety_stock = quantity
    audit.record(actor, "stock.safety_stock", level, {"safety_stock": before}, {"safety_stock": quantity})
    db.session.flush()
    return level


def reserve(location, product, quantity: int, *, actor: Actor, fulfilment_line, reference: str = "", new_line=False):
    """Hold available units for a fulfilment line, or raise OutOfStock (new_line: it holds nothing yet)."""
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
    reservation = None
    if not new_line:
        reservation = db.session.scalar(select(Reservation).where(Reservation.fulfilment_line_id == fulfilment_line.id))
    if reservation is None:
        values = {
            "fulfilment_line_id": fulfilment_line.id,
            "location_id": location.id,
            "product_id": product.id,
            "quantity": quantity,
        }
        rows = batch.pending()
        if rows is not None:
            rows.add(Reservation, values)
        else:
            db.session.add(Reservation(**values))
    else:
        reservation.quantity += quantity
    return movement


def _take_reservation(fulfilment_line, quantity: int) -> Reservation:
    reservation = db.session.scalar(
        select(Reservation).where(Reservation.fulfilment_line_id == fulfilment_line.id).with_for_update()
    )
    if reservation is None or reservation.quantity < quantity:
        raise InvalidInput(N_("Fewer units are reserved for this line than requested."), field="quantity")
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


def transfer_reserved(
    source, destination, product, quantity: int, *, actor: Actor, fulfilment_line, reference: str = ""
) -> None:
    """Units reserved for a fulfilment line at one location arrive at another (a click & collect transfer reaches
    the pickup store): they leave the source's stock, enter the destination's, still reserved for the same line.
    Two ledger rows; both stock rows locked in canonical order first."""
    _positive(quantity)
    lock_levels([(source.id, product.id), (destination.id, product.id)], create=True)
    reservation = _take_reservation(fulfilment_line, quantity)
    _apply(
        level_for_update(source, product),
        source,
        product,
        MovementKind.SHIP,
        actor,
        on_hand=-quantity,
        reserved=-quantity,
        reason=f"transfer to {destination.code}",
        reference=reference,
    )
    _apply(
        level_for_update(destination, product),
        destination,
        product,
        MovementKind.RECEIVE,
        actor,
        on_hand=quantity,
        reserved=quantity,
        reason=f"transfer from {source.code}",
        reference=reference,
    )
    reservation.quantity += quantity
    reservation.location_id = destination.id


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
        raise InvalidInput(N_("The count must be a whole number, zero or more."), field="on_hand")
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
    """Apply signed deltas ({location, sku, delta, reason, reference}) all or nothing, naming each refused line.

    Set-based: the rows are locked once in canonical order, every delta is checked in the order given,
    then one UPDATE per stock row and one multi-row INSERT of the ledger, so 10,000 lines take seconds.
    """
    codes, skus = {r["location"] for r in rows}, {r["sku"] for r in rows}
    locations = {loc.code: loc for loc in db.session.scalars(select(Location).where(Location.code.in_(codes)))}
    products = {}
    sku_list = sorted(skus)
    for start in range(0, len(sku_list), 1000):
        chunk = sku_list[start : start + 1000]
        products.update({p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(chunk)))})
    errors = {}
    for i, row in enumerate(rows):
        if row["location"] not in locations:
            errors[f"movements.{i}.location"] = N_("Unknown location.")
        if row["sku"] not in products:
            errors[f"movements.{i}.sku"] = N_("Unknown SKU.")
        if not isinstance(row["delta"], int) or isinstance(row["delta"], bool) or row["delta"] == 0:
            errors[f"movements.{i}.delta"] = N_("Must not be zero.")
    if errors:
        raise InvalidInput(N_("Some movements were refused; none was applied."), fields=errors)
    pair_of = [(locations[r["location"]].id, products[r["sku"]].id) for r in rows]
    levels = lock_levels(pair_of, create=True)
    figures = {pair: [level.on_hand, level.reserved] for pair, level in levels.items()}
    ledger = []
    for i, (row, pair) in enumerate(zip(rows, pair_of, strict=True)):
        on_hand, reserved = figures[pair]
        params = {"sku": row["sku"], "location": row["location"]}
        if on_hand + row["delta"] < reserved:  # below zero, or below the units held for orders
            errors[f"movements.{i}.delta"] = (InsufficientStock.message, params)
            continue
        if on_hand + row["delta"] > MAX_UNITS:
            errors[f"movements.{i}.delta"] = (
                N_("This change would take %(sku)s at %(location)s above the largest count."),
                params,
            )
            continue
        figures[pair][0] = on_hand + row["delta"]
        receiving = row["delta"] > 0
        ledger.append(
            {
                "location_id": pair[0],
                "product_id": pair[1],
                "kind": str(MovementKind.RECEIVE if receiving else MovementKind.ADJUST),
                "on_hand_delta": row["delta"],
                "reserved_delta": 0,
                "damaged_delta": 0,
                "reason": (row["reason"] or ("" if receiving else "api adjustment"))[:200],
                "reference": row["reference"][:120],
                "actor": actor.label,
                "created_at": utcnow(),
                "on_hand_after": on_hand + row["delta"],
            }
        )
    if errors:
        raise InvalidInput(N_("Some movements were refused; none was applied."), fields=errors)
    changed = [
        {"id": levels[pair].id, "old": levels[pair].on_hand, "new": on_hand}
        for pair, (on_hand, _) in figures.items()
        if on_hand != levels[pair].on_hand
    ]
    if changed:
        result = db.session.connection().execute(
            update(StockLevel.__table__)
            .where(
                StockLevel.__table__.c.id == bindparam("level_id"),
                StockLevel.__table__.c.on_hand == bindparam("old"),
            )
            .values(on_hand=bindparam("new"), updated_at=utcnow()),
            [{"level_id": c["id"], "old": c["old"], "new": c["new"]} for c in changed],
        )
        if result.rowcount not in (len(changed), -1):  # only without row locks (SQLite): someone got there first
            raise ConcurrentChange()
        by_id = {level.id: level for level in levels.values()}
        for c in changed:
            set_committed_value(by_id[c["id"]], "on_hand", c["new"])
    db.session.connection().execute(insert(StockMovement.__table__), ledger)  # Core: no ORM object per line
    return len(rows)
