"""Orders through the API: capture (idempotent on channel + external_ref) and read; customer service's actions.

Customer service's actions (notes, resent e-mails, cancelled lines, a new address or pickup store, goodwill refunds,
complaints, resolving) take customer_service:write (a complaint also orders:write: the web shop flags them) and an
Idempotency-Key: a repeat with the same key answers the same and changes nothing. Each is the core's operation, as
the customer service console calls it (app.core.service.actions), with the API client as the actor.
"""

from flask import jsonify
from flask.views import MethodView
from sqlalchemy import and_, or_, select

from app.api import api_actor, api_blueprint, order_json, require_scope
from app.api.idempotency import answered_meanwhile, idempotent
from app.api.schemas import (
    MAX_ID,
    AddressInSchema,
    ApiErrorSchema,
    CancelLinesInSchema,
    CancelLinesOutSchema,
    CancelSchema,
    ExceptionListSchema,
    ExceptionQuerySchema,
    GoodwillInSchema,
    GoodwillOutSchema,
    NoteInSchema,
    OrderEmailSchema,
    OrderInSchema,
    OrderOutSchema,
    OrderPageSchema,
    OrderQuerySchema,
    PaymentSummarySchema,
    PaymentTransactionSchema,
    PickupStoreInSchema,
    ResendOutSchema,
    TimelineEventSchema,
)
from app.api.stock import IDEMPOTENCY_HEADER
from app.core import payments
from app.core.errors import NotFound
from app.core.models import (
    AuditEvent,
    Fulfilment,
    Location,
    Order,
)
from app.core.ordering import capture, orders
from app.core.service import actions, search, story
from app.core.uow import unit_of_work
from app.extensions import db

blp = api_blueprint(
    "api_orders",
    "/api/v1/orders",
    "Order capture and status; customer service's actions on orders (customer_service:write, an Idempotency-Key on "
    "every POST) and the exception queue.",
)
CS_SCOPE = "customer_service:write"


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


# --- customer service -------------------------------------------------------------------------------------------


@blp.route("/exceptions")
class Exceptions(MethodView):
    @require_scope("orders:read")
    @blp.arguments(ExceptionQuerySchema, location="query")
    @blp.response(200, ExceptionListSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """The exception queue, as the customer service console shows it: orders flagged needs_customer_service
        (nothing could source them, a payment failed, a pickup expired under the retailer's rule, a complaint) and
        open orders late beyond the threshold, oldest first, with the reason.

        `GET /api/v1/orders?needs_customer_service=true` gives the flagged orders only: a late order is not
        flagged, it is listed here while it is late."""
        return {
            "items": [
                {
                    "order_id": x.order.id,
                    "reference": x.order.reference,
                    "reason": x.reason,
                    "since": x.since,
                    "hours_late": x.hours_late,
                    "status": x.order.status,
                }
                for x in story.exceptions(limit=query["limit"])
            ]
        }


ANSWERS = {
    401: "No valid API token",
    403: "The client lacks the customer_service:write scope",
    404: "No such order",
    409: "Too late, or nothing to do, in the order's state (error service_refused, with a sentence saying why), or "
    "the Idempotency-Key was used for another request (idempotency_conflict)",
    422: "A value is not valid (each named in fields; a blank note too), or the Idempotency-Key header is missing",
}


def _write(schema, *, answers=None, response=OrderOutSchema, scopes=(CS_SCOPE,)):
    """The decorators every customer service POST shares: scope, Idempotency-Key, body, documented answers."""

    def decorator(view):
        documented = view
        for status, description in {**ANSWERS, **(answers or {})}.items():
            documented = blp.alt_response(status, schema=ApiErrorSchema, description=description)(documented)
        documented = blp.doc(parameters=[IDEMPOTENCY_HEADER])(
            blp.arguments(schema)(blp.response(200, response)(documented))
        )
        return require_scope(*scopes)(idempotent(documented))

    return decorator


def _locked(order_id: int) -> Order:
    """The order, locked for this transaction (as every change of an order does); a request with the same
    Idempotency-Key that committed while this one waited for the lock is answered as it was."""
    order = orders.lock_order(_order(order_id))
    answered_meanwhile()
    return order


def _answer(order: Order, **extra):
    """The order's JSON (order_json: OrderOutSchema's), with what the action adds."""
    return jsonify({**order_json.dump_order(order.id), **extra})


@blp.route("/<int:order_id>/notes")
class Notes(MethodView):
    @_write(NoteInSchema)
    def post(self, body, order_id):
        """Write a note on the order's timeline (GET .../timeline: order.cs_note); the same note again right after
        the last one is not written twice."""
        order = _locked(order_id)
        actions.add_note(order, body["note"], actor=api_actor())
        return _answer(order)


@blp.route("/<int:order_id>/emails")
class Emails(MethodView):
    @require_scope("orders:read")
    @blp.response(200, OrderEmailSchema(many=True))
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, order_id):
        """The e-mails written to the customer about the order, oldest first, with their ids (to resend one)."""
        return story.emails(_order(order_id))


@blp.route("/<int:order_id>/emails/<int:email_id>/resend")
class ResendEmail(MethodView):
    @_write(
        NoteInSchema,
        response=ResendOutSchema,
        answers={
            404: "No such order, or no such e-mail of this order",
            409: "A copy of this e-mail (or the e-mail itself) is still waiting to be sent (service_refused), or the "
            "Idempotency-Key was used for another request",
        },
    )
    def post(self, body, order_id, email_id):
        """Queue an e-mail of the order again (the same subject, text and QR code) to the order's address now;
        the answer names the copy. Refused while a copy of it is waiting to be sent."""
        order = _locked(order_id)
        if email_id > MAX_ID:
            raise NotFound()
        copy = actions.resend_email(order, email_id, body["note"], actor=api_actor())
        return _answer(order, email=OrderEmailSchema().dump(copy))


@blp.route("/<int:order_id>/lines/cancel")
class CancelLines(MethodView):
    @_write(
        CancelLinesInSchema,
        response=CancelLinesOutSchema,
        answers={
            409: "The order is no longer in progress, more units than can still be cancelled, units that left a "
            "store, or a store already preparing part of them (service_refused: cancel every unit it holds or take "
            "a return); or the Idempotency-Key was used for another request",
            422: "An unknown line, a line twice, a quantity below 1, a blank note, or the Idempotency-Key header is "
            "missing",
        },
    )
    def post(self, body, order_id):
        """Cancel units of the order's lines before they leave a store: units no store holds are dropped; a store's
        open work not yet picked is made smaller and its stock released; work a store is already preparing only
        whole. What they were authorised for is voided and the customer told; every unit cancelled cancels the
        order. `cancelled` in the answer: {line_no: units} cancelled by this call."""
        order = _locked(order_id)
        units = {line["line_no"]: line["quantity"] for line in body["lines"]}
        done = actions.cancel_lines(order, units, body["note"], actor=api_actor())
        return _answer(order, cancelled={str(line_no): n for line_no, n in done.items()})


@blp.route("/<int:order_id>/address")
class Address(MethodView):
    @_write(
        AddressInSchema,
        answers={
            409: "The order is collected in store, or part of it is packed or has left (service_refused); or the "
            "Idempotency-Key was used for another request",
        },
    )
    def post(self, body, order_id):
        """Change a delivered order's address before any of it is packed; the customer is told. The same address
        again changes nothing."""
        order = _locked(order_id)
        address = {name: body[name] for name in actions.ADDRESS_FIELDS}
        actions.change_address(order, address, body["note"], actor=api_actor())
        return _answer(order)


@blp.route("/<int:order_id>/pickup-store")
class PickupStore(MethodView):
    @_write(
        PickupStoreInSchema,
        answers={
            409: "The order is delivered, or part of it is packed or on a hold shelf (service_refused); or the "
            "Idempotency-Key was used for another request",
            422: "Unknown or closed store, or one without click & collect; a blank note; or the Idempotency-Key "
            "header is missing",
        },
    )
    def post(self, body, order_id):
        """Change a click & collect order's pickup store before any of it is packed: work already given to stores
        goes on there and travels to the new store. The customer is told; the same store again changes nothing."""
        order = _locked(order_id)
        actions.change_pickup_store(order, body["location"], body["note"], actor=api_actor())
        return _answer(order)


@blp.route("/<int:order_id>/goodwill-refunds")
class GoodwillRefunds(MethodView):
    @_write(
        GoodwillInSchema,
        response=GoodwillOutSchema,
        answers={
            409: "The order was not paid through us, or nothing captured is left to refund (service_refused); or the "
            "Idempotency-Key was used for another request",
            422: "An amount not above zero, beyond the goodwill limit left for the order, or beyond what can still "
            "be refunded (fields.amount says how much is left); a blank note; or the Idempotency-Key header is "
            "missing",
        },
    )
    def post(self, body, order_id):
        """Refund a gesture of goodwill to the order's payment, within the retailer's limit per order (all
        goodwill refunds together). Each Idempotency-Key is one refund: a repeat with the same key answers that
        refund, even when sent while the first was under way; another key is another refund."""
        order = _locked(order_id)  # the key's refund, when one committed meanwhile, is answered here
        txn = actions.goodwill_refund(order, body["amount"], body["note"], actor=api_actor())
        db.session.flush()
        refund = next(t for t in payments.summary(order)["transactions"] if t["id"] == txn.id)
        return _answer(order, refund=PaymentTransactionSchema().dump(refund))


@blp.route("/<int:order_id>/complaint")
class Complaint(MethodView):
    @_write(
        NoteInSchema,
        scopes=("orders:write", CS_SCOPE),
        answers={403: "The client has neither orders:write (the web shop) nor customer_service:write"},
    )
    def post(self, body, order_id):
        """A customer complained (on the web shop, on the phone): the order joins the exception queue with the
        note (needs_customer_service, event order.needs_customer_service with reason complaint). Takes
        orders:write (the web shop that captured the order) or customer_service:write. Flagged for a complaint
        already: nothing more."""
        order = _locked(order_id)
        actions.flag_complaint(order, body["note"], actor=api_actor())
        return _answer(order)


@blp.route("/<int:order_id>/resolve")
class Resolve(MethodView):
    @_write(NoteInSchema)
    def post(self, body, order_id):
        """Customer service dealt with what flagged the order: needs_customer_service is cleared (event
        order.resolved); a late order stays in the exception queue while it is late. Not flagged: nothing
        changes."""
        order = _locked(order_id)
        actions.resolve(order, body["note"], actor=api_actor())
        return _answer(order)
