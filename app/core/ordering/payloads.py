"""What the systems around a store send: orders and stock movements, as the API and the file imports take them.

The schemas check a payload's shape and bounds without the database; the core's operations check the rest (known
products, open stores). The API documents them in its OpenAPI text; the imports read CSV and JSON-lines files with them.
"""

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.core.models.base import MAX_ID

__all__ = ["MAX_ID"]

# Business bounds of stock figures: far above any real count or single movement, far below the database's INTEGER
# (2**31 - 1), so that the largest count plus the largest movements still fits; a batch that would push a figure
# past INTEGER anyway (thousands of +1,000,000 rows on one product) is refused by the core, never a 500.
MAX_ON_HAND = 100_000_000
MAX_DELTA = 1_000_000
# Money travels as a decimal string ("59.80"), never as a binary float; the API layer makes it a Decimal.
# At most 99,999,999.99: unit prices are NUMERIC(10, 2) in the database, payments NUMERIC(12, 2).
MONEY_PATTERN = r"^\d{1,8}(\.\d{1,2})?$"


def _money(**kwargs):
    metadata = {"example": "59.80", **kwargs.pop("metadata", {})}
    return fields.String(validate=validate.Regexp(MONEY_PATTERN), metadata=metadata, **kwargs)


CURRENCIES = ["EUR", "CHF", "GBP", "USD"]


class CustomerSchema(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(load_default="")
    phone = fields.String(load_default="", validate=validate.Length(max=32))
    language = fields.String(load_default="en", validate=validate.OneOf(["en", "fr", "it"]))


class AddressSchema(Schema):
    line1 = fields.String(required=True, validate=validate.Length(min=1, max=200))
    line2 = fields.String(load_default="", validate=validate.Length(max=200))
    postcode = fields.String(required=True, validate=validate.Length(min=1, max=16))
    city = fields.String(required=True, validate=validate.Length(min=1, max=100))
    country = fields.String(required=True, validate=validate.Regexp(r"^[A-Z]{2}$"))
    latitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-90.0, 90.0))
    longitude = fields.Float(load_default=None, allow_none=True, validate=validate.Range(-180.0, 180.0))


class DeliverySchema(Schema):
    method = fields.String(required=True, validate=validate.OneOf(["ship", "collect"]))
    address = fields.Nested(AddressSchema)
    pickup_location = fields.String(validate=validate.Length(min=1, max=16))

    @validates_schema
    def _needs_destination(self, data, **kwargs):
        if data.get("method") == "ship" and not data.get("address"):
            raise ValidationError({"address": ["Required for ship."]})
        if data.get("method") == "collect" and not data.get("pickup_location"):
            raise ValidationError({"pickup_location": ["Required for collect."]})


class LineSchema(Schema):
    sku = fields.String(validate=validate.Length(min=1, max=64))
    gtin = fields.String(validate=validate.Regexp(r"^\d{8,14}$"))
    quantity = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=10_000))
    unit_price = _money(load_default=None, allow_none=True)

    @validates_schema
    def _one_code(self, data, **kwargs):
        if bool(data.get("sku")) == bool(data.get("gtin")):
            raise ValidationError({"sku": ["Give either sku or gtin."]})


class PaymentSchema(Schema):
    provider = fields.String(
        required=True,
        validate=validate.Length(min=1, max=32),
        metadata={
            "example": "test",
            "description": "The payment provider that authorised the amount: recorded with the order; captures, "
            "voids and refunds go to it (PAYMENT_PROVIDERS names its adapter; `test` is built in)",
        },
    )
    reference = fields.String(
        required=True,
        validate=validate.Length(min=1, max=120),
        metadata={"description": "The authorisation's reference at the provider"},
    )
    amount = _money(
        required=True,
        metadata={"description": "What was authorised: the lines and the shipping fee; never captured beyond"},
    )
    currency = fields.String(required=True, validate=validate.OneOf(CURRENCIES))


class OrderInSchema(Schema):
    channel = fields.String(required=True, validate=validate.Regexp(r"^[a-z][a-z0-9_-]{0,31}$"))
    external_ref = fields.String(required=True, validate=validate.Length(min=1, max=64))
    customer = fields.Nested(CustomerSchema, required=True)
    delivery = fields.Nested(DeliverySchema, required=True)
    lines = fields.List(fields.Nested(LineSchema), required=True, validate=validate.Length(min=1, max=200))
    promised_by = fields.AwareDateTime(load_default=None, allow_none=True)
    payment = fields.Nested(PaymentSchema, load_default=None, allow_none=True)
    shipping_fee = _money(
        load_default=None,
        allow_none=True,
        metadata={
            "example": "4.90",
            "description": "The shipping fee within payment.amount: captured with the first parcel or pickup, "
            "refunded when the whole order comes back. Absent: what the lines' prices do not account for.",
        },
    )
    review = fields.Boolean(load_default=False)
    gift = fields.Nested(
        Schema.from_dict(
            {
                "wrap": fields.Boolean(load_default=False),
                "message": fields.String(load_default="", validate=validate.Length(max=500)),
            },
            name="Gift",
        ),
        load_default=None,
        allow_none=True,
        metadata={"description": "Gift wrap and a gift message: their own step when the store packs"},
    )


class MovementInSchema(Schema):
    location = fields.String(required=True, validate=validate.Length(min=1, max=16))
    sku = fields.String(required=True, validate=validate.Length(min=1, max=64))
    delta = fields.Integer(required=True, strict=True, validate=validate.Range(min=-MAX_DELTA, max=MAX_DELTA))
    reason = fields.String(load_default="", validate=validate.Length(max=200))
    reference = fields.String(load_default="", validate=validate.Length(max=120))
