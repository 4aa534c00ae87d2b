"""Request and response schemas: they validate bodies and generate the OpenAPI document."""

from flask_babel import gettext
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.core.floor.picking import SHORT_REASONS
from app.core.floor.pickups import ID_KINDS, REFUSAL_REASONS
from app.core.inventory.products import (  # products as the PIM sends them: shared with the file import
    MAX_BATCH,
    DimensionsSchema,
    ProductInSchema,
    ProductItemSchema,
)
from app.core.models.payments import HANDOVER_ON_FAILED_CAPTURE, NOTIFICATION_KINDS, RETURN_CONDITIONS, RETURN_REASONS
from app.core.ordering.payloads import (  # what is sent in: shared with the file imports
    CURRENCIES,
    MAX_DELTA,
    MAX_ID,
    MAX_ON_HAND,
    MONEY_PATTERN,
    AddressSchema,
    CustomerSchema,
    DeliverySchema,
    LineSchema,
    MovementInSchema,
    OrderInSchema,
    PaymentSchema,
)

__all__ = [
    "CURRENCIES",
    "MAX_DELTA",
    "MAX_ID",
    "MAX_ON_HAND",
    "MONEY_PATTERN",
    "AddressSchema",
    "CustomerSchema",
    "DeliverySchema",
    "LineSchema",
    "MovementInSchema",
    "OrderInSchema",
    "PaymentSchema",
    "ProductInSchema",
]


class FulfilmentLineOutSchema(Schema):
    sku = fields.Function(lambda line: line.product.sku)
    quantity = fields.Integer()
    picked = fields.Integer()
    short = fields.Integer()


class ParcelOutSchema(Schema):
    number = fields.Integer()
    carrier = fields.Function(lambda p: p.label.carrier.name if p.label else None, allow_none=True)
    service = fields.Function(lambda p: p.label.service.name if p.label else None, allow_none=True)
    tracking_number = fields.Function(lambda p: p.label.tracking_number if p.label else None, allow_none=True)
    weight_grams = fields.Integer(allow_none=True)
    handed_over_at = fields.DateTime(allow_none=True)
    label_pdf_url = fields.Function(lambda p: _label_url(p, "pdf"), allow_none=True)
    label_zpl_url = fields.Function(lambda p: _label_url(p, "zpl"), allow_none=True)


def _label_url(parcel, kind: str) -> str | None:
    from flask import url_for

    if parcel.label is None:
        return None
    endpoint = "api_parcels.LabelPdf" if kind == "pdf" else "api_parcels.LabelZpl"
    return url_for(endpoint, parcel_id=parcel.id, _external=True)


class FulfilmentOutSchema(Schema):
    id = fields.Integer()
    location = fields.Function(lambda f: f.location.code)
    transfer_to = fields.Function(
        lambda f: f.transfer_to.code if f.transfer_to else None,
        metadata={"description": "Click & collect served from another location: the pickup store it goes to"},
    )
    status = fields.String()
    accept_by = fields.DateTime()
    ready_by = fields.DateTime()
    lines = fields.List(fields.Nested(FulfilmentLineOutSchema))
    parcels = fields.List(fields.Nested(ParcelOutSchema))
    reship_of = fields.Integer(
        attribute="reship_of_id",
        allow_none=True,
        metadata={
            "description": "A re-shipment (customer service sent a lost or damaged parcel again, at no charge): the "
            "id of the fulfilment it replaces; null otherwise"
        },
    )


class OrderLineOutSchema(Schema):
    line_no = fields.Integer()
    sku = fields.Function(lambda line: line.product.sku)
    gtin = fields.Function(lambda line: line.product.gtin)
    quantity = fields.Integer(metadata={"description": "Units ordered"})
    cancelled = fields.Integer(
        metadata={
            "description": "Units customer service cancelled before they left a store (never captured); the "
            "customer still wants quantity - cancelled"
        }
    )


class OrderMessageSchema(Schema):
    """A message to the customer about the order, as the outbox holds it (no address)."""

    kind = fields.String(metadata={"description": "What it tells: " + ", ".join(NOTIFICATION_KINDS)})
    channel = fields.String(validate=validate.OneOf(["email", "sms"]))
    status = fields.String(validate=validate.OneOf(["pending", "sent", "failed"]))
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class _Messages(fields.List):
    """An order's messages, read from the outbox (customer_messages.messages_of)."""

    def get_value(self, obj, attr, accessor=None, default=None):
        from app.core.integration.customer_messages import messages_of

        queued = getattr(obj, "messages_queued", None)
        if queued is not None:  # captured in this request: what it queued, no need to read it back
            return list(queued)
        return messages_of([obj.id]).get(obj.id, [])


class OrderOutSchema(Schema):
    id = fields.Integer()
    channel = fields.String()
    external_ref = fields.String()
    status = fields.String()
    delivery_method = fields.String()
    needs_review = fields.Boolean()
    gift_wrap = fields.Boolean()
    gift_message = fields.String()
    needs_customer_service = fields.Boolean()
    promised_by = fields.DateTime(allow_none=True)
    created_at = fields.DateTime()
    lines = fields.List(fields.Nested(OrderLineOutSchema))
    fulfilments = fields.List(fields.Nested(FulfilmentOutSchema))
    unfulfilled = fields.Method("_unfulfilled", metadata={"description": "line_no -> units no location could take"})
    messages = _Messages(
        fields.Nested(OrderMessageSchema),
        metadata={"description": "What the customer was told about the order, oldest first, and whether it was sent"},
    )

    def _unfulfilled(self, order) -> dict:
        if hasattr(order, "latest_unfulfilled"):  # sourced in this request: no need to read it back
            return order.latest_unfulfilled
        from sqlalchemy import select

        from app.core.models import SourcingDecision
        from app.extensions import db

        decision = db.session.scalar(
            select(SourcingDecision).where(SourcingDecision.order_id == order.id).order_by(SourcingDecision.id.desc())
        )
        return decision.unfulfilled if decision else {}


class ApiErrorSchema(Schema):
    error = fields.String(required=True)
    message = fields.String(required=True)
    fields = fields.Dict(keys=fields.String(), values=fields.String())


class OrderQuerySchema(Schema):
    status = fields.String(validate=validate.OneOf(["open", "completed", "cancelled"]))
    location = fields.String(validate=validate.Length(min=1, max=16))
    updated_since = fields.AwareDateTime()
    q = fields.String(
        validate=validate.Length(min=1, max=120),
        metadata={
            "description": "The customer service search: a return number (RET-0000123), a bag label, a tracking "
            "number, the order number (CHANNEL-REF) or the channel's reference, a pickup code; else the customer's "
            "name (any part, accents and case ignored), e-mail (any part) or phone (digits compared, the last 9). "
            "Needs a word of 3 characters at least; combines with the other filters"
        },
    )
    needs_customer_service = fields.Boolean(
        metadata={"description": "true: only the orders flagged for customer service; false: only the others"}
    )
    cursor = fields.Integer(validate=validate.Range(min=0, max=MAX_ID))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class OrderPageSchema(Schema):
    items = fields.List(fields.Nested(OrderOutSchema))
    next_cursor = fields.Integer(allow_none=True)


class CancelSchema(Schema):
    reason = fields.String(required=True, validate=validate.Length(min=1, max=200))


def _amount(description: str):
    return fields.String(metadata={"example": "29.90", "description": description})


class PaymentTransactionSchema(Schema):
    id = fields.Integer()
    kind = fields.String(
        metadata={
            "enum": ["authorisation", "capture", "void", "refund"],
            "description": "authorisation: the web shop's, as sent with the order; capture: units that left a store "
            "(with the shipping fee on the first); void: what nothing will capture; refund: a return",
        }
    )
    amount = _amount("In the order's currency, as a decimal string")
    status = fields.String(
        metadata={
            "enum": ["pending", "succeeded", "failed"],
            "description": "pending: the provider has not answered yet (called again after a timeout); failed: "
            "declined, or no answer after every attempt (the order then needs customer service)",
        }
    )
    provider_reference = fields.String(
        metadata={"description": "The provider's reference of this step (the authorisation's, as sent)"}
    )
    created_at = fields.DateTime()
    fulfilment_id = fields.Integer(allow_none=True, metadata={"description": "The fulfilment a capture is for"})
    return_id = fields.Integer(allow_none=True, metadata={"description": "The return a refund is for"})
    attempts = fields.Integer(metadata={"description": "Calls made to the provider for this step"})
    last_error = fields.String(metadata={"description": "The provider's last refusal or timeout, if any"})


class PaymentSummarySchema(Schema):
    currency = fields.String()
    authorised = _amount("What the web shop authorised (0.00 when the order came without a payment)")
    captured = _amount("Captured and confirmed by the provider")
    refunded = _amount("Refunded and confirmed by the provider")
    voided = _amount("Released and confirmed by the provider")
    transactions = fields.List(fields.Nested(PaymentTransactionSchema), metadata={"description": "Oldest first"})


class TimelineEventSchema(Schema):
    at = fields.DateTime(attribute="created_at")
    actor = fields.String()
    action = fields.String()
    subject = fields.Function(lambda e: f"{e.subject_type}:{e.subject_id}")
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)


class StockCountSchema(Schema):
    on_hand = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=MAX_ON_HAND))


class StockLevelOutSchema(Schema):
    location = fields.String()
    sku = fields.String()
    on_hand = fields.Integer()
    reserved = fields.Integer()
    safety_stock = fields.Integer()
    available = fields.Integer()
    uncovered_reserved = fields.Integer(metadata={"description": "reserved units the count did not cover"})
    warning = fields.String(allow_none=True)
    buffers = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "Units the location holds back from each channel (every product there)"},
    )


class StockSettingsSchema(Schema):
    """What the store keeps back: safety stock of this product, and channel buffers of the location."""

    safety_stock = fields.Integer(
        strict=True,
        validate=validate.Range(min=0, max=MAX_ON_HAND),
        metadata={"description": "Units of this product kept back from every online channel at the location"},
    )
    buffers = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=32)),
        values=fields.Integer(strict=True, validate=validate.Range(min=0, max=MAX_ON_HAND)),
        validate=validate.Length(min=1, max=50),
        metadata={
            "description": "{channel: units}: units the location holds back from what that channel is shown. A "
            "buffer belongs to the location and channel, so it applies to every product there; 0 holds nothing back"
        },
    )

    @validates_schema
    def _something(self, data, **kwargs):
        if "safety_stock" not in data and "buffers" not in data:
            message = gettext("Give safety_stock, buffers or both.")
            raise ValidationError({"safety_stock": [message], "buffers": [message]})


class StockChangeQuerySchema(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={
            "description": "The `cursor` of the last change you saw (0 to start from the beginning). Changes with "
            "a higher cursor are returned in commit order: following it you get every movement exactly once."
        },
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=1000),
        metadata={"description": "Most changes in one answer"},
    )


class StockChangeSchema(Schema):
    cursor = fields.Integer(metadata={"description": "Place of the movement in commit order: pass the last as `after`"})
    location = fields.String()
    sku = fields.String()
    delta = fields.Integer(metadata={"description": "Change to on hand (0 for a reservation or its release)"})
    on_hand = fields.Integer(
        allow_none=True,
        metadata={"description": "On hand after this movement (null for movements recorded before the feed existed)"},
    )
    kind = fields.String(
        metadata={"description": "receive, adjust, count, sync, reserve, release, pick, ship, return or damage"}
    )
    reason = fields.String()
    reference = fields.String()
    at = fields.DateTime(metadata={"description": "When the movement was recorded (ISO 8601, UTC)"})


class StockChangePageSchema(Schema):
    items = fields.List(fields.Nested(StockChangeSchema))
    next_cursor = fields.Integer(
        metadata={"description": "Pass as `after` next time: the last item's cursor, or your `after` when empty"}
    )


class MovementBatchSchema(Schema):
    movements = fields.List(fields.Nested(MovementInSchema), required=True, validate=validate.Length(min=1, max=10_000))


class MovementBatchOutSchema(Schema):
    applied = fields.Integer()


class AvailabilityQuerySchema(Schema):
    skus = fields.String(
        required=True, validate=validate.Length(min=1, max=2000), metadata={"description": "comma-separated"}
    )
    locations = fields.String(
        validate=validate.Length(min=1, max=2000), metadata={"description": "comma-separated; all when absent"}
    )
    channel = fields.String(validate=validate.Length(min=1, max=32))


class AvailabilityRowSchema(Schema):
    sku = fields.String()
    location = fields.String()
    available = fields.Integer()


class NearbyQuerySchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    latitude = fields.Float(required=True, validate=validate.Range(-90.0, 90.0))
    longitude = fields.Float(required=True, validate=validate.Range(-180.0, 180.0))
    radius_km = fields.Float(load_default=25.0, validate=validate.Range(0.1, 500.0))
    channel = fields.String(validate=validate.Length(min=1, max=32))


class NearbyRowSchema(Schema):
    location = fields.String()
    name = fields.String()
    city = fields.String()
    distance_km = fields.Float()
    available = fields.Integer()


class RecommendationQuerySchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    location = fields.String(required=True, validate=validate.Length(min=1, max=16))
    channel = fields.String(validate=validate.Length(min=1, max=32))
    limit = fields.Integer(load_default=10, validate=validate.Range(min=1, max=50))


class RecommendationSchema(Schema):
    sku = fields.String()
    name = fields.String()
    category = fields.String()
    available = fields.Integer()


class EventQuerySchema(Schema):
    after = fields.Integer(
        load_default=0,
        validate=validate.Range(min=0, max=MAX_ID),
        metadata={
            "description": "The `position` of the last event you saw (0 to start from the beginning). Events with "
            "a higher position are returned in commit order: following this cursor you get every event exactly "
            "once, none skipped."
        },
    )
    limit = fields.Integer(
        load_default=100,
        validate=validate.Range(min=1, max=500),
        metadata={"description": "Most events in one answer"},
    )


class EventSchema(Schema):
    id = fields.Integer(metadata={"description": "The event's identifier (also in webhooks); not in commit order"})
    position = fields.Integer(
        metadata={"description": "Place of the event in commit order: pass the last one you saw as `after`"}
    )
    type = fields.String()
    created_at = fields.DateTime()
    payload = fields.Dict()


def _whole(low: int, high: int, **kwargs):
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kwargs)


class SourcingRulesSchema(Schema):
    """The retailer's routing rules. Ship orders: full coverage first, then the lowest score in km-equivalents."""

    max_splits = _whole(1, 5, metadata={"description": "Most locations one order may be split over"})
    collect_shortage = fields.String(
        validate=validate.OneOf(["refuse", "transfer"]),
        metadata={"description": "Click & collect when the pickup store lacks stock"},
    )
    pickup_expiry = fields.String(
        validate=validate.OneOf(["cancel", "customer_service"]),
        metadata={
            "description": "A click & collect order nobody came for once its hold ended: cancelled, or kept open "
            "and flagged needs_customer_service (its units wait off sale on the put-back list either way)"
        },
    )
    ship_from_warehouses = fields.Boolean()
    workload_km_per_order = _whole(0, 1000, metadata={"description": "Score added per open fulfilment"})
    capacity_km = _whole(0, 1000, metadata={"description": "Score added at 100% of today's capacity used"})
    priority_km = _whole(0, 1000, metadata={"description": "Score removed per point of location priority"})
    unknown_distance_km = _whole(0, 2000, metadata={"description": "Distance assumed without coordinates"})


class RetailerSettingsSchema(Schema):
    """The retailer's payment, return and customer message settings, and whether productivity is shown per person
    (PATCH: at least one; the others stay)."""

    return_window_days = _whole(0, 365, metadata={"description": "Days after delivery or collection a return is taken"})
    return_reasons = fields.List(
        fields.String(validate=validate.OneOf(RETURN_REASONS)),
        validate=validate.Length(min=1),
        metadata={"description": "The reasons a return offers, in this order (at least one)"},
    )
    failed_capture = fields.String(
        validate=validate.OneOf(HANDOVER_ON_FAILED_CAPTURE),
        metadata={
            "description": "A capture that failed before a click & collect hand-over: hold the goods until it is "
            "settled, or hand them over and retry the capture"
        },
    )
    notifications_off = fields.List(
        fields.String(validate=validate.OneOf(NOTIFICATION_KINDS)),
        metadata={"description": "Kinds of customer message the retailer does not send ([]: every kind is sent)"},
    )
    individual_productivity = fields.Boolean(
        metadata={
            "description": "Show each associate's productivity and accuracy to their store's managers and to "
            "themselves (true), or team figures only (false, the default: French and Italian labour rules "
            "restrict individual monitoring)"
        },
    )
    personal_data_retention_days = _whole(
        30,
        3650,
        metadata={
            "description": "Days after an order closed (its last change) before its customer's name, e-mail, phone, "
            "address and gift message are erased; the order's lines, amounts and ledger stay (default 1095, three "
            "years: see docs/PRIVACY.md)"
        },
    )
    updated_at = fields.DateTime(dump_only=True, allow_none=True)
    updated_by = fields.String(dump_only=True)


def _day():
    interval = fields.List(fields.String(validate=validate.Regexp(r"^\d{2}:\d{2}$")), validate=validate.Length(equal=2))
    return fields.List(interval, validate=validate.Length(max=6), metadata={"example": [["09:00", "19:00"]]})


OpeningHoursSchema = Schema.from_dict(
    {day: _day() for day in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}, name="OpeningHours"
)


class LocationAddressSchema(Schema):
    line1 = fields.String(validate=validate.Length(max=200))
    line2 = fields.String(validate=validate.Length(max=200))
    postcode = fields.String(validate=validate.Length(max=16))
    city = fields.String(validate=validate.Length(max=100))
    country = fields.String(
        validate=validate.Length(equal=2), metadata={"description": "ISO 3166-1 alpha-2 code, e.g. FR or IT"}
    )


class OpenWorkSchema(Schema):
    fulfilments = fields.Integer(metadata={"description": "Open fulfilments at the location"})
    by_status = fields.Dict(keys=fields.String(), values=fields.Integer())


class LocationInSchema(Schema):
    """PUT /api/v1/locations/{code}: fields left out keep their value (their default on a new location)."""

    name = fields.String(validate=validate.Length(min=1, max=120), metadata={"description": "Required on create"})
    type = fields.String(validate=validate.OneOf(["store", "warehouse"]))
    timezone = fields.String(validate=validate.Length(min=1, max=64), metadata={"description": "e.g. Europe/Paris"})
    address = fields.Nested(LocationAddressSchema)
    latitude = fields.Float(
        allow_none=True,
        validate=validate.Range(-90, 90),
        metadata={"description": "With longitude; left out or null: the postcode area's centre (FR, IT)"},
    )
    longitude = fields.Float(allow_none=True, validate=validate.Range(-180, 180))
    opening_hours = fields.Nested(
        OpeningHoursSchema, allow_none=True, metadata={"description": "Per weekday, [open, close] HH:MM; null: default"}
    )
    ships = fields.Boolean(metadata={"description": "Ship-from-store (or from the warehouse)"})
    click_and_collect = fields.Boolean()
    returns = fields.Boolean(metadata={"description": "Takes returns"})
    active = fields.Boolean(metadata={"description": "false closes it: no new work; open work is said in open_work"})
    capacity_per_day = _whole(0, 10_000, metadata={"description": "Fulfilments a day"})
    carriers = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1, max=16)),
        values=fields.String(allow_none=True, validate=validate.Length(max=8)),
        metadata={"description": 'When each carrier collects here, {"CX": "17:30"}; null: it no longer does'},
    )


class LocationSettingsSchema(Schema):
    code = fields.String(dump_only=True)
    name = fields.String(dump_only=True)
    kind = fields.String(dump_only=True)
    type = fields.String(dump_only=True, metadata={"description": "store or warehouse (the same as kind)"})
    timezone = fields.String(dump_only=True)
    address = fields.Nested(LocationAddressSchema, dump_only=True)
    latitude = fields.Float(dump_only=True, allow_none=True)
    longitude = fields.Float(dump_only=True, allow_none=True)
    ships = fields.Boolean(dump_only=True)
    returns = fields.Boolean(dump_only=True)
    active = fields.Boolean(dump_only=True)
    capacity_per_day = fields.Integer(dump_only=True)
    carriers = fields.Dict(keys=fields.String(), values=fields.String(), dump_only=True)
    pickup_slots = fields.List(
        fields.String(),
        dump_only=True,
        metadata={
            "description": "Codes of the store's hold-shelf slots in use for click & collect (POST "
            "/api/v1/fulfilments/{id}/ready takes one); managed on the store's screens"
        },
    )
    open_work = fields.Nested(OpenWorkSchema, dump_only=True)
    ships_from_store = fields.Boolean()
    ship_paused = fields.Boolean()
    click_and_collect = fields.Boolean()
    sourcing_priority = _whole(-100, 100)
    daily_capacity = _whole(0, 10_000)
    accept_within_minutes = _whole(5, 7 * 24 * 60, metadata={"description": "Counted in opening hours"})
    ready_within_minutes = _whole(5, 14 * 24 * 60, metadata={"description": "Counted in opening hours"})
    opening_hours = fields.Nested(OpeningHoursSchema, metadata={"description": "Per weekday, [open, close] HH:MM"})
    pick_batch_size = _whole(1, 50, metadata={"description": "Orders on one batch pick list"})
    scan_mode = fields.String(
        validate=validate.OneOf(["every", "first", "none"]),
        metadata={"description": "Scan every unit, the first unit then confirm the quantity, or tap to confirm"},
    )
    scan_to_pack = fields.Boolean(metadata={"description": "Scan each unit into its parcel when packing"})
    zpl_printer = fields.String(
        validate=validate.Length(max=120), metadata={"description": "Thermal printer host:port for ZPL, or empty"}
    )
    pickup_bag_step = fields.Boolean(
        metadata={"description": "Click & collect: count the bags and print bag labels before staging"}
    )
    pickup_hold_days = _whole(1, 60, metadata={"description": "Days (store time) an order waits on the hold shelf"})
    pickup_reminder_hours = _whole(
        0, 24 * 14, metadata={"description": "Remind the customer this many hours before the hold ends; 0: never"}
    )
    pickup_bag_scan = fields.Boolean(metadata={"description": "Every bag's label is scanned at hand-over"})
    curbside = fields.Boolean(metadata={"description": 'The customer may say "I\'m here" from the ready e-mail'})
    pickup_refusal_reasons = fields.List(
        fields.String(validate=validate.OneOf(REFUSAL_REASONS)),
        validate=validate.Length(min=1, max=len(REFUSAL_REASONS)),
        metadata={"description": "The reasons the counter offers when a customer leaves part of an order"},
    )
    blocked_skus = fields.List(fields.String(), dump_only=True)


class ShelfInSchema(Schema):
    shelf = fields.String(
        required=True,
        validate=validate.Length(min=1, max=60),
        metadata={"description": "aisle-bay[-level], e.g. A3-12-2"},
    )
    sequence = _whole(
        0, 999_999, metadata={"description": "Explicit place in the pick path (first); 0 or left out: the store's walk"}
    )


class ShelfSchema(Schema):
    sku = fields.String()
    shelf = fields.String(metadata={"description": "aisle-bay-level as on the shelf label"})
    aisle = fields.String()
    bay = fields.String()
    level = fields.String()
    sequence = fields.Integer()


class ShelfQuerySchema(Schema):
    cursor = fields.String(validate=validate.Length(max=64), metadata={"description": "next_cursor of the last page"})
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=500))
    q = fields.String(validate=validate.Length(max=64), metadata={"description": "SKU or aisle beginning with"})


class ShelfPageSchema(Schema):
    items = fields.List(fields.Nested(ShelfSchema))
    next_cursor = fields.String(allow_none=True)


class WalkSchema(Schema):
    aisles = fields.List(
        fields.String(validate=validate.Length(min=1, max=16)),
        required=True,
        validate=validate.Length(max=500),
        metadata={"description": "The store's aisles in the order an associate walks them; [] for natural order"},
    )


class BlockSchema(Schema):
    reason = fields.String(load_default="", validate=validate.Length(max=200))


class ProductOutSchema(Schema):
    sku = fields.String()
    name = fields.String(metadata={"description": "Default name"})
    names = fields.Dict(keys=fields.String(), values=fields.String(), metadata={"description": "{en, fr, it}"})
    gtin = fields.String(allow_none=True)
    barcodes = fields.List(fields.String())
    style = fields.String()
    size = fields.String()
    colour = fields.String()
    category = fields.String()
    weight_grams = fields.Integer(allow_none=True)
    dimensions_mm = fields.Nested(DimensionsSchema, allow_none=True)
    image_url = fields.String(allow_none=True)
    flags = fields.List(fields.String())
    active = fields.Boolean()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()


class ProductQuerySchema(Schema):
    q = fields.String(
        validate=validate.Length(min=1, max=100), metadata={"description": "Part of the SKU, name or GTIN"}
    )
    active = fields.Boolean(metadata={"description": "Only active (true) or inactive (false) products"})
    updated_since = fields.AwareDateTime(metadata={"description": "Changed at or after this time"})
    cursor = fields.Integer(validate=validate.Range(min=0, max=MAX_ID))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


class ProductPageSchema(Schema):
    items = fields.List(fields.Nested(ProductOutSchema))
    next_cursor = fields.Integer(allow_none=True)


class ProductBatchSchema(Schema):
    items = fields.List(fields.Nested(ProductItemSchema), required=True, validate=validate.Length(min=1, max=MAX_BATCH))


class ProductBatchRowSchema(Schema):
    sku = fields.String()
    status = fields.String(metadata={"description": "created, updated or unchanged"})


class ProductBatchOutSchema(Schema):
    created = fields.Integer()
    updated = fields.Integer()
    unchanged = fields.Integer()
    items = fields.List(fields.Nested(ProductBatchRowSchema))


# --- fulfilments: store operations (app/api/fulfilments.py) -------------------------------------------------------


class PickupOutSchema(Schema):
    """The hold-shelf side of a click & collect fulfilment, at its pickup store."""

    status = fields.String(
        metadata={
            "description": "Where the pickup stands: the fulfilment's status before it is picked (created, "
            "accepted, picking), then to_send or in_transit (a transfer from another location), to_prepare "
            "(picked, to bag and stage), ready (on the hold shelf), arrived (the customer said they are here), "
            "collected, expired, cancelled or rejected"
        }
    )
    code = fields.String(
        allow_none=True,
        metadata={
            "description": "The customer's pickup code (6 characters, shown to them as XXX-XXX), once the order is "
            "ready; null before"
        },
    )
    slot = fields.String(
        allow_none=True,
        metadata={"description": "The hold-shelf slot of the bags (several joined by ', '); null when not staged"},
    )
    slots = fields.List(fields.String(), metadata={"description": "Every slot holding a bag of the order"})
    bags = fields.Integer(metadata={"description": "Bags the order was packed into (0 until counted or staged)"})
    ready_at = fields.DateTime(allow_none=True, metadata={"description": "When every bag was on the hold shelf"})
    expires_at = fields.DateTime(
        allow_none=True, metadata={"description": "End of the hold: after it the order expires (worker)"}
    )
    customer_arrived_at = fields.DateTime(
        allow_none=True, metadata={"description": 'When the customer said "I\'m here"'}
    )
    collected_at = fields.DateTime(allow_none=True, metadata={"description": "When the order was handed over"})
    received_at = fields.DateTime(
        allow_none=True, metadata={"description": "When a transfer's parcel was received at the pickup store"}
    )
    put_back = fields.Boolean(
        metadata={
            "description": "Units of the order (expired, partly collected or cancelled once staged) wait on the "
            "store's put-back list, reserved and off sale, until restocked"
        }
    )
    pickup_store = fields.String(metadata={"description": "Code of the store where the customer collects"})


class FulfilmentDocSchema(FulfilmentOutSchema):
    """A fulfilment as in its order's document, with its order and, for click & collect, its pickup."""

    order_id = fields.Integer(metadata={"description": "The order it belongs to (GET /api/v1/orders/{id})"})
    delivery_method = fields.String(metadata={"description": "ship or collect (the order's)"})
    pickup = fields.Nested(
        PickupOutSchema, allow_none=True, metadata={"description": "Click & collect only; null for a shipment"}
    )


class RestockOutSchema(FulfilmentDocSchema):
    restocked = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "{sku: units} put back on sale by this call ({} when nothing waited)"},
    )


def _sku_lines(name: str, least: int, description: str) -> type[Schema]:
    """A list item of {sku, quantity} (picked, collected, put back): one shape, its own name in the OpenAPI text."""
    return Schema.from_dict(
        {
            "sku": fields.String(required=True, validate=validate.Length(min=1, max=64)),
            "quantity": fields.Integer(
                required=True,
                strict=True,
                validate=validate.Range(min=least, max=MAX_ON_HAND),
                metadata={"description": description},
            ),
        },
        name=name,
    )


PickedLineSchema = _sku_lines("PickedLineSchema", 0, "Units of the product picked in all (0 when none was found)")
CollectedLineSchema = _sku_lines("CollectedLineSchema", 0, "Units the customer takes")
RestockLineSchema = _sku_lines("RestockLineSchema", 1, "Units put back on sale")


class PickInSchema(Schema):
    """Picked quantities confirmed without scans."""

    lines = fields.List(
        fields.Nested(PickedLineSchema),
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "Every product with units still to pick, with the units picked; what was not picked "
            "is short and goes to another location"
        },
    )
    reason = fields.String(
        load_default="cannot_find",
        validate=validate.OneOf(SHORT_REASONS),
        metadata={
            "description": "Why units were not picked: out_of_stock (nothing more on the shelf), damaged (set "
            "aside), cannot_find, other (with a note)"
        },
    )
    note = fields.String(load_default="", validate=validate.Length(max=200))


class RerouteInSchema(Schema):
    location = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "The code of the location to give what is left of the fulfilment to: one of the ranked "
            "candidates holding stock for every unit left"
        },
    )
    note = fields.String(
        load_default="",
        validate=validate.Length(max=500),
        metadata={"description": "Why, for the order's timeline (default: re-routed through the API)"},
    )


class ReadyInSchema(Schema):
    slot = fields.String(
        required=True,
        validate=validate.Length(min=1, max=64),
        metadata={
            "description": "The hold-shelf slot's code (e.g. A-01) or its label's barcode (SLOT-<store>-<code>), at "
            "the pickup store; every bag not yet on the shelf goes there"
        },
    )
    bags = fields.Integer(
        strict=True,
        validate=validate.Range(min=1, max=20),
        metadata={
            "description": "How many bags the order was packed into (where the store counts bags); left out: "
            "as counted already, or one bag"
        },
    )


class PickupSearchQuerySchema(Schema):
    location = fields.String(
        required=True,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "The pickup store's code"},
    )
    q = fields.String(
        required=True,
        validate=validate.Length(min=1, max=120),
        metadata={
            "description": "What the counter scanned or typed: the customer's pickup code (as the QR carries it, "
            "or read out, with or without the dash), a bag label, an order number, a name, a phone number or an "
            "e-mail"
        },
    )


class PickupSearchSchema(Schema):
    fulfilments = fields.List(
        fields.Dict(),
        metadata={
            "description": "Matching click & collect fulfilments of that store (as GET /fulfilments/{id}), "
            "open ones first, at most 20"
        },
    )


class IdCheckSchema(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(ID_KINDS))
    last_digits = fields.String(
        required=True,
        validate=validate.Length(min=2, max=6),
        metadata={"description": "The last 2 to 6 characters of the ID document's number"},
    )
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Why the customer has no code (lost phone, e-mail deleted...)"},
    )


class CollectInSchema(Schema):
    payment_override = fields.String(
        validate=validate.Length(min=1, max=200),
        metadata={
            "description": "A note that the customer paid another way (at the till): hands the order over even when "
            "a declined capture holds it (409 payment_failed otherwise); kept in the order's history"
        },
    )
    pickup_code = fields.String(
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "The code the customer shows or reads out (case, dashes and spaces ignored). A wrong "
            "code is refused (403, error wrong_pickup_code) and counted; after 5 the order takes no code for "
            "15 minutes (429, error pickup_code_locked)"
        },
    )
    lines = fields.List(
        fields.Nested(CollectedLineSchema),
        validate=validate.Length(min=1, max=500),
        metadata={
            "description": "What the customer takes when not everything; left out: everything picked. The rest "
            "waits on the store's put-back list (POST .../restock)"
        },
    )
    reason = fields.String(
        validate=validate.OneOf(REFUSAL_REASONS),
        metadata={"description": "Why the customer does not take everything (required with a partial collection)"},
    )
    bags = fields.List(
        fields.String(validate=validate.Length(min=1, max=64)),
        validate=validate.Length(max=20),
        metadata={
            "description": "Bag labels scanned at the counter (BAG-<fulfilment>-<n>): when given, every bag must be "
            "among them (409 bags_missing names the others). Left out: the calling system confirms the hand-over "
            "of every bag"
        },
    )
    id_check = fields.Nested(
        IdCheckSchema,
        metadata={
            "description": "Instead of the code: the associate checked the customer's ID document. Recorded on the "
            "order's audit trail as an override, with the API client as the one who did it"
        },
    )

    @validates_schema
    def _code_or_id(self, data, **kwargs):
        if ("pickup_code" in data) == ("id_check" in data):
            message = gettext("Give the pickup code, or an ID check instead of it.")
            raise ValidationError({"pickup_code": [message], "id_check": [message]})


class RestockInSchema(Schema):
    lines = fields.List(
        fields.Nested(RestockLineSchema),
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Units put back on sale; left out: everything waiting on the put-back list"},
    )


class PickupPatchSchema(Schema):
    expires_at = fields.AwareDateTime(
        required=True,
        metadata={
            "description": "The new end of the hold, with its UTC offset: in the future, at most 60 days away "
            "(422 otherwise)"
        },
    )
    note = fields.String(
        validate=validate.Length(min=1, max=2000),
        metadata={
            "description": "Customer service's reason, for the order's timeline: given, the order must be waiting "
            "on the hold shelf (409 otherwise) and a blank note is refused (422)"
        },
    )


# --- customer returns -------------------------------------------------------------------------------------------


class ReturnLineInSchema(Schema):
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    quantity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ON_HAND),
        metadata={"description": "Units of the product coming back (at most what left the stores less what came back)"},
    )
    reason = fields.String(
        required=True,
        validate=validate.OneOf(RETURN_REASONS),
        metadata={"description": "Why it comes back: one of the reasons the retailer offers (422 for another)"},
    )
    condition = fields.String(
        required=True,
        validate=validate.OneOf(RETURN_CONDITIONS),
        metadata={
            "description": "resellable (on sale at once at the receiving location), damaged (its damaged count), "
            "inspect (in quarantine until a decision: POST .../lines/{line_id}/decision)"
        },
    )


class ReturnInSchema(Schema):
    order_id = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ID),
        metadata={"description": "The order the items were bought with (422 fields.order_id when unknown)"},
    )
    location = fields.String(
        required=True,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "The code of the store (or warehouse) taking the items back, or expecting them"},
    )
    lines = fields.List(fields.Nested(ReturnLineInSchema), required=True, validate=validate.Length(min=1, max=500))
    status = fields.String(
        load_default="received",
        validate=validate.OneOf(["received", "expected"]),
        metadata={
            "description": "received (default): the items are here, stock and refund at once; expected: a return "
            "by post, stock and refund when POST .../receive says it arrived"
        },
    )


class ReturnReceiveInSchema(Schema):
    location = fields.String(
        required=True,
        validate=validate.Length(min=1, max=16),
        metadata={"description": "The code of the store or warehouse where the parcel arrived"},
    )


class ReturnDecisionInSchema(Schema):
    outcome = fields.String(
        required=True,
        validate=validate.OneOf(["resellable", "damaged"]),
        metadata={"description": "A manager's decision on a unit in quarantine: back on sale here, or damaged"},
    )


class ReturnQuerySchema(Schema):
    order_id = fields.Integer(required=True, validate=validate.Range(min=1, max=MAX_ID))


class ReturnLineOutSchema(Schema):
    id = fields.Integer()
    sku = fields.String()
    quantity = fields.Integer()
    reason = fields.String()
    condition = fields.String()
    unit_refund = fields.String(metadata={"description": "Decimal string, in the order's currency"})
    outcome = fields.String(
        allow_none=True, metadata={"description": "For an inspect line: resellable or damaged once decided"}
    )


class ReturnRefundSchema(Schema):
    amount = fields.String(metadata={"description": "What goes back to the original payment (decimal string)"})
    shipping = fields.String(metadata={"description": "Of which the shipping fee (the whole order came back)"})
    currency = fields.String()
    status = fields.String(
        metadata={
            "description": "The refund's status with the payment provider: pending, succeeded or failed; none when "
            "there is nothing to refund (or, for an expected return, not yet)"
        }
    )


class ReturnOutSchema(Schema):
    id = fields.Integer()
    number = fields.String(metadata={"description": "RET-<id, 7 digits>: the receipt's barcode"})
    order_id = fields.Integer()
    location = fields.String(metadata={"description": "The location that took (or expects) the items"})
    status = fields.String(metadata={"description": "received or expected"})
    lines = fields.List(fields.Nested(ReturnLineOutSchema))
    refund = fields.Nested(ReturnRefundSchema)
    created_at = fields.DateTime()
    received_at = fields.DateTime(allow_none=True)
    receipt_pdf_url = fields.String()


class ReturnListSchema(Schema):
    items = fields.List(fields.Nested(ReturnOutSchema))


# --- customer service (app/api/orders.py, app/api/fulfilments.py) -----------------------------------------------


def _cs_note(required: bool = True):
    return fields.String(
        required=required,
        validate=validate.Length(min=1, max=2000),
        metadata={
            "description": "Why, for the order's timeline (spaces folded, at most 500 characters kept); a blank "
            "note is refused (422)"
        },
    )


class NoteInSchema(Schema):
    note = _cs_note()


class CancelledLineInSchema(Schema):
    line_no = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))
    quantity = fields.Integer(
        required=True,
        strict=True,
        validate=validate.Range(min=1, max=MAX_ON_HAND),
        metadata={"description": "Units of the line to cancel"},
    )


class CancelLinesInSchema(Schema):
    lines = fields.List(
        fields.Nested(CancelledLineInSchema),
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "Each line at most once; units that left a store cannot be cancelled (409)"},
    )
    note = _cs_note()

    @validates_schema
    def _once_per_line(self, data, **kwargs):
        numbers = [line["line_no"] for line in data.get("lines", [])]
        if len(numbers) != len(set(numbers)):
            raise ValidationError({"lines": [gettext("Each line at most once.")]})


class CancelLinesOutSchema(OrderOutSchema):
    cancelled = fields.Dict(
        keys=fields.String(),
        values=fields.Integer(),
        metadata={"description": "{line_no: units} cancelled by this call"},
    )


class AddressInSchema(Schema):
    line1 = fields.String(required=True, validate=validate.Length(max=500))
    line2 = fields.String(load_default="", validate=validate.Length(max=500))
    postcode = fields.String(required=True, validate=validate.Length(max=500))
    city = fields.String(required=True, validate=validate.Length(max=500))
    country = fields.String(
        required=True, validate=validate.Length(max=500), metadata={"description": "Two letters: FR, IT"}
    )
    note = _cs_note()


class PickupStoreInSchema(Schema):
    location = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={"description": "The code of an open store offering click & collect"},
    )
    note = _cs_note()


class GoodwillInSchema(Schema):
    amount = fields.String(
        required=True,
        validate=validate.Regexp(MONEY_PATTERN),
        metadata={
            "example": "10.00",
            "description": "In the order's currency, as a decimal string, above zero: all goodwill refunds of an "
            "order together stay within the retailer's limit, and never above what was captured and not refunded",
        },
    )
    note = _cs_note()


class GoodwillOutSchema(OrderOutSchema):
    refund = fields.Nested(
        PaymentTransactionSchema,
        metadata={
            "description": "The refund, pending until the provider answers (GET /orders/{id}/payments); a repeat "
            "with the same Idempotency-Key answers this same refund"
        },
    )


class OrderEmailSchema(Schema):
    id = fields.Integer(metadata={"description": "For POST /orders/{id}/emails/{email_id}/resend"})
    kind = fields.String(metadata={"description": "What it tells: " + ", ".join(NOTIFICATION_KINDS)})
    subject = fields.String()
    to = fields.String(metadata={"description": "The address it was written to"})
    status = fields.String(validate=validate.OneOf(["pending", "sent", "failed"]))
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)


class ResendOutSchema(OrderOutSchema):
    email = fields.Nested(OrderEmailSchema, metadata={"description": "The copy queued (pending until it goes)"})


class CandidateSchema(Schema):
    location = fields.String(metadata={"description": "The location's code (the body's location)"})
    location_id = fields.Integer()
    covers = fields.Boolean(metadata={"description": "It holds every unit: only such a location can be chosen"})
    units = fields.Integer(metadata={"description": "Units of the wanted ones it holds"})
    wanted = fields.Integer()
    distance_km = fields.Float(allow_none=True)
    score = fields.Float(metadata={"description": "Sourcing's score (higher ranks first among equal coverage)"})


class ReshipInSchema(Schema):
    location = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "description": "The code of the location to send the units again from: one of the ranked candidates "
            "(GET .../reship-candidates) holding every unit"
        },
    )
    note = _cs_note()


class ExceptionQuerySchema(Schema):
    limit = fields.Integer(load_default=200, validate=validate.Range(min=1, max=200))


class ExceptionSchema(Schema):
    order_id = fields.Integer()
    reference = fields.String(metadata={"description": "The order number (CHANNEL-REF)"})
    reason = fields.String(
        metadata={
            "enum": ["unfulfilled", "payment_failed", "pickup_expired", "complaint", "attention", "late"],
            "description": "unfulfilled: nothing could source some units; payment_failed: a capture, refund or "
            "void failed; pickup_expired: nobody came and the retailer sends such orders to customer service; "
            "complaint: flagged (POST .../complaint); attention: flagged otherwise; late: an open fulfilment "
            "past its ready_by by more than the threshold (4 hours unless configured; not flagged)",
        }
    )
    since = fields.DateTime(metadata={"description": "Since when (oldest first)"})
    hours_late = fields.Integer(metadata={"description": "late only: hours past ready_by; 0 otherwise"})
    status = fields.String(metadata={"description": "The order's status"})


class ExceptionListSchema(Schema):
    items = fields.List(fields.Nested(ExceptionSchema))
