"""The counter look-up: what a code scanned or typed at a store names, within that store's own work.

One rule for every scan bar that is not in the middle of a task (queue, stock, an order's screen): a pick-list
barcode, a customer's pickup code (or a bag label) of an order on this store's hold shelf, a parcel's tracking
number, an order number ("APP-A-200432") or the channel's own reference, else a product by SKU, GTIN or extra
barcode. A code that names another store's pick list, parcel or order answers
"elsewhere" and carries nothing of it.
"""

import re
from dataclasses import dataclass, field

from sqlalchemy import select

from app.core.floor import pickups
from app.core.inventory.catalogue import find_product
from app.core.models import Fulfilment, FulfilmentLine, Order, Parcel, PickList, Product, ShippingLabel, StockLevel
from app.core.models.base import MAX_ID
from app.core.models.orders import open_statuses_clause
from app.extensions import db

MAX_CODE = 64
PICK_LIST_RE = re.compile(r"^P(\d{6,12})$")  # PickList.number: P and at least six digits
OPEN_ORDERS_SHOWN = 20


@dataclass
class Found:
    """What a code names: kind is "order", "pick_list", "pickup", "product", "elsewhere" (another store's) or
    "unknown"."""

    kind: str
    code: str
    fulfilment: Fulfilment | None = None
    pick_list: PickList | None = None
    product: Product | None = None
    level: StockLevel | None = None
    open_work: list[Fulfilment] = field(default_factory=list)


def _pick_list(store, code: str) -> Found | None:
    match = PICK_LIST_RE.match(code.upper())
    pick_list = db.session.get(PickList, int(match.group(1))) if match and int(match.group(1)) <= MAX_ID else None
    if pick_list is None:
        return None
    if pick_list.location_id != store.id:
        return Found("elsewhere", code)
    return Found("pick_list", code, pick_list=pick_list)


def _ours(store, code: str, fulfilments) -> Found | None:
    """The store's newest fulfilment among these, or "elsewhere" when they are all another store's."""
    fulfilments = list(fulfilments)
    if not fulfilments:
        return None
    mine = [f for f in fulfilments if f.location_id == store.id]
    if not mine:
        return Found("elsewhere", code)
    return Found("order", code, fulfilment=max(mine, key=lambda f: f.id))


def _pickup(store, code: str) -> Found | None:
    """A customer's pickup code (the QR they show, or read out, with or without the dash) of an order waiting on
    this store's hold shelf, or one of its bag labels."""
    text = code.upper()
    if not (text.startswith("BAG-") or len(pickups.normalise_code(text)) == pickups.CODE_LENGTH):
        return None
    found = [f for f in pickups.find_at_counter(store, text) if f.status == "ready_for_pickup"]
    return Found("pickup", code, fulfilment=found[0]) if len(found) == 1 else None


def _tracking(store, code: str) -> Found | None:
    stmt = (
        select(Fulfilment)
        .join(Parcel, Parcel.fulfilment_id == Fulfilment.id)
        .join(ShippingLabel, ShippingLabel.parcel_id == Parcel.id)
        .where(ShippingLabel.tracking_number == code.upper())
    )
    return _ours(store, code, db.session.scalars(stmt).unique())


def _order(store, code: str) -> Found | None:
    """By order number (CHANNEL-REFERENCE, as screens and slips print it) or by the channel's reference alone;
    both from the index on external_ref."""
    channel, dash, rest = code.partition("-")
    by_number = {rest, rest.upper()} if dash and rest else set()
    refs = {code, code.upper()} | by_number
    stmt = (
        select(Fulfilment, Order.channel, Order.external_ref)
        .join(Order, Order.id == Fulfilment.order_id)
        .where(Order.external_ref.in_(sorted(refs)))
    )
    return _ours(
        store,
        code,
        (
            fulfilment
            for fulfilment, order_channel, ref in db.session.execute(stmt)
            if ref.upper() == code.upper() or (order_channel == channel.lower() and ref in by_number)
        ),
    )


def _product(store, code: str) -> Found | None:
    product = find_product(code)
    if product is None:
        return None
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == store.id, StockLevel.product_id == product.id)
    )
    open_work = db.session.scalars(
        select(Fulfilment)
        .where(
            Fulfilment.location_id == store.id,
            open_statuses_clause(),
            Fulfilment.id.in_(select(FulfilmentLine.fulfilment_id).where(FulfilmentLine.product_id == product.id)),
        )
        .order_by(Fulfilment.id)
        .limit(OPEN_ORDERS_SHOWN)
    ).all()
    return Found("product", code, product=product, level=level, open_work=list(open_work))


def look_up(store, code: str) -> Found:
    """What a scanned code names at this store (see the module docstring for the order of the rules)."""
    code = (code or "").strip()
    if not code or len(code) > MAX_CODE:
        return Found("unknown", code[:MAX_CODE])
    for rule in (_pick_list, _pickup, _tracking, _order, _product):
        found = rule(store, code)
        if found is not None:
            return found
    return Found("unknown", code)
