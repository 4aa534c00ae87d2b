"""Availability to promise per channel: stock less reservations, safety stock and the channel's buffer."""

from sqlalchemy import select

from app.core.models import ChannelBuffer, Location, Product, StockLevel
from app.core.sourcing import distance_km
from app.extensions import db


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


def nearby(product: Product, latitude: float, longitude: float, radius_km: float, channel: str | None = None) -> list:
    """Open stores within a radius that can promise the product, nearest first."""
    stores = db.session.scalars(select(Location).where(Location.active, Location.kind == "store")).all()
    distances = {s.code: distance_km(latitude, longitude, s.latitude, s.longitude) for s in stores}
    close = [s for s in stores if distances[s.code] is not None and distances[s.code] <= radius_km]
    units = availability([product], close, channel)
    found = [(distances[s.code], s, units[(s.code, product.sku)]) for s in close if units[(s.code, product.sku)] > 0]
    return sorted(found, key=lambda row: (row[0], row[1].code))


def recommendations(product: Product, location: Location, limit: int = 10, channel: str | None = None) -> list:
    """Other products a location can promise now, same category first, then the best stocked."""
    rows = db.session.execute(
        select(Product, StockLevel)
        .join(StockLevel, StockLevel.product_id == Product.id)
        .where(StockLevel.location_id == location.id, Product.id != product.id)
        .where(StockLevel.on_hand - StockLevel.reserved - StockLevel.safety_stock > 0)
    ).all()
    units = availability([p for p, _ in rows], [location], channel) if rows else {}
    ranked = sorted(
        ((p, units[(location.code, p.sku)]) for p, _ in rows if units[(location.code, p.sku)] > 0),
        key=lambda pair: (pair[0].category != product.category, -pair[1], pair[0].sku),
    )
    return ranked[:limit]
