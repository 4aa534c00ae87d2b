"""Returns: items of an order coming back, at any store's counter or by post, refunded to the original payment.

What can come back is what left the stores (shipped parcels, collected pickups) less what came back already (or is
announced by post). Each unit comes back in a condition: `resellable` (on hand at the receiving store at once,
through the ledger), `damaged` (to its damaged count, off sale) or `inspect` (in quarantine until a manager
decides). The refund follows a rule, shown before confirming (quote): the units' prices, and the shipping fee when
the whole order has come back, inside the retailer's return window; it goes to the original payment
(payments.refund), capped by what was captured. A return by post is announced (`expected`) and received later by
scanning its number or the order's; its stock and refund wait for the receipt.

Every operation locks the order first (orders.lock_order), so two returns of the last unit cannot both pass.
The screens (app.web.returns) and the API (app.api.returns) call these operations.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from app.core import audit, payments
from app.core.actor import Actor
from app.core.errors import N_, DomainError, InvalidInput, NotFound
from app.core.integration import customer_messages, events
from app.core.inventory import stock
from app.core.models import (
    CustomerReturn,
    Fulfilment,
    Location,
    Order,
    OrderLine,
    ReturnLine,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import MAX_ID, utcnow
from app.core.models.payments import RETURN_CONDITIONS, RETURN_REASONS
from app.core.ordering import orders
from app.core.service import search
from app.extensions import db

MAX_FOUND = 20


class ReturnRefused(DomainError):
    code = "return_refused"
    http_status = 409
    message = N_("This return cannot be taken.")


def reasons() -> tuple[str, ...]:
    """The reasons the retailer's returns offer, in its order (RETURN_REASONS when it never chose)."""
    chosen = payments.settings().return_reasons
    return tuple(r for r in chosen if r in RETURN_REASONS) if chosen else RETURN_REASONS


# --- what can come back -----------------------------------------------------------------------------------------


def _left_store(fulfilment: Fulfilment) -> dict[int, int]:
    """{order_line_id: units} that left a store with this fulfilment (shipped, or taken by the customer)."""
    if fulfilment.status == S.SHIPPED:
        return {line.order_line_id: line.picked for line in fulfilment.lines if line.picked}
    if fulfilment.status != S.COLLECTED:
        return {}
    refused: dict[str, int] = {}
    for row in (fulfilment.pickup.refused if fulfilment.pickup is not None else None) or []:
        refused[row["sku"]] = refused.get(row["sku"], 0) + int(row["quantity"])
    taken = {}
    for line in fulfilment.lines:
        left = min(refused.get(line.product.sku, 0), line.picked)
        refused[line.product.sku] = refused.get(line.product.sku, 0) - left
        if line.picked - left:
            taken[line.order_line_id] = taken.get(line.order_line_id, 0) + line.picked - left
    return taken


def left_stores(order: Order) -> dict[int, int]:
    """{order_line_id: units} the customer received: a re-shipment replaces a lost or damaged parcel's units, it does
    not add to them (the customer was sent them again, not sold them twice)."""
    totals: dict[int, int] = {}
    for fulfilment in order.fulfilments:
        if fulfilment.reship_of_id is not None:
            continue
        for line_id, units in _left_store(fulfilment).items():
            totals[line_id] = totals.get(line_id, 0) + units
    return totals


def returns_of(order: Order) -> list[CustomerReturn]:
    return list(
        db.session.scalars(
            select(CustomerReturn).where(CustomerReturn.order_id == order.id).order_by(CustomerReturn.id)
        )
    )


def came_back(order: Order) -> dict[int, int]:
    """{order_line_id: units} returned or announced by post."""
    back: dict[int, int] = {}
    for ret in returns_of(order):
        for line in ret.lines:
            back[line.order_line_id] = back.get(line.order_line_id, 0) + line.quantity
    return back


def returnable(order: Order) -> dict[OrderLine, int]:
    """{order line: units that may still come back}, every line of the order (0 when none)."""
    left, back = left_stores(order), came_back(order)
    return {line: max(0, left.get(line.id, 0) - back.get(line.id, 0)) for line in order.lines}


def left_at(order: Order) -> datetime | None:
    """When the last of the order's units left a store (the return window counts from there)."""
    moments = [f.updated_at for f in order.fulfilments if f.status in {S.SHIPPED, S.COLLECTED}]
    return max(moments) if moments else None


def window_ends(order: Order) -> datetime | None:
    moment = left_at(order)
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment + timedelta(days=payments.settings().return_window_days)


# --- finding the order ------------------------------------------------------------------------------------------


def find_orders(text: str, limit: int = MAX_FOUND) -> list[Order]:
    """The orders a scan or a search names, across the chain (the customer service search, app.core.service.search:
    a return number, a bag label, a tracking number, an order number or the channel's reference, a pickup code, else
    the customer's name, e-mail or phone). Orders with something left to return first."""
    rows = search.search_orders(text, limit=limit * 3)
    rows = sorted(rows, key=lambda o: (not any(returnable(o).values()), -o.id))
    return rows[:limit]


def find_return(text: str) -> CustomerReturn | None:
    upper = (text or "").strip().upper()
    if upper.startswith("RET-") and upper[4:].isdigit() and int(upper[4:]) <= MAX_ID:
        return db.session.get(CustomerReturn, int(upper[4:]))
    return None


# --- the quote: what the customer gets back ---------------------------------------------------------------------


@dataclass
class QuoteLine:
    order_line: OrderLine
    quantity: int
    reason: str
    condition: str
    unit_refund: Decimal


@dataclass
class Quote:
    order: Order
    lines: list[QuoteLine]
    items: Decimal
    shipping: Decimal
    total: Decimal
    currency: str
    whole_order: bool
    window_ends: datetime | None
    refundable: Decimal = Decimal("0.00")
    errors: dict = field(default_factory=dict)


def _wanted(order: Order, lines: list) -> tuple[list[QuoteLine], dict]:
    """[{sku | order_line_id, quantity, reason, condition}] against what can come back; (lines, field errors)."""
    errors: dict = {}
    room = returnable(order)
    allowed_reasons = reasons()
    chosen: list[QuoteLine] = []
    if not isinstance(lines, list) or not lines:
        return [], {"lines": N_("Choose at least one item to return.")}
    for i, row in enumerate(lines):
        if not isinstance(row, dict):
            errors[f"lines.{i}"] = N_("Not a valid line.")
            continue
        quantity = row.get("quantity")
        if not isinstance(quantity, int) or isinstance(quantity, bool) or quantity <= 0:
            errors[f"lines.{i}.quantity"] = N_("Must be a whole number above zero.")
            continue
        if row.get("reason") not in allowed_reasons:
            errors[f"lines.{i}.reason"] = N_("Choose a reason from the list.")
        if row.get("condition") not in RETURN_CONDITIONS:
            errors[f"lines.{i}.condition"] = N_("Choose the condition of the returned item.")
        if row.get("order_line_id") is not None:
            candidates = [ol for ol in order.lines if ol.id == row.get("order_line_id")]
        else:
            candidates = [ol for ol in order.lines if ol.product.sku == row.get("sku")]
        if not candidates:
            errors[f"lines.{i}.sku"] = N_("This item is not in the order.")
            continue
        need = quantity
        for order_line in candidates:  # the same SKU on several lines: fill them in order
            take = min(need, room[order_line])
            if take:
                room[order_line] -= take
                need -= take
                chosen.append(
                    QuoteLine(
                        order_line, take, row.get("reason"), row.get("condition"), payments.money(order_line.unit_price)
                    )
                )
        if need:
            can = quantity - need
            errors[f"lines.{i}.quantity"] = (
                N_("At most %(left)s of this item can be returned."),
                {"left": can},
            )
    return chosen, errors


def quote(order: Order, lines: list, *, now: datetime | None = None) -> Quote:
    """What a return of these lines refunds, before anything changes (errors filled in rather than raised)."""
    now = now or utcnow()
    chosen, errors = _wanted(order, lines)
    items = sum((q.unit_refund * q.quantity for q in chosen), Decimal("0.00"))
    after = returnable(order)
    for q in chosen:
        after[q.order_line] -= q.quantity
    everything_left = set(left_stores(order)) == {ol.id for ol in order.lines}
    whole = bool(chosen) and not errors and everything_left and not any(after.values())
    shipping = payments.shipping_fee(order) if whole and payments.has_payment(order) else Decimal("0.00")
    ends = window_ends(order)
    if ends is not None and now > ends:
        errors.setdefault("lines", N_("The return window for this order has ended."))
    t = payments.totals(order) if payments.has_payment(order) else None
    refundable = t.refundable if t else Decimal("0.00")
    total = min(items + shipping, refundable) if t else Decimal("0.00")
    return Quote(order, chosen, items, shipping, total, order.currency, whole, ends, refundable, errors)


def _refuse(errors: dict) -> None:
    first = next(iter(errors.values()))
    message, params = first if isinstance(first, tuple) else (first, {})
    raise InvalidInput(message, fields=errors, **params)


# --- taking it back ---------------------------------------------------------------------------------------------


def create_return(
    order: Order,
    location: Location,
    lines: list,
    *,
    actor: Actor,
    status: str = "received",
    now: datetime | None = None,
) -> CustomerReturn:
    """Take items back at a location (`received`: stock and refund now), or announce a return by post (`expected`:
    both wait for receive()). Refused with field errors, nothing changed, when more comes back than left the stores
    less what came back, or the return window has ended."""
    now = now or utcnow()
    if status not in ("received", "expected"):
        raise InvalidInput(N_("A return is received or expected."), field="status")
    if not location.active:
        raise InvalidInput(N_("This location is closed."), field="location")
    orders.lock_order(order)
    q = quote(order, lines, now=now)
    if q.errors:
        _refuse(q.errors)
    ret = CustomerReturn(order_id=order.id, location_id=location.id, status=status, actor=actor.label, created_at=now)
    ret.lines = [
        ReturnLine(
            order_line_id=ql.order_line.id,
            product_id=ql.order_line.product_id,
            quantity=ql.quantity,
            reason=ql.reason,
            condition=ql.condition,
            unit_refund=ql.unit_refund,
        )
        for ql in q.lines
    ]
    db.session.add(ret)
    db.session.flush()
    audit.record(
        actor,
        "return.create",
        order,
        None,
        {"return": ret.number, "location": location.code, "status": status, "lines": _lines_of(ret)},
    )
    events.emit("return.created", order, return_id=ret.id, number=ret.number, location=location.code, status=status)
    if status == "received":
        _receive(ret, location, actor=actor, now=now, shipping=q.shipping)
    db.session.flush()
    return ret


def _lines_of(ret: CustomerReturn) -> list[dict]:
    return [
        {"sku": line.product.sku, "quantity": line.quantity, "reason": line.reason, "condition": line.condition}
        for line in ret.lines
    ]


def _receive(ret: CustomerReturn, location: Location, *, actor: Actor, now: datetime, shipping: Decimal) -> None:
    order = ret.order
    stock.lock_levels([(location.id, line.product_id) for line in ret.lines], create=True)
    for line in ret.lines:
        stock.take_back(
            location, line.product, line.quantity, line.condition, actor=actor, reference=ret.number, reason=line.reason
        )
    ret.status, ret.received_at, ret.received_by, ret.location_id = "received", now, actor.label, location.id
    items = sum((payments.money(line.unit_refund) * line.quantity for line in ret.lines), Decimal("0.00"))
    txn = payments.refund(order, items + shipping, key=f"refund-R{ret.id}", actor=actor, return_id=ret.id)
    ret.refund_amount = payments.money(txn.amount) if txn is not None else Decimal("0.00")
    ret.shipping_refunded = min(shipping, ret.refund_amount)
    events.emit(
        "return.received",
        order,
        return_id=ret.id,
        number=ret.number,
        location=location.code,
        refund=str(ret.refund_amount),
        lines=_lines_of(ret),
    )
    customer_messages.return_received(ret)


def receive(ret: CustomerReturn, location: Location, *, actor: Actor, now: datetime | None = None) -> CustomerReturn:
    """A return announced by post arrives at a store or the warehouse: its units into that location's stock by their
    condition, the refund sent. Received already: nothing changes."""
    now = now or utcnow()
    orders.lock_order(ret.order)
    db.session.refresh(ret)
    if ret.status == "received":
        return ret
    if not location.active:
        raise InvalidInput(N_("This location is closed."), field="location")
    after = returnable(ret.order)
    everything_left = set(left_stores(ret.order)) == {ol.id for ol in ret.order.lines}
    shipping = (
        payments.shipping_fee(ret.order)
        if everything_left and not any(after.values()) and payments.has_payment(ret.order)
        else Decimal("0.00")
    )
    _receive(ret, location, actor=actor, now=now, shipping=shipping)
    audit.record(
        actor, "return.receive", ret.order, {"status": "expected"}, {"return": ret.number, "at": location.code}
    )
    db.session.flush()
    return ret


# --- quarantine -------------------------------------------------------------------------------------------------


def quarantined(location: Location) -> list[ReturnLine]:
    """Returned units at this location waiting for a manager's decision, oldest first."""
    return list(
        db.session.scalars(
            select(ReturnLine)
            .join(CustomerReturn, CustomerReturn.id == ReturnLine.return_id)
            .where(
                CustomerReturn.location_id == location.id,
                CustomerReturn.status == "received",
                ReturnLine.condition == "inspect",
                ReturnLine.outcome.is_(None),
            )
            .order_by(ReturnLine.id)
        )
    )


def decide(line: ReturnLine, outcome: str, *, actor: Actor, now: datetime | None = None) -> ReturnLine:
    """A manager's decision on a returned line in quarantine: `resellable` (on sale here) or `damaged`. The same
    decision again changes nothing; a different one once decided is refused."""
    if outcome not in ("resellable", "damaged"):
        raise InvalidInput(N_("Choose resellable or damaged."), field="outcome")
    ret = line.customer_return
    orders.lock_order(ret.order)
    db.session.refresh(line)
    if line.condition != "inspect" or ret.status != "received":
        raise ReturnRefused(N_("This item is not waiting for inspection."))
    if line.outcome is not None:
        if line.outcome == outcome:
            return line
        raise ReturnRefused(N_("This item was already inspected."))
    stock.decide_quarantined(ret.location, line.product, line.quantity, outcome, actor=actor, reference=ret.number)
    line.outcome, line.decided_at, line.decided_by = outcome, now or utcnow(), actor.label
    audit.record(
        actor, "return.inspected", ret.order, None, {"return": ret.number, "sku": line.product.sku, "outcome": outcome}
    )
    db.session.flush()
    return line


def get_return(return_id) -> CustomerReturn:
    found = (
        db.session.get(CustomerReturn, return_id) if isinstance(return_id, int) and 0 < return_id <= MAX_ID else None
    )
    if found is None:
        raise NotFound()
    return found
