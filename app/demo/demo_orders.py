"""Demo orders: planned in memory from the scenarios, then created and moved through the core."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select, tuple_

from app.core.inventory import stock
from app.core.models import Location, Order
from app.core.ordering import orders
from app.core.ordering.orders import LineDraft, OrderDraft
from app.demo.customers import ADDRESSES, Address, Customer, make_customer
from app.demo.floor import advance, gift_for
from app.demo.locations import BY_CODE
from app.demo.products import ProductSpec
from app.demo.scenarios import AGE_MINUTES, COLLECT, SCENARIOS, SHIP
from app.extensions import db

WAREHOUSE = "WH01"
CHANNELS = {
    SHIP: (["web", "app", "marketplace", "callcentre"], [45, 25, 20, 10]),
    COLLECT: (["web", "app", "callcentre"], [55, 35, 10]),
}
REF_PREFIX = {"web": ("W", 100100), "app": ("A", 200400), "marketplace": ("MP", 310000), "callcentre": ("CC", 400050)}
PAYMENT_PREFIX = {"web": "PSP", "app": "PSP", "marketplace": "MKP", "callcentre": "TEL"}
SHIPPING_FEE, FREE_SHIPPING_FROM = Decimal("4.90"), Decimal("80.00")
CANCEL_REASONS = {"fr": "Annulée à la demande du client", "it": "Annullato su richiesta del cliente"}


@dataclass
class PartPlan:
    code: str
    line_indexes: list[int]
    final: str
    reroute_to: str | None = None  # rejected here, then given to this location...
    reroute_final: str = "created"  # ...which brings it this far
    twist: str = ""  # click & collect after staging: arrived, partial, putback (see app.demo.scenarios)
    transfer_to: str | None = None  # click & collect sent from this part's location to that pickup store


@dataclass
class OrderPlan:
    channel: str
    external_ref: str
    customer: Customer
    method: str
    address: Address | None
    pickup_code: str | None
    lines: list[tuple[str, int]]
    age_minutes: int
    promised_in_hours: int
    promised_hour: int  # UTC hour of the promise: stores promise round times within opening hours
    payment_reference: str
    needs_review: bool = False
    cancel: bool = False
    parts: list[PartPlan] = field(default_factory=list)


def _pick_lines(rng, pool: dict[str, int], specs: dict[str, ProductSpec], count: int, also=None, exclude=()):
    """Choose up to count SKUs promisable at a location (and at `also` if given), not yet taken from it."""
    candidates = [
        sku
        for sku, units in pool.items()
        if units > 0 and sku not in exclude and (also is None or also.get(sku, 0) > 0)
    ]
    lines = []
    for sku in rng.sample(candidates, min(count, len(candidates))):
        spec = specs[sku]
        quantity = 2 if not spec.sized and spec.stock_range[0] >= 3 and rng.random() < 0.25 else 1
        quantity = min(quantity, pool[sku], also[sku] if also is not None else quantity)
        lines.append((sku, quantity))
    return lines


def _take(pool: dict[str, int], lines) -> None:
    for sku, quantity in lines:
        pool[sku] -= quantity


def plan_orders(rng, promisable: dict[str, dict[str, int]], specs: dict[str, ProductSpec]) -> list[OrderPlan]:
    """Turn the scenarios into concrete orders; deterministic for a given generator state."""
    pools = {code: dict(units) for code, units in promisable.items()}
    plans = []
    for code, method, final, twist in SCENARIOS:
        store = BY_CODE[code]
        channels, weights = CHANNELS[method]
        channel = rng.choices(channels, weights)[0]
        address = rng.choice(ADDRESSES[code]) if method == SHIP else None
        customer = make_customer(rng, address.country if address else store.country)
        count = rng.choices([1, 2, 3], [50, 35, 15])[0]
        part = PartPlan(code, [], final)
        parts = [part]
        if twist.startswith("split:"):
            own = _pick_lines(rng, pools[code], specs, max(1, count - 1))
            _take(pools[code], own)
            extra = _pick_lines(rng, pools[WAREHOUSE], specs, 1, exclude={sku for sku, _ in own})
            _take(pools[WAREHOUSE], extra)
            lines = own + extra
            part.line_indexes = list(range(len(own)))
            parts.append(PartPlan(WAREHOUSE, list(range(len(own), len(lines))), twist.split(":")[1]))
        elif twist.startswith("transfer:"):
            source = twist.split(":")[1]
            lines = _pick_lines(rng, pools[source], specs, count)
            _take(pools[source], lines)
            part.code, part.transfer_to = source, code
        elif twist.startswith("reroute:"):
            lines = _pick_lines(rng, pools[code], specs, count, also=pools[WAREHOUSE])
            _take(pools[WAREHOUSE], lines)  # the store's units are released when it rejects
            part.reroute_to, part.reroute_final = WAREHOUSE, twist.split(":")[1]
        else:
            lines = _pick_lines(rng, pools[code], specs, max(count, 2) if twist == "partial" else count)
            part.twist = twist if twist in {"arrived", "partial", "putback"} else ""
            if twist != "cancel":  # a cancelled order gives its units back
                _take(pools[code], lines)
        if not lines:  # nothing left to sell there
            continue
        if not part.line_indexes:
            part.line_indexes = list(range(len(lines)))
        age = rng.randint(*AGE_MINUTES.get(final, (60, 600)))
        hours = rng.randint(48, 96) if method == SHIP else rng.randint(4, 30)
        plans.append(
            OrderPlan(
                channel=channel,
                external_ref="",
                customer=customer,
                method=method,
                address=address,
                pickup_code=code if method == COLLECT else None,
                lines=lines,
                age_minutes=age,
                promised_in_hours=max(hours - age // 60, 3),
                promised_hour=rng.choice([9, 11, 13, 15, 16]),
                payment_reference=f"{PAYMENT_PREFIX[channel]}-{rng.getrandbits(40):010X}",
                needs_review=twist == "review",
                cancel=twist == "cancel",
                parts=parts,
            )
        )
    plans.sort(key=lambda plan: -plan.age_minutes)  # references grow with time, oldest first
    counters = {channel: start for channel, (_, start) in REF_PREFIX.items()}
    for plan in plans:
        counters[plan.channel] += rng.randint(1, 9)
        plan.external_ref = f"{REF_PREFIX[plan.channel][0]}-{counters[plan.channel]}"
    return plans


def _draft(plan: OrderPlan, specs: dict[str, ProductSpec], now: datetime) -> OrderDraft:
    total = sum((specs[sku].price * quantity for sku, quantity in plan.lines), Decimal("0"))
    fee = SHIPPING_FEE if plan.method == SHIP and total < FREE_SHIPPING_FROM else Decimal("0.00")
    total += fee
    promised = (now + timedelta(hours=plan.promised_in_hours)).replace(
        hour=plan.promised_hour, minute=0, second=0, microsecond=0
    )
    if promised < now + timedelta(hours=2):
        promised += timedelta(days=1)
    gift_wrap, gift_message = gift_for(plan.external_ref, plan.method, plan.customer.language)
    return OrderDraft(
        gift_wrap=gift_wrap,
        gift_message=gift_message,
        channel=plan.channel,
        external_ref=plan.external_ref,
        customer_name=plan.customer.name,
        delivery_method=plan.method,
        customer_email=plan.customer.email,
        customer_phone=plan.customer.phone,
        customer_language=plan.customer.language,
        lines=[LineDraft(code=sku, quantity=quantity, unit_price=specs[sku].price) for sku, quantity in plan.lines],
        ship_to=plan.address.ship_to() if plan.address else {},
        pickup_location_code=plan.pickup_code,
        promised_by=promised,
        payment_reference=plan.payment_reference,
        payment_amount=total,
        currency="EUR",
        # The built-in test provider answers the demo's captures and voids at once (app.core.payments.providers).
        payment_provider="test",
        shipping_fee=fee,
        needs_review=plan.needs_review,
    )


def _can_serve(location: Location, quantities: dict) -> bool:
    return all(stock.available_to_promise(location, line.product) >= q for line, q in quantities.items())


def _choose_location(code: str, method: str, quantities: dict, locations: dict[str, Location]) -> Location | None:
    """The planned location if it has the stock, else (for deliveries) the warehouse or another shipping store."""
    candidates = [locations[code]]
    if method == SHIP:
        candidates += [locations[WAREHOUSE]] + [
            loc for c, loc in sorted(locations.items()) if c not in (code, WAREHOUSE) and BY_CODE[c].ships_from_store
        ]
    return next((loc for loc in candidates if _can_serve(loc, quantities)), None)


def _fulfil(order, plan: OrderPlan, part: PartPlan, locations, received: datetime, *, actor) -> int:
    """Assign one part of an order and take it as far as planned; return fulfilments created."""
    quantities = {order.lines[i]: order.lines[i].quantity for i in part.line_indexes}
    if not quantities:
        return 0
    location = _choose_location(part.code, plan.method, quantities, locations)
    if location is None:
        return 0
    transfer_to = locations[part.transfer_to] if part.transfer_to else None
    fulfilment = orders.assign_fulfilment(
        order, location, quantities, actor=actor, now=received, transfer_to=transfer_to
    )
    if part.final != "rejected":
        advance(fulfilment, plan.method, part.final, actor=actor, received=received, twist=part.twist)
        return 1
    orders.reject_fulfilment(fulfilment, reason="out_of_stock", actor=actor)
    rerouted = _choose_location(part.reroute_to, plan.method, quantities, locations)
    if rerouted is None:
        return 1
    later = received + timedelta(minutes=25)
    second = orders.assign_fulfilment(order, rerouted, quantities, actor=actor, now=later)
    advance(second, plan.method, part.reroute_final, actor=actor, received=later)
    return 2


def apply_orders(
    plans: list[OrderPlan], specs: dict[str, ProductSpec], locations: dict[str, Location], now: datetime, *, actor
) -> tuple[int, int, int]:
    """Create the orders not there yet and fulfil them; return (orders created, existing, fulfilments created)."""
    keys = [(plan.channel, plan.external_ref) for plan in plans]
    rows = db.session.execute(
        select(Order.channel, Order.external_ref).where(tuple_(Order.channel, Order.external_ref).in_(keys))
    )
    existing = {(channel, ref) for channel, ref in rows}
    created = fulfilments = 0
    for plan in plans:
        if (plan.channel, plan.external_ref) in existing:
            continue
        received = now - timedelta(minutes=plan.age_minutes)
        order, _ = orders.create_order(_draft(plan, specs, now), actor=actor)
        created += 1
        for part in plan.parts:
            fulfilments += _fulfil(order, plan, part, locations, received, actor=actor)
        if plan.cancel:
            language = "it" if BY_CODE[plan.parts[0].code].country == "IT" else "fr"
            orders.cancel_order(order, reason=CANCEL_REASONS[language], actor=actor)
    return created, len(existing), fulfilments
