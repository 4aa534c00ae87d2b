"""Orders through the API: capture (idempotent on channel + external_ref) and read."""

from flask import jsonify
from flask.views import MethodView
from sqlalchemy import and_, or_, select

from app.api import api_actor, api_blueprint, order_json, require_scope
from app.api.schemas import (
    MAX_ID,
    ApiErrorSchema,
    CancelSchema,
    OrderInSchema,
    OrderOutSchema,
    OrderPageSchema,
    OrderQuerySchema,
    PaymentSummarySchema,
    TimelineEventSchema,
)
from app.core import payments
from app.core.errors import NotFound
from app.core.models import (
    AuditEvent,
    Fulfilment,
    Location,
    Order,
)
from app.core.ordering import capture, orders
from app.core.service import search
from app.core.uow import unit_of_work
from app.extensions import db

blp = api_blueprint("api_orders", "/api/v1/orders", "Order capture and status")


@blp.route("")
class Orders(MethodView):
    @require_scope("orders:read")
    @blp.arguments(OrderQuerySchema, location="query")
    @blp.response(200, OrderPageSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Orders, oldest first, filtered; follow next_cursor for the next page.

        `q` searches as the customer service console does (an order, return, tracking or pickup number, or the
        customer's name, e-mail or phone); `needs_customer_service=true` gives the orders waiting for it."""
        location_id = None
        if "location" in query:
            location_id = db.session.scalar(select(Location.id).where(Location.code == query["location"]))
            if location_id is None:
                return jsonify({"items": [], "next_cursor": None})
        # First the page's ids, from an index alone (however long the history and wherever in it the matching
        # orders are), then those orders; the id, not a subquery, lets the planner weigh this very location.
        if location_id is not None and not query.keys() & {"status", "updated_since", "q", "needs_customer_service"}:
            # The location's order ids in order, straight from ix_fulfilment_location_id_order_id.
            key = Fulfilment.order_id
            keys = select(key).where(Fulfilment.location_id == location_id).distinct()
        else:
            key = Order.id
            keys = select(key)
            if "status" in query:  # ix_customer_order_status_id, already in id order
                keys = keys.where(Order.status == query["status"])
            if "updated_since" in query:
                keys = keys.where(Order.updated_at >= query["updated_since"])
            if "needs_customer_service" in query:
                keys = keys.where(Order.needs_customer_service.is_(query["needs_customer_service"]))
            if "q" in query:  # the customer service search: exact ids, or the trigram index on search_text
                keys = keys.where(search.condition(query["q"]))
            if location_id is not None:  # answered by ix_fulfilment_location_id_order_id
                keys = keys.where(
                    select(Fulfilment.id)
                    .where(Fulfilment.order_id == Order.id, Fulfilment.location_id == location_id)
                    .exists()
                )
        if "cursor" in query:
            keys = keys.where(key > query["cursor"])
        keys = keys.order_by(key).limit(query["limit"] + 1)
        ids = db.session.scalars(keys).all()  # every key is an order's id, in id order
        more = len(ids) > query["limit"]
        ids = ids[: query["limit"]]
        # Built by order_json (a few Core statements, plain dicts) rather than dumped by @blp.response, which
        # documents it: the same JSON as OrderPageSchema, at a fraction of the cost of loading and dumping objects.
        return jsonify({"items": order_json.dump_orders(ids), "next_cursor": ids[-1] if more else None})

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
        with unit_of_work(keep_loaded=True):  # the answer shows what was just written: no reload after commit
            order, created = capture.capture_order(body, actor=api_actor())
        return order, 201 if created else 200


@blp.route("/<int:order_id>")
class OrderById(MethodView):
    @require_scope("orders:read")
    @blp.response(200, OrderOutSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """One order with its lines and fulfilments."""
        order = order_json.dump_order(order_id) if order_id <= MAX_ID else None
        if order is None:
            raise NotFound()
        return jsonify(order)  # OrderOutSchema's JSON, built by order_json; a Response goes out as it is


def _order(order_id: int) -> Order:
    order = db.session.get(Order, order_id) if order_id <= MAX_ID else None
    if order is None:
        raise NotFound()
    return order


@blp.route("/<int:order_id>/cancel")
class CancelOrder(MethodView):
    @require_scope("orders:write")
    @blp.arguments(CancelSchema)
    @blp.response(200, OrderOutSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema)
    def post(self, body, order_id):
        """Cancel an order and release its stock; repeating it is harmless; refused once shipped."""
        with unit_of_work():
            order = orders.cancel_order(_order(order_id), reason=body["reason"], actor=api_actor())
        return order


@blp.route("/<int:order_id>/payments")
class OrderPayments(MethodView):
    @require_scope("orders:read")
    @blp.response(200, PaymentSummarySchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """The order's payment: what was authorised, captured, refunded and voided (confirmed by the provider),
        and every step with its status, oldest first.

        Comptoir records the authorisation sent with the order (`payment`), captures what leaves a store when it
        leaves (a shipped fulfilment's units, a collected pickup's units; the order's `shipping_fee` with the
        first capture), voids what nothing will capture once no fulfilment is open (cancelled, rejected with
        nothing left, expired, or completed for less), and refunds returns. Never more than authorised is
        captured, nor more than captured refunded. A step is `pending` until the provider answers (a timeout is
        retried by the worker with the same idempotency key). Events: `payment.captured`, `payment.voided`,
        `payment.refunded`, `payment.failed` (the order then `needs_customer_service`). Money is a decimal
        string in `currency`."""
        return payments.summary(_order(order_id))


@blp.route("/<int:order_id>/timeline")
class Timeline(MethodView):
    @require_scope("orders:read")
    @blp.response(200, TimelineEventSchema(many=True))
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """Every recorded change of the order and its fulfilments, oldest first."""
        order = _order(order_id)
        subjects = or_(
            and_(AuditEvent.subject_type == "customer_order", AuditEvent.subject_id == str(order.id)),
            and_(
                AuditEvent.subject_type == "fulfilment",
                AuditEvent.subject_id.in_([str(f.id) for f in order.fulfilments]),
            ),
        )
        return db.session.scalars(select(AuditEvent).where(subjects).order_by(AuditEvent.id)).all()
