"""Stock sync from POS and ERP: absolute counts and batches of movements, both idempotent."""

from flask.views import MethodView
from flask_babel import gettext
from sqlalchemy import select

from app.api import api_actor, api_blueprint, require_scope
from app.api.idempotency import idempotent
from app.api.schemas import (
    ApiErrorSchema,
    MovementBatchOutSchema,
    MovementBatchSchema,
    StockCountSchema,
    StockLevelOutSchema,
)
from app.core.errors import N_, NotFound
from app.core.inventory import stock
from app.core.models import Location, Product, StockLevel
from app.extensions import db

blp = api_blueprint("api_stock", "/api/v1/stock", "Stock counts and movements from POS and ERP")
IDEMPOTENCY_HEADER = {
    "in": "header",
    "name": "Idempotency-Key",
    "required": True,
    "schema": {"type": "string", "maxLength": 120},
}


def _location_and_product(code: str, sku: str) -> tuple[Location, Product]:
    location = db.session.scalar(select(Location).where(Location.code == code))
    product = db.session.scalar(select(Product).where(Product.sku == sku))
    if location is None or product is None:
        raise NotFound(N_("Unknown location or SKU."))
    return location, product


def _level_out(location, product, uncovered: int = 0) -> dict:
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
    ) or StockLevel(on_hand=0, reserved=0, safety_stock=0)
    warning = None
    if uncovered:
        warning = gettext(
            "The count is %(n)s below the units reserved for open orders; they stay reserved.", n=uncovered
        )
    return {
        "location": location.code,
        "sku": product.sku,
        "on_hand": level.on_hand,
        "reserved": level.reserved,
        "safety_stock": level.safety_stock,
        "available": level.available,
        "uncovered_reserved": uncovered,
        "warning": warning,
    }


@blp.route("/<location_code>/<sku>")
class StockCount(MethodView):
    @require_scope("stock:write")
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(StockCountSchema)
    @blp.response(200, StockLevelOutSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def put(self, body, location_code, sku):
        """Set the absolute on-hand count; reservations of open orders are never dropped."""
        location, product = _location_and_product(location_code, sku)
        uncovered = stock.sync_count(location, product, body["on_hand"], actor=api_actor(), reference="api:count")
        return _level_out(location, product, uncovered)

    @require_scope("stock:read")
    @blp.response(200, StockLevelOutSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, location_code, sku):
        """One product's stock at one location."""
        location, product = _location_and_product(location_code, sku)
        return _level_out(location, product)


@blp.route("/movements")
class Movements(MethodView):
    @require_scope("stock:write")
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(MovementBatchSchema)
    @blp.response(200, MovementBatchOutSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def post(self, body):
        """Apply up to 10,000 signed deltas, all or nothing; every refused line is named."""
        return {"applied": stock.apply_movements(body["movements"], actor=api_actor())}
