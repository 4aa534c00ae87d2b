"""Orders through the API: capture (idempotent on channel + external_ref) and read."""

from flask import g
from flask.views import MethodView

from app.api import api_blueprint, require_scope
from app.api.schemas import ApiErrorSchema, OrderInSchema, OrderOutSchema
from app.core import orders, sourcing
from app.core.actor import Actor
from app.core.errors import NotFound
from app.core.models import Order
from app.core.uow import unit_of_work
from app.extensions import db

blp = api_blueprint("api_orders", "/api/v1/orders", "Order capture and status")


def _draft(body: dict) -> orders.OrderDraft:
    delivery, customer, payment = body["delivery"], body["customer"], body.get("payment") or {}
    return orders.OrderDraft(
        channel=body["channel"],
        external_ref=body["external_ref"],
        customer_name=customer["name"],
        customer_email=customer.get("email", ""),
        customer_phone=customer.get("phone", ""),
        customer_language=customer.get("language", "en"),
        delivery_method=delivery["method"],
        ship_to=dict(delivery.get("address") or {}),
        pickup_location_code=delivery.get("pickup_location"),
        lines=[
            orders.LineDraft(
                code=line.get("sku") or line["gtin"], quantity=line["quantity"], unit_price=line.get("unit_price")
            )
            for line in body["lines"]
        ],
        promised_by=body.get("promised_by"),
        payment_reference=payment.get("reference", ""),
        payment_amount=payment.get("amount"),
        currency=payment.get("currency", "EUR"),
        needs_review=body.get("review", False),
    )


def _actor() -> Actor:
    return Actor(label=f"api:{g.api_client.name}")


@blp.route("")
class Orders(MethodView):
    @require_scope("orders:write")
    @blp.arguments(OrderInSchema)
    @blp.response(201, OrderOutSchema)
    @blp.alt_response(200, schema=OrderOutSchema, description="The same order was sent before")
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def post(self, body):
        """Capture an order; the same channel and external_ref again returns the first one."""
        with unit_of_work():
            order, created = orders.create_order(_draft(body), actor=_actor())
            if created:
                sourcing.source_order(order, actor=_actor())
        return order, 201 if created else 200


@blp.route("/<int:order_id>")
class OrderById(MethodView):
    @require_scope("orders:read")
    @blp.response(200, OrderOutSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """One order with its lines and fulfilments."""
        order = db.session.get(Order, order_id)
        if order is None:
            raise NotFound()
        return order
