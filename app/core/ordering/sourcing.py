"""Sourcing: which locations serve an order, ranked with reasons, every decision stored.

Rules live in the database (app.core.ordering.rules, edited by admins), not here. Ship orders: eligible
locations (active, holding stock of a line, ship-from-store offered and not paused, warehouses if the
rules allow, capacity left in the store's local day, not excluded, product not blocked) are ranked:
serves everything first, then most units, then a score in kilometre-equivalents (distance to the
customer, open workload, share of today's capacity used, priority). One location serves the order when
it can; otherwise the fewest-split plan up to the rules' max_splits. Click & collect orders are served by
the pickup store; what it lacks is either refused or transferred from other locations, by rule.

Under load: candidates come from one query over the stock rows of the order's products (so the cost
follows the locations holding them, not the catalogue), and the same SKU on several lines is one demand.
That query is the first look: it ranks every location holding the products in SQL (every unit first, then
most units, then distance less priority) and returns the rows of the nearest SITES that can serve and of
the first KEEP refused, with how many there are in all. Only those SITES are examined (their workload read
with them on PostgreSQL, in one GROUP BY over open work on SQLite, then ranked by score); the others are read
again, fresh, only when those could not place everything: on a chain of 200 stores an order reads and looks at
20 locations, not at the 150 that hold its products. The plan is made on stock rows
locked in canonical order and read again, POOL candidates at a time, so two orders racing for the last
units never both fail: the later one plans from what is really left.
"""

import math
from dataclasses import dataclass, field
from functools import cache, cached_property

from sqlalchemy import Float, and_, bindparam, case, cast, func, or_, select
from sqlalchemy.orm.exc import StaleDataError

from app import metrics
from app.core import audit, batch, payments
from app.core.actor import Actor
from app.core.errors import N_, ConcurrentChange, IllegalTransition, InvalidInput
from app.core.integration import customer_messages, events
from app.core.inventory import stock
from app.core.models import (
    DeliveryMethod,
    Fulfilment,
    FulfilmentLine,
    Location,
    Order,
    Product,
    ProductBlock,
    SourcingDecision,
    SourcingRules,
    StockLevel,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import any_of, utcnow
from app.core.models.orders import open_statuses_clause
from app.core.ordering import geo, hours, rules
from app.core.ordering.orders import (
    assign_fulfilment,
    assigned_quantity,
    fulfilment_reference,
    lock_order,
    reject_fulfilment,
    transition,
)
from app.extensions import db

SITES = 20  # locations examined at a time, nearest first (after priority): their workload read, then ranked
POOL = 4  # candidates locked and planned at a time, best first: few rows locked, so orders for one SKU overlap less
KEEP = 10  # ranked candidates, and refused ones, stored with a decision; the others are counted in its notes


def distance_km(lat1, lon1, lat2, lon2) -> float | None:
    """Great-circle distance, or None when a point has no coordinates."""
    if None in (lat1, lon1, lat2, lon2):
        return None
    return _distances_from(lat1, lon1)(lat2, lon2)


def _distances_from(lat1, lon1):
    """distance_km from one point to others, the same figures, with what depends on that point worked out once."""
    p1, lon1 = math.radians(float(lat1)), float(lon1)
    cos_p1 = math.cos(p1)
    radians, sin, cos, asin, sqrt = math.radians, math.sin, math.cos, math.asin, math.sqrt

    def distance(lat2, lon2) -> float | None:
        if lat2 is None or lon2 is None:
            return None
        p2 = radians(float(lat2))
        dp, dl = p2 - p1, radians(float(lon2) - lon1)
        a = sin(dp / 2) ** 2 + cos_p1 * cos(p2) * sin(dl / 2) ** 2
        return 6371.0 * 2 * asin(sqrt(a))

    return distance


SITE_COLUMNS = (
    Location.id,
    Location.code,
    Location.latitude,
    Location.longitude,
    Location.timezone,
    Location.daily_capacity,
    Location.sourcing_priority,
    Location.ships_from_store,
    Location.ship_paused,
)


@dataclass(slots=True, eq=False)
class Site:
    """What sourcing needs of a location, read with its stock (no ORM object per location); one per location in a
    sourcing run, so it is hashed and compared as itself."""

    id: int
    code: str
    latitude: float | None
    longitude: float | None
    timezone: str
    daily_capacity: int
    sourcing_priority: int
    ships_from_store: bool
    ship_paused: bool


@dataclass
class Candidate:
    location: Site
    available: dict  # product id -> units it can give now
    distance: float | None
    open_work: int
    capacity_left: int
    rules: SourcingRules
    blocked: list = field(default_factory=list)  # SKUs blocked here
    blocked_ids: set = field(default_factory=set)
    first_rank: tuple = ()  # rank(demand) on the figures first read (set by _candidates)

    def covers(self, needed: dict) -> int:
        return sum(min(self.available.get(key, 0), qty) for key, qty in needed.items())

    @cached_property
    def score(self) -> float:
        """Kilometre-equivalents, lower is better (nothing it depends on changes during a sourcing run)."""
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
        covers = self.covers(needed)
        return (covers != sum(needed.values()), -covers, round(self.score, 3), self.location.code)


@dataclass
class Origin:
    """Where the goods must go, for distances: the customer, or the pickup store of a transfer."""

    latitude: float | None
    longitude: float | None
    note: str


def _needed(order: Order) -> dict:
    """Units of each line the customer still wants (cancelled ones left out) that no location was given."""
    return {
        line: line.wanted - assigned_quantity(line) for line in order.lines if line.wanted > assigned_quantity(line)
    }


def _by_product(needed: dict) -> dict:
    """Demand per product: the same SKU on several lines is one demand, served as one line would be."""
    demand: dict = {}
    for line, qty in needed.items():
        demand[line.product_id] = demand.get(line.product_id, 0) + qty
    return demand


def _to_lines(needed: dict, take: dict) -> dict:
    """Spread units per product back over the order lines that need them, first line first; takes from needed."""
    lines = {}
    for line in sorted(needed, key=lambda item: item.line_no):
        units = min(needed[line], take.get(line.product_id, 0))
        if units:
            lines[line] = units
            needed[line] -= units
            take = {**take, line.product_id: take[line.product_id] - units}
    return lines


def _customer_origin(order: Order) -> Origin:
    if order.ship_latitude is not None and order.ship_longitude is not None:
        return Origin(order.ship_latitude, order.ship_longitude, "customer coordinates from the address")
    found = geo.locate(order.ship_country or "", order.ship_postcode or "")
    if found:
        lat, lon, area = found
        return Origin(lat, lon, f"customer coordinates from postcode area {area}")
    return Origin(None, None, "no coordinates for the address or its postcode: distance neutral")


@cache
def _workload_statement(days: int, postgresql: bool):
    """Open fulfilments per location and, for each of `days` local day starts (since_0 the earliest), those created
    since: built once per shape, and on PostgreSQL the same SQL text whatever the number of locations."""
    is_open = open_statuses_clause()  # literal statuses: the partial index on open work serves it
    since = [bindparam(f"since_{i}") for i in range(days)]
    return (
        select(
            Fulfilment.location_id,
            func.sum(case((is_open, 1), else_=0)),
            *[func.sum(case((Fulfilment.created_at >= day, 1), else_=0)) for day in since],
        )
        .where(any_of(Fulfilment.location_id, postgresql), or_(is_open, Fulfilment.created_at >= since[0]))
        .group_by(Fulfilment.location_id)
    )


def _workload(sites, now) -> tuple[dict, dict]:
    """Open fulfilments per location, and fulfilments created since its local midnight: one GROUP BY.

    Stores in zones whose local midnight is the same instant (Paris and Rome) share one count; the statement has
    one count per distinct instant, and each location reads the one of its zone."""
    if not sites:
        return {}, {}
    starts = {zone: hours.local_day_start(zone, now) for zone in {site.timezone for site in sites}}
    days = sorted(set(starts.values()))
    column = {site.id: 2 + days.index(starts[site.timezone]) for site in sites}
    statement = _workload_statement(len(days), db.session.get_bind().dialect.name == "postgresql")
    params = {"ids": list(column), **{f"since_{i}": day for i, day in enumerate(days)}}
    open_work, today = {}, {}
    # Core rows, fetched at once: no ORM result processing, and no fetch per row
    for row in db.session.connection().execute(statement, params).all():
        open_work[row[0]], today[row[0]] = int(row[1] or 0), int(row[column[row[0]]] or 0)
    return open_work, today


@cache
def _first_look_statement(
    products: int, only: bool, skip: bool, no_warehouses: bool, shipping: bool, origin: bool, workload: bool = False
):
    """The stock rows of an order's products at the locations a first look picks: the best `upto` locations that can
    serve (ranked without their workload: every unit first, then most units, then distance less priority), and the
    first `keep` refused whatever their workload (already failed, not shipping, every product blocked) by code. Each
    location is ranked and counted in SQL (window functions, on PostgreSQL and SQLite alike), so only the rows of
    those few locations reach Python, whatever the number of locations holding the products. Built once per shape.

    workload (PostgreSQL): each location that can serve also comes with its workload, as _workload counts it (open
    fulfilments, and those created since the local midnight of its own timezone), two index look-ups each for the
    few rows shown: one statement an order instead of two. SQLite has no time zones, and reads it with _workload.
    """
    atp = StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock
    blocked = ProductBlock.id.is_not(None)
    units = case((blocked, 0), else_=atp)
    wanted = case(
        *[(StockLevel.product_id == bindparam(f"product_{i}"), bindparam(f"wanted_{i}")) for i in range(products)]
    )
    ids = [bindparam(f"product_{i}") for i in range(products)]
    takes = case((units < wanted, units), else_=wanted)
    # One row per location (GROUP BY its id): what it can give of each product, and whether it is blocked there.
    per_product = []
    for i in range(products):
        this = StockLevel.product_id == bindparam(f"product_{i}")
        per_product += [
            func.sum(case((this, units), else_=0)).label(f"units_{i}"),
            func.max(case((and_(this, blocked), 1), else_=0)).label(f"blocked_{i}"),
        ]
    covers = func.sum(takes)
    refusal = [(Location.code.in_(bindparam("exclude", expanding=True)), "failed")]
    if shipping:
        refusal += [(Location.ship_paused, "paused"), (~Location.ships_from_store, "no_ship")]
    refusal = case(*refusal, (func.sum(case((blocked, 0), else_=1)) == 0, "blocked"), else_=None)
    if origin:  # distance_km's figures (haversine), in SQL
        p2 = func.radians(cast(Location.latitude, Float))
        half_dp = (p2 - bindparam("origin_lat", type_=Float)) / 2
        half_dl = func.radians(cast(Location.longitude, Float) - bindparam("origin_lon", type_=Float)) / 2
        a = func.sin(half_dp) * func.sin(half_dp) + bindparam("origin_cos", type_=Float) * func.cos(p2) * func.sin(
            half_dl
        ) * func.sin(half_dl)
        distance = func.coalesce(6371.0 * 2 * func.asin(func.sqrt(a)), bindparam("unknown", type_=Float))
    else:
        distance = bindparam("unknown", type_=Float)
    least = distance - bindparam("priority_km", type_=Float) * Location.sourcing_priority
    eligible = refusal.is_(None)
    # Window functions over the locations (after the GROUP BY): eligible ones ranked, refused ones by code.
    place = func.row_number().over(
        partition_by=eligible,
        order_by=[
            case((eligible, case((covers == bindparam("total"), 0), else_=1)), else_=0),
            case((eligible, -covers), else_=0),
            case((eligible, least), else_=0),
            Location.code,
        ],
    )
    sites = (
        select(
            *SITE_COLUMNS,
            refusal.label("refusal"),
            place.label("place"),
            func.count().over(partition_by=eligible).label("among"),
            *per_product,
        )
        .join(Location, Location.id == StockLevel.location_id)
        .join(Product, Product.id == StockLevel.product_id)
        .outerjoin(
            ProductBlock,
            and_(ProductBlock.location_id == StockLevel.location_id, ProductBlock.product_id == StockLevel.product_id),
        )
        # The product ids on both sides: the planner then looks the products up by key instead of hashing the
        # whole catalogue, and reads the stock rows from ix_stock_level_product_id_location_id alone.
        .where(StockLevel.product_id.in_(ids), Product.id.in_(ids), Product.active, Location.active, atp > 0)
        .group_by(Location.id)
    )
    if only:
        sites = sites.where(Location.id == bindparam("only"))
    if skip:
        sites = sites.where(Location.id != bindparam("skip"))
    if no_warehouses:
        sites = sites.where(Location.kind != "warehouse")
    sites = sites.subquery()
    keep = bindparam("keep")
    shown = or_(
        and_(sites.c.refusal.is_(None), sites.c.place <= bindparam("upto")),
        # every location that already failed the order, so that those not holding stock can be told apart
        and_(sites.c.refusal.is_not(None), or_(sites.c.place <= keep, and_(sites.c.refusal == "failed", keep > 0))),
    )
    extra = []
    if workload:
        f = Fulfilment.__table__.alias("workload")
        here = f.c.location_id == sites.c.id
        now = bindparam("now", type_=Fulfilment.__table__.c.created_at.type)
        # The UTC instant of the location's local midnight (hours.local_day_start), in its own timezone
        midnight = func.timezone(sites.c.timezone, func.date_trunc("day", func.timezone(sites.c.timezone, now)))
        counts = {
            "open_work": select(func.count()).where(here, open_statuses_clause(f.c.status)),
            "today": select(func.count()).where(here, f.c.created_at >= midnight),
        }
        # Only for those that can serve (PostgreSQL evaluates a CASE branch only when it is taken)
        extra = [case((sites.c.refusal.is_(None), q.scalar_subquery())).label(k) for k, q in counts.items()]
    return select(sites, *extra).where(shown).order_by(sites.c.refusal.is_not(None), sites.c.place)


@dataclass
class FirstLook:
    """What a first look found: the locations that can serve, best first ([_Waiting]), how many there are in all,
    the refused ones shown (by code) and how many were refused in all."""

    waiting: list
    eligible: int
    refused: list
    refused_count: int


def _stocked_sites(
    demand: dict,
    r: SourcingRules,
    *,
    origin: Origin | None,
    exclude: set,
    shipping: bool,
    upto: int | None = None,
    keep: int | None = None,
    only=None,
    skip=None,
    now=None,
) -> FirstLook:
    """One query: the best `upto` locations holding the products (every one when None) and the first `keep` refused
    ones (all when None), with every location that already failed the order; see _first_look_statement. Given
    `now`, on PostgreSQL, the workload of those that can serve comes with them."""
    products = sorted(demand)
    located = origin is not None and origin.latitude is not None and origin.longitude is not None
    workload = now is not None and db.session.get_bind().dialect.name == "postgresql"
    stmt = _first_look_statement(
        len(products),
        only is not None,
        skip is not None,
        bool(shipping and not r.ship_from_warehouses),
        shipping,
        located,
        workload,
    )
    many = 1 << 30
    params = {
        **{f"product_{i}": pid for i, pid in enumerate(products)},
        **{f"wanted_{i}": demand[pid] for i, pid in enumerate(products)},
        "total": sum(demand.values()),
        "exclude": sorted(exclude),
        "unknown": float(r.unknown_distance_km),
        "priority_km": float(r.priority_km),
        "upto": many if upto is None else upto,
        "keep": many if keep is None else keep,
        "only": only,
        "skip": skip,
    }
    if workload:
        params["now"] = now
    if located:
        p1 = math.radians(float(origin.latitude))
        params.update(origin_lat=p1, origin_lon=float(origin.longitude), origin_cos=math.cos(p1))
    distance_to = _distances_from(origin.latitude, origin.longitude) if located else None
    look, refused = FirstLook([], 0, [], 0), []
    width = len(SITE_COLUMNS)
    # Core rows, fetched at once: no ORM result processing, and no fetch per row
    for row in db.session.connection().execute(stmt, params).all():
        site = Site(*row[:width])
        refusal, among = row[width], row[width + 2]
        available, blocked_ids = {}, set()
        for i, pid in enumerate(products):
            units, is_blocked = row[width + 3 + 2 * i], row[width + 4 + 2 * i]
            available[pid] = 0 if is_blocked else int(units or 0)
            if is_blocked:
                blocked_ids.add(pid)
        if refusal is None:
            look.eligible = among
            distance = distance_to(site.latitude, site.longitude) if distance_to is not None else None
            waiting = _Waiting(site, available, distance, [], blocked_ids)
            if workload:
                waiting.open_work, waiting.today = int(row[-2]), int(row[-1])
            look.waiting.append(waiting)
        else:
            look.refused_count = among
            refused.append((site, refusal, blocked_ids))
    if any(w.blocked_ids for w in look.waiting) or any(ids for _, _, ids in refused):  # SKUs to name
        skus = {product.id: product.sku for product in _products(products)}
        for w in look.waiting:
            w.blocked = sorted(skus[pid] for pid in w.blocked_ids)
    else:
        skus = {}
    look.refused = [_static_refusal(site, refusal, sorted(skus[p] for p in ids)) for site, refusal, ids in refused]
    return look


def _products(ids: list[int]) -> list:
    """The products sourcing is asked about, from the session when the order loaded them (no statement)."""
    found = [db.session.identity_map.get(db.session.identity_key(Product, pid)) for pid in ids]
    if all(found):
        return found
    return db.session.scalars(select(Product).where(Product.id.in_(ids))).all()


def _static_refusal(site: Site, refusal: str, blocked_skus: list) -> dict:
    why = {
        "failed": "already failed this order",
        "paused": "ship-from-store paused",
        "no_ship": "does not ship",
        "blocked": "product blocked here: " + ", ".join(blocked_skus),
    }[refusal]
    return _refusal(site.code, why, refusal, blocked_skus if refusal == "blocked" else ())


def _refusal(code: str, why: str, refusal: str, skus=()) -> dict:
    return {"location": code, "eligible": False, "reasons": [why], "refusal": refusal, "skus": list(skus)}


@dataclass(slots=True, eq=False)
class _Waiting:
    """A location holding stock that nothing rules out before its workload is read, as the first look ranked it."""

    site: Site
    available: dict
    distance: float | None
    blocked: list
    blocked_ids: set
    open_work: int | None = None  # read with it by the first look (PostgreSQL), else by _workload
    today: int | None = None


def _examine(waiting: list[_Waiting], demand: dict, now, r: SourcingRules, refused: list) -> list[Candidate]:
    """Rank these locations by score, best first, with their workload (read by the first look on PostgreSQL, else
    here in one GROUP BY); those without capacity left today join the refused."""
    if all(w.today is not None for w in waiting):  # the first look read it
        open_work = {w.site.id: w.open_work for w in waiting}
        today = {w.site.id: w.today for w in waiting}
    else:
        open_work, today = _workload([w.site for w in waiting], now)
    ranked = []
    for w in waiting:
        site = w.site
        capacity = site.daily_capacity - today.get(site.id, 0)
        if capacity <= 0:
            refused.append(_refusal(site.code, "no capacity left today", "no_capacity"))
            continue
        c = Candidate(site, w.available, w.distance, open_work.get(site.id, 0), capacity, r, w.blocked, w.blocked_ids)
        c.first_rank = c.rank(demand)
        ranked.append(c)
    ranked.sort(key=lambda c: c.first_rank)
    return ranked


def _sorted_refusals(refused: list, exclude: set) -> list[dict]:
    refused.sort(key=lambda c: c["location"])
    return refused + [
        _refusal(code, "already failed this order", "failed")
        for code in sorted(exclude - {c["location"] for c in refused})
    ]


def _candidates(
    demand: dict, exclude: set, now, r: SourcingRules, origin: Origin | None, shipping: bool, **where
) -> tuple[list[Candidate], list[dict]]:
    """Every eligible location holding stock, ranked best first, and the refused ones (holding stock or excluded),
    why: what customer service chooses from (sourcing itself examines the nearest SITES at a time, _source)."""
    look = _stocked_sites(demand, r, origin=origin, exclude=exclude, shipping=shipping, now=now, **where)
    ranked = _examine(look.waiting, demand, now, r, look.refused)
    return ranked, _sorted_refusals(look.refused, exclude)


def _plan(ranked: list[Candidate], needed: dict, max_splits: int) -> list[tuple[Candidate, dict]]:
    remaining, plan = dict(needed), []
    pool = list(ranked)
    while pool and any(remaining.values()) and len(plan) < max_splits:
        best = min(pool, key=lambda c: c.rank(remaining))
        take = {key: min(best.available.get(key, 0), qty) for key, qty in remaining.items()}
        take = {key: qty for key, qty in take.items() if qty > 0}
        if not take:
            break
        plan.append((best, take))
        pool.remove(best)
        for key, qty in take.items():
            remaining[key] -= qty
    return plan


def _plan_locked(
    ranked: list[Candidate], demand: dict, max_splits: int, remaining: dict | None = None
) -> tuple[list, list[Candidate]]:
    """Plan what remains of the demand (all of it by default) on locked, fresh stock figures, POOL candidates at a
    time, best first.

    Another order may have taken the units read a moment ago: the rows are locked in canonical order and read
    again, and the plan is made from what is really there; what that batch cannot give is planned on the next.
    Returns the plan and the candidates looked at (with their fresh figures).
    """
    plan, seen, remaining = [], [], dict(demand if remaining is None else remaining)
    for start in range(0, len(ranked), POOL):
        if not any(remaining.values()) or len(plan) >= max_splits:
            break
        batch = ranked[start : start + POOL]
        wanted = [pid for pid, qty in remaining.items() if qty > 0]
        levels = stock.lock_levels([(c.location.id, pid) for c in batch for pid in wanted])
        for c in batch:
            c.available = {
                pid: 0
                if pid in c.blocked_ids or (c.location.id, pid) not in levels
                else levels[(c.location.id, pid)].available
                for pid in demand
            }
        seen += batch
        step = _plan(batch, {pid: remaining[pid] for pid in wanted}, max_splits - len(plan))
        plan += step
        for _, take in step:
            for pid, qty in take.items():
                remaining[pid] -= qty
    seen.sort(key=lambda c: c.rank(demand))
    return plan, seen


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


def _explain(ranked, seen, refused, plan, demand, notes, role="", unlisted=0) -> list[dict]:
    """The best KEEP candidates (fresh figures where they were locked), every chosen one, and KEEP refusals
    (`unlisted`: refused locations the first look counted but did not read)."""
    chosen = {c.location.code for c, _ in plan}
    looked = {c.location.code for c in seen}
    # Those read again under lock are ranked on their fresh figures; the others keep their first rank (unchanged).
    shown = sorted(
        seen + [c for c in ranked if c.location.code not in looked],
        key=lambda c: c.rank(demand) if c.location.code in looked else c.first_rank,
    )
    kept = [c for c in shown[:KEEP]] + [c for c in shown[KEEP:] if c.location.code in chosen]
    if len(shown) > len(kept):
        notes.append(f"{len(shown) - len(kept)} more eligible locations not listed")
    if len(refused) + unlisted > KEEP:
        notes.append(f"{len(refused) + unlisted - KEEP} more refused locations not listed")
    return [_describe(c, demand, c.location.code in chosen, role) for c in kept] + refused[:KEEP]


def _source(demand, exclude, now, r, origin, shipping, max_splits, notes, role="", **where):
    """Plan on the nearest SITES locations that can serve (their workload read in one GROUP BY, then ranked by
    score); the next ones only when those could not serve everything (out of stock meanwhile, no capacity left,
    max splits not reached). The cost follows SITES, not the number of locations holding the products."""
    look = _stocked_sites(
        demand, r, origin=origin, exclude=exclude, shipping=shipping, upto=SITES, keep=KEEP, now=now, **where
    )
    refused, waiting = look.refused, look.waiting
    unlisted = look.refused_count - len(refused)  # counted by the first look, not read
    ranked, plan, seen, remaining, examined = [], [], [], dict(demand), set()
    while waiting:
        batch_, waiting = waiting[:SITES], waiting[SITES:]
        examined |= {w.site.id for w in batch_}
        found = _examine(batch_, demand, now, r, refused)
        ranked += found
        step, looked = _plan_locked(found, demand, max_splits - len(plan), remaining)
        plan += step
        seen += looked
        remaining = _subtract(remaining, step)
        if not remaining or len(plan) >= max_splits or len(examined) >= look.eligible:
            break
        if not waiting:  # the rest, read again (fresh figures) once the nearest could not place everything
            rest = _stocked_sites(
                demand, r, origin=origin, exclude=exclude, shipping=shipping, keep=0, now=now, **where
            )
            waiting = [w for w in rest.waiting if w.site.id not in examined]
    if look.eligible > len(examined):
        notes.append(f"{look.eligible - len(examined)} farther locations holding stock not examined")
    ranked.sort(key=lambda c: c.first_rank)
    seen.sort(key=lambda c: c.rank(demand))
    return plan, _explain(ranked, seen, _sorted_refusals(refused, exclude), plan, demand, notes, role, unlisted)


def _subtract(demand: dict, plan) -> dict:
    left = {pid: qty - sum(t.get(pid, 0) for _, t in plan) for pid, qty in demand.items()}
    return {pid: qty for pid, qty in left.items() if qty > 0}


def source_order(order: Order, *, actor: Actor, exclude=(), trigger: str = "new_order", now=None) -> SourcingDecision:
    """Assign what an order still needs to the best locations, reserve stock there, and record why."""
    now = now or utcnow()
    # Planning only reads (rules, stock rows, open work, places): what this transaction wrote so far stays pending
    # until the fulfilments are written, so the order's audit and event rows go out with theirs in one INSERT each.
    with db.session.no_autoflush:
        r = rules.current_rules()
        needed, exclude = _needed(order), set(exclude)
        demand = _by_product(needed)
        notes = [f"max splits {r.max_splits}"]
        transfers, plan, candidates = [], [], []
        if order.delivery_method == DeliveryMethod.COLLECT:
            pickup = order.pickup_location
            if demand:
                plan, candidates = _source(
                    demand, exclude, now, r, None, False, 1, notes, "pickup store", only=pickup.id
                )
            missing = _subtract(demand, plan)
            if missing and r.collect_shortage == "transfer" and r.max_splits > len(plan):
                notes.append(f"pickup store {pickup.code} lacks stock: transfer from another location (rule)")
                origin = Origin(pickup.latitude, pickup.longitude, f"transfers go to {pickup.code}")
                transfers, more = _source(
                    missing, exclude, now, r, origin, True, r.max_splits - len(plan), notes, "transfer", skip=pickup.id
                )
                candidates += more
            elif missing:
                notes.append(f"pickup store {pickup.code} lacks stock: refused (rule)")
        else:
            origin = _customer_origin(order)
            notes.insert(0, origin.note)
            if demand:
                plan, candidates = _source(demand, exclude, now, r, origin, True, r.max_splits, notes)
        pickup_code = order.pickup_location.code if order.pickup_location else None
        places = {
            loc.id: loc
            for loc in db.session.scalars(
                select(Location).where(Location.id.in_([c.location.id for c, _ in plan + transfers]))
            )
        }
    rows = [(c, t, None) for c, t in plan] + [(c, t, order.pickup_location) for c, t in transfers]
    left = dict(needed)
    assigned = []
    for candidate, take, transfer_to in rows:
        lines = _to_lines(left, take)
        assign_fulfilment(order, places[candidate.location.id], lines, actor=actor, now=now, transfer_to=transfer_to)
        assigned.append((candidate, lines, transfer_to))
    values = dict(
        order_id=order.id,
        trigger=trigger,
        actor=actor.label,
        candidates=candidates,
        plan=[
            {
                "location": c.location.code,
                "lines": {str(line.line_no): q for line, q in lines.items()},
                **({"transfer_to": pickup_code} if transfer_to is not None else {}),
            }
            for c, lines, transfer_to in assigned
        ],
        unfulfilled={
            str(line.line_no): qty for line, qty in sorted(left.items(), key=lambda i: i[0].line_no) if qty > 0
        },
        notes=notes,
    )
    decision = SourcingDecision(**values)
    newly_lost = _newly_unfulfilled(order, decision.unfulfilled) if trigger != "new_order" else {}
    rows = batch.pending()
    if rows is not None:  # order capture: written with the order's other rows (the decision stays transient)
        rows.add(SourcingDecision, values)
    else:
        db.session.add(decision)
    outcome = "full" if not decision.unfulfilled else "partial" if assigned else "none"
    metrics.count(metrics.SOURCING, trigger=trigger, outcome=outcome)
    order.latest_unfulfilled = decision.unfulfilled  # what the API answers with, without reading it back
    if decision.unfulfilled:
        order.needs_customer_service = True
        events.emit("order.needs_customer_service", order, unfulfilled=decision.unfulfilled)
    if newly_lost:
        _tell_cancelled(order, newly_lost)
    db.session.flush()
    return decision


def _newly_unfulfilled(order: Order, unfulfilled: dict) -> dict:
    """{line_no: units} no location could take now and the decision before still placed (the customer hears of
    them once, when they are lost: a rejection or a short pick that nothing could re-source)."""
    if not unfulfilled:
        return {}
    with db.session.no_autoflush:
        before = (
            db.session.scalar(
                select(SourcingDecision.unfulfilled)
                .where(SourcingDecision.order_id == order.id)
                .order_by(SourcingDecision.id.desc())
                .limit(1)
            )
            or {}
        )
    lost = {key: units - int(before.get(key, 0)) for key, units in unfulfilled.items()}
    return {key: units for key, units in lost.items() if units > 0}


def _tell_cancelled(order: Order, lost: dict) -> None:
    """The customer hears which units are cancelled and that the amount for them will not be charged."""
    lines = {line: lost[str(line.line_no)] for line in order.lines if str(line.line_no) in lost}
    amount = None
    if payments.has_payment(order):
        amount = sum((payments.money(line.unit_price) * units for line, units in lines.items()), payments.ZERO)
    customer_messages.order_cancelled(order, lines=lines, void_amount=amount or None)


def failed_locations(order: Order) -> set[str]:
    """Codes of the locations that rejected, let expire, or could not find part of this order."""
    return {
        f.location.code
        for f in order.fulfilments
        if f.status in {S.REJECTED, S.EXPIRED} or any(line.short for line in f.lines)
    }


def reject_and_reroute(fulfilment: Fulfilment, *, reason: str, actor: Actor) -> SourcingDecision:
    """Reject a fulfilment and re-source what it held, never back to a location that already failed it."""
    lock_order(fulfilment.order)
    reject_fulfilment(fulfilment, reason=reason, actor=actor)
    order = fulfilment.order
    decision = source_order(order, actor=actor, exclude=failed_locations(order), trigger="rejected")
    payments.void_remainder(order, actor=actor)  # nothing left anywhere: what was authorised is released
    return decision


def short_pick(line: FulfilmentLine, quantity: int, *, reason: str, actor: Actor) -> SourcingDecision:
    """Units of a line cannot be found: give their reservation back and re-source them elsewhere.

    The rest of the fulfilment goes on; a fulfilment left with nothing to pick is rejected.
    """
    fulfilment = line.fulfilment
    lock_order(fulfilment.order)
    if fulfilment.status not in {S.ACCEPTED, S.PICKING}:
        raise IllegalTransition(N_("Only work being picked can be short-picked."))
    left = line.quantity - line.picked - line.short
    if not isinstance(quantity, int) or isinstance(quantity, bool) or not 0 < quantity <= left:
        raise InvalidInput(N_("Short quantity must be from 1 to %(left)s."), field="quantity", left=max(left, 0))
    if not reason.strip():
        raise InvalidInput(N_("A reason is required."), field="reason")
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
    decision = source_order(order, actor=actor, exclude=failed_locations(order), trigger="short_pick")
    payments.void_remainder(order, actor=actor)
    return decision


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
            raise InvalidInput(N_("This line belongs to another order."), field="lines")
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


def _gives_back_everything(fulfilment: Fulfilment, chosen: dict) -> bool:
    """Whether {line: units} is every unit the fulfilment has left: the whole fulfilment is then rejected."""
    return all(chosen.get(line, 0) == _units_left(line) for line in fulfilment.lines)


def _damaged_movable(quantity: int, on_hand: int, reserved: int) -> int:
    """Damaged units that can be set aside: as many as given back, at most those on hand and unreserved."""
    return min(quantity, max(0, on_hand - reserved))


def _units_by_product(chosen: dict) -> dict:
    units: dict = {}
    for line, quantity in chosen.items():
        units[line.product] = units.get(line.product, 0) + quantity
    return units


@dataclass(frozen=True)
class StockEffect:
    """What a rejection will do to one product's stock row at the store (stock_effect_preview)."""

    sku: str
    name: str
    units: int  # units given back (their reservation here is released)
    effect: str  # "out_of_stock", "damaged" or "none"
    on_hand: int  # on hand now
    on_hand_after: int  # on hand once the rejection is done
    held_for_others: int  # units still held here for other orders after the release
    damaged: int = 0  # units set aside as damaged
    damaged_missing: int = 0  # damaged units given back that are not on the shelf to set aside


def stock_effect_preview(fulfilment: Fulfilment, chosen: dict, reason_code: str) -> list[StockEffect]:
    """What apply_stock_effect would do for {line: units} given back with this reason, changing nothing.

    The same rules: the reservations of the chosen units are released first; out of stock then counts on hand
    down to what other orders hold (stock.report_out_of_stock); damaged sets aside what is on hand unreserved.
    """
    units = _units_by_product(chosen)
    levels = {
        level.product_id: level
        for level in db.session.scalars(
            select(StockLevel).where(
                StockLevel.location_id == fulfilment.location_id,
                StockLevel.product_id.in_([product.id for product in units]),
            )
        )
    }
    effects = []
    for product, quantity in sorted(units.items(), key=lambda item: item[0].sku):
        level = levels.get(product.id)
        on_hand, reserved = (level.on_hand, level.reserved) if level else (0, 0)
        others = max(0, reserved - quantity)  # the chosen units' reservation is released before the effect
        after, damaged, missing, effect = on_hand, 0, 0, "none"
        if reason_code == "out_of_stock":
            effect, after = "out_of_stock", stock.on_hand_when_out_of_stock(others)
        elif reason_code == "damaged":
            effect = "damaged"
            damaged = _damaged_movable(quantity, on_hand, others)
            missing, after = quantity - damaged, on_hand - damaged
        effects.append(
            StockEffect(product.sku, product.name, quantity, effect, on_hand, after, others, damaged, missing)
        )
    return effects


def preview_rejection(fulfilment: Fulfilment, quantities: dict, reason_code: str, note: str) -> tuple[bool, list]:
    """Check a rejection as reject_lines would and say what it would do: (whole fulfilment?, [StockEffect])."""
    chosen = _check_rejection(fulfilment, quantities, reason_code, (note or "").strip())
    full = _gives_back_everything(fulfilment, chosen)
    return full, stock_effect_preview(fulfilment, chosen, reason_code)


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
        for product, quantity in _units_by_product(chosen).items():
            level = stock.level_for_update(location, product)
            movable = _damaged_movable(quantity, level.on_hand, level.reserved)
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
    lock_order(fulfilment.order)
    chosen = _check_rejection(fulfilment, quantities, reason_code, note)
    reason = f"{reason_code}: {note}" if note else reason_code
    order = fulfilment.order
    units = sum(chosen.values())
    full = _gives_back_everything(fulfilment, chosen)
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
    metrics.count(metrics.REJECTIONS, scope="lines", reason=metrics.rejection_reason(reason_code))
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
        raise InvalidInput(N_("A reason is required."), field="reason")
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
