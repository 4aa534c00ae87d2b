"""Availability for the web shop: what each location can promise, and stores nearby."""

from flask.views import MethodView
from sqlalchemy import select

from app.api import api_blueprint, require_scope
from app.api.schemas import (
    ApiErrorSchema,
    AvailabilityQuerySchema,
    AvailabilityRowSchema,
    NearbyQuerySchema,
    NearbyRowSchema,
    RecommendationQuerySchema,
    RecommendationSchema,
)
from app.core import availability as core
from app.core.errors import N_, InvalidInput
from app.core.models import Location, Product
from app.extensions import db

blp = api_blueprint("api_availability", "/api/v1/availability", "Availability to promise")
MAX_CODES = 200


def _codes(text: str | None) -> list[str]:
    codes = [c.strip() for c in (text or "").split(",") if c.strip()]
    if len(codes) > MAX_CODES:
        raise InvalidInput(N_("Too many codes in one request."), fields={"skus": "too_many"})
    return codes


@blp.route("")
class Availability(MethodView):
    @require_scope("stock:read")
    @blp.arguments(AvailabilityQuerySchema, location="query")
    @blp.response(200, AvailabilityRowSchema(many=True))
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Units each location can promise for each SKU, after reservations, safety stock and channel buffer."""
        skus, codes = _codes(query["skus"]), _codes(query.get("locations"))
        products = db.session.scalars(select(Product).where(Product.sku.in_(skus))).all()
        stmt = select(Location).where(Location.active).order_by(Location.code)
        locations = db.session.scalars(stmt.where(Location.code.in_(codes)) if codes else stmt).all()
        unknown = {
            **{s: "sku" for s in set(skus) - {p.sku for p in products}},
            **{c: "location" for c in set(codes) - {loc.code for loc in locations}},
        }
        if unknown:
            raise InvalidInput(
                N_("Unknown codes."), fields={f"{kind}:{code}": "unknown" for code, kind in unknown.items()}
            )
        units = core.availability(products, locations, query.get("channel"))
        return [{"sku": sku, "location": loc, "available": n} for (loc, sku), n in sorted(units.items())]


@blp.route("/nearby")
class Nearby(MethodView):
    @require_scope("stock:read")
    @blp.arguments(NearbyQuerySchema, location="query")
    @blp.response(200, NearbyRowSchema(many=True))
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Stores within a radius that have the product, nearest first."""
        product = db.session.scalar(select(Product).where(Product.sku == query["sku"]))
        if product is None:
            raise InvalidInput(N_("Unknown product code."), fields={"sku": "unknown"})
        rows = core.nearby(product, query["latitude"], query["longitude"], query["radius_km"], query.get("channel"))
        return [
            {"location": s.code, "name": s.name, "city": s.city, "distance_km": round(d, 1), "available": n}
            for d, s, n in rows
        ]


recommendations_blp = api_blueprint("api_recommendations", "/api/v1/recommendations", "Products to suggest together")


@recommendations_blp.route("")
class Recommendations(MethodView):
    @require_scope("stock:read")
    @recommendations_blp.arguments(RecommendationQuerySchema, location="query")
    @recommendations_blp.response(200, RecommendationSchema(many=True))
    @recommendations_blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Products in stock at the same location (same category first), to ship or collect together."""
        product = db.session.scalar(select(Product).where(Product.sku == query["sku"]))
        location = db.session.scalar(select(Location).where(Location.code == query["location"], Location.active))
        fields = {**({} if product else {"sku": "unknown"}), **({} if location else {"location": "unknown"})}
        if fields:
            raise InvalidInput(N_("Unknown codes."), fields=fields)
        rows = core.recommendations(product, location, query["limit"], query.get("channel"))
        return [{"sku": p.sku, "name": p.name, "category": p.category, "available": n} for p, n in rows]
