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
    StockChangePageSchema,
    StockChangeQuerySchema,
    StockCountSchema,
    StockLevelOutSchema,
    StockSettingsSchema,
)
from app.core.errors import N_, NotFound
from app.core.inventory import buffers, changes, stock
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
        "buffers": buffers.channel_buffers(location),
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

    @require_scope("stock:write")
    @idempotent
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @blp.arguments(StockSettingsSchema)
    @blp.response(200, StockLevelOutSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def patch(self, body, location_code, sku):
        """Set the safety stock of a product at a location and/or the location's channel buffers.

        `safety_stock` is kept back from every online channel for this product here. `buffers` ({channel: units})
        belong to the location: each is held back from what that channel is shown of every product there. Both
        are recorded in the audit trail; unnamed settings are left as they are.
        """
        location, product = _location_and_product(location_code, sku)
        actor = api_actor()
        wanted = buffers.check_buffers(body.get("buffers", {}))
        if "safety_stock" in body:
            stock.set_safety_stock(location, product, body["safety_stock"], actor=actor)
        for channel, units in wanted.items():
            buffers.set_channel_buffer(location, channel, units, actor=actor)
        return _level_out(location, product)

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


@blp.route("/changes")
class Changes(MethodView):
    @require_scope("stock:read")
    @blp.arguments(StockChangeQuerySchema, location="query")
    @blp.response(200, StockChangePageSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Every stock movement after a cursor, in commit order, with its reason, reference and resulting on hand.

        Start with `after=0` (or a cursor you kept) and always pass `next_cursor` back as `after`: you get every
        ledger movement exactly once, in commit order, none skipped, whatever the order in which concurrent
        writers committed. An empty `items` means nothing newer yet: ask again later with the same `after`.
        `delta` is the change to on hand; reservations and their releases have delta 0 (they change what can be
        sold, not what is there). The same movements are pushed in batches per location by the `stock.changed`
        webhook.
        """
        changes.sequence()  # number what has committed, in a transaction of its own
        # End the read the request began (authentication): the feed then reads in a snapshot that includes the
        # positions just given. Nothing was written.
        db.session.rollback()
        items = changes.changes_after(query["after"], query["limit"])
        return {"items": items, "next_cursor": items[-1]["cursor"] if items else query["after"]}
