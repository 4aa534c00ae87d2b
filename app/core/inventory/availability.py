"""Availability to promise per channel: stock less reservations, safety stock and the channel's buffer.

The web shop reads it through `available_to_promise` and `nearby_stores`: one Core query each, plain tuples out,
no ORM objects. `availability` keeps the ORM form for callers that already hold products and locations.
"""

import functools
from dataclasses import dataclass, field

from sqlalchemy import Float, and_, bindparam, case, func, literal_column, null, select, true, union_all

from app.core.models import ChannelBuffer, Location, Product, StockLevel
from app.core.ordering.sourcing import distance_km
from app.extensions import db

PRODUCT, LOCATION, STOCK, BUFFER = (m.__table__ for m in (Product, Location, StockLevel, ChannelBuffer))
KM_PER_DEGREE_OF_LATITUDE = 111.0  # a little under 6371 km x pi / 180, so the band never cuts off a store in range


def availability(products: list[Product], locations: list[Location], channel: str | None = None) -> dict:
    """{(location code, sku): units a channel may promise}, zero where nothing is stocked."""
    levels = db.session.scalars(
        select(StockLevel).where(
            StockLevel.location_id.in_([loc.id for loc in locations]),
            StockLevel.product_id.in_([p.id for p in products]),
        )
    ).all()
    by_key = {(lv.location_id, lv.product_id): lv.available for lv in levels}
    buffers = {}
    if channel:
        rows = db.session.scalars(select(ChannelBuffer).where(ChannelBuffer.channel == channel)).all()
        buffers = {row.location_id: row.units for row in rows}
    return {
        (loc.code, p.sku): max(0, by_key.get((loc.id, p.id), 0) - buffers.get(loc.id, 0))
        for loc in locations
        for p in products
    }


def _promisable(location_id, product_id, product_active, channel: bool):
    """max(0, on_hand - reserved - safety_stock - channel buffer) as SQL; 0 where there is no stock row, and for a
    product no longer sold (inactive: its units are never offered).

    Returns the column and the outer joins it needs (the stock row, and the buffer of the `channel` parameter)."""
    units = STOCK.c.on_hand - STOCK.c.reserved - STOCK.c.safety_stock
    joins = [(STOCK, and_(STOCK.c.location_id == location_id, STOCK.c.product_id == product_id))]
    if channel:
        units = units - func.coalesce(BUFFER.c.units, 0)
        joins.append((BUFFER, and_(BUFFER.c.location_id == location_id, BUFFER.c.channel == bindparam("channel"))))
    # No stock row: units is NULL, the comparison is NULL, so the ELSE branch answers 0.
    return case((and_(product_active, units > 0), units), else_=literal_column("0")), joins


@functools.cache
def _promise_statement(channel: bool, named_locations: bool):
    """The one query of `available_to_promise`, built once per shape (SKUs and codes are expanding parameters),
    so each call only binds values: SQLAlchemy then reuses the compiled SQL without rebuilding the statement.

    It returns the grid (found locations x found products, zero where there is no stock row) and, as rows with
    the other code NULL, each found product and location, so unknown codes are known even when the grid is empty."""
    products = select(PRODUCT.c.id, PRODUCT.c.sku, PRODUCT.c.active).where(
        PRODUCT.c.sku.in_(bindparam("skus", expanding=True))
    )
    products = products.cte("p")
    locations = select(LOCATION.c.id, LOCATION.c.code).where(LOCATION.c.active)
    if named_locations:
        locations = locations.where(LOCATION.c.code.in_(bindparam("codes", expanding=True)))
    locations = locations.cte("l")
    units, joins = _promisable(locations.c.id, products.c.id, products.c.active, channel)
    grid = locations.join(products, true())
    for table, on in joins:
        grid = grid.outerjoin(table, on)
    return union_all(
        select(locations.c.code, products.c.sku, units).select_from(grid),
        select(null(), products.c.sku, null()),
        select(locations.c.code, null(), null()),
    )


@dataclass
class Promise:
    """What `available_to_promise` found: (location code, sku, units) sorted by location then SKU, and the codes
    that name nothing ({code: "sku" | "location"}).

    `locations` (the found location codes, sorted) and `units` ({sku: [units at each of `locations`]}) are the same
    figures grouped by product, the form the availability cache keeps."""

    rows: list[tuple[str, str, int]] = field(default_factory=list)
    unknown: dict[str, str] = field(default_factory=dict)
    locations: list[str] = field(default_factory=list)
    units: dict[str, list[int]] = field(default_factory=dict)


def promise_by_product(skus: list[str], location_codes: list[str], channel: str | None = None) -> Promise:
    """Units each location can promise for each SKU, in one query, grouped by product (`Promise.units`, no rows);
    every active location when none is named."""
    stmt = _promise_statement(bool(channel), bool(location_codes))
    params = {"skus": skus, "codes": location_codes, "channel": channel}
    found_skus, found_codes, grid = set(), set(), []
    for row in db.session.execute(stmt, params).all():
        code, sku = row[0], row[1]
        if code is None:
            found_skus.add(sku)
        elif sku is None:
            found_codes.add(code)
        else:
            grid.append(row)
    unknown = {
        **{s: "sku" for s in set(skus) - found_skus},
        **{c: "location" for c in set(location_codes) - found_codes},
    }
    if unknown:
        return Promise(unknown=unknown)
    # Sorted here, not in SQL: Python's code-point order is today's order whatever the database's collation.
    locations = sorted(found_codes)
    position = {code: i for i, code in enumerate(locations)}
    units = {sku: [0] * len(locations) for sku in found_skus}
    for code, sku, n in grid:
        units[sku][position[code]] = n
    return Promise(locations=locations, units=units)


def available_to_promise(skus: list[str], location_codes: list[str], channel: str | None = None) -> Promise:
    """Units each location can promise for each SKU, in one query; every active location when none is named."""
    promise = promise_by_product(skus, location_codes, channel)
    if not promise.unknown:
        by_sku = sorted(promise.units.items())
        promise.rows = [(code, sku, units[i]) for i, code in enumerate(promise.locations) for sku, units in by_sku]
    return promise


@functools.cache
def _nearby_statement(channel: bool):
    """The one query of `nearby_stores`: the product (none when the SKU is unknown) left-joined to the active
    stores in the latitude band of the radius, with what each can promise."""
    latitude, band = bindparam("latitude", type_=Float), bindparam("band", type_=Float)
    stores = and_(
        LOCATION.c.active,
        LOCATION.c.kind == "store",
        LOCATION.c.latitude.between(latitude - band, latitude + band),
    )
    units, joins = _promisable(LOCATION.c.id, PRODUCT.c.id, PRODUCT.c.active, channel)
    source = PRODUCT.outerjoin(LOCATION, stores)
    for table, on in joins:
        source = source.outerjoin(table, on)
    columns = (LOCATION.c.code, LOCATION.c.name, LOCATION.c.city, LOCATION.c.latitude, LOCATION.c.longitude, units)
    return select(*columns).select_from(source).where(PRODUCT.c.sku == bindparam("sku"))


def nearby_stores(
    sku: str, latitude: float, longitude: float, radius_km: float, channel: str | None = None
) -> list[tuple[float, str, str, str, int]] | None:
    """Active stores within a radius that can promise the product, nearest first, in one query:
    [(distance km, code, name, city, units)], or None when the SKU names no product."""
    # No store further north or south than the band can be in range; distances are then computed here.
    params = {"sku": sku, "latitude": latitude, "band": radius_km / KM_PER_DEGREE_OF_LATITUDE, "channel": channel}
    rows = db.session.execute(_nearby_statement(bool(channel)), params).all()
    if not rows:
        return None
    found = []
    for code, name, city, lat, lon, n in rows:
        if code is None or n <= 0:
            continue  # the product exists but no store is in the band, or this one cannot promise it
        distance = distance_km(latitude, longitude, lat, lon)
        if distance is not None and distance <= radius_km:
            found.append((distance, code, name, city, n))
    return sorted(found, key=lambda row: (row[0], row[1]))


def recommendations(product: Product, location: Location, limit: int = 10, channel: str | None = None) -> list:
    """Other products a location can promise now, same category first, then the best stocked."""
    rows = db.session.execute(
        select(Product, StockLevel)
        .join(StockLevel, StockLevel.product_id == Product.id)
        .where(StockLevel.location_id == location.id, Product.id != product.id, Product.active)
        .where(StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock > 0)
    ).all()
    units = availability([p for p, _ in rows], [location], channel) if rows else {}
    ranked = sorted(
        ((p, units[(location.code, p.sku)]) for p, _ in rows if units[(location.code, p.sku)] > 0),
        key=lambda pair: (pair[0].category != product.category, -pair[1], pair[0].sku),
    )
    return ranked[:limit]
