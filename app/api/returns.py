"""Customer returns through the API: a POS taking items back at its till, a WMS receiving returns by post.

Reading takes orders:read; every change takes returns:write. Every POST takes an Idempotency-Key: a repeat with
the same key answers the same and changes nothing. The operations are the core's (app.core.returns), as the
screens call them: the order is locked first, so two tills returning the last unit at once cannot both pass (one
answers 201, the other 422 naming the line). The refund goes to the original payment after the commit; the answer
gives its status then (pending), GET gives it later.
"""

from flask import jsonify, url_for
from flask.views import MethodView
from sqlalchemy import select

from app.api import api_actor, api_blueprint, require_scope
from app.api.idempotency import idempotent
from app.api.schemas import (
    MAX_ID,
    ApiErrorSchema,
    ReturnDecisionInSchema,
    ReturnInSchema,
    ReturnListSchema,
    ReturnOutSchema,
    ReturnQuerySchema,
    ReturnReceiveInSchema,
)
from app.api.stock import IDEMPOTENCY_HEADER
from app.core import payments, returns
from app.core.errors import N_, InvalidInput, NotFound
from app.core.models import CustomerReturn, Location, Order, PaymentTransaction, ReturnLine
from app.extensions import db

blp = api_blueprint(
    "api_returns",
    "/api/v1/returns",
    "Customer returns (a POS at the till, a WMS for returns by post): take items back, receive a return by post, "
    "decide on items in quarantine, print the receipt. Read with orders:read, change with returns:write; every POST "
    "takes an Idempotency-Key.",
)
WRITE_SCOPE = "returns:write"
READ_SCOPE = "orders:read"
PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
SIZES = ("a4", "80mm")

ANSWERS = {
    401: "No valid API token",
    403: "The client lacks the returns:write scope",
    404: "No such return (or line of it)",
    409: "Not possible in the return's state (error return_refused), or the Idempotency-Key was used for another "
    "request (idempotency_conflict)",
    422: "A value is not valid (each named in fields: more units than can come back, an unknown order or location, "
    "the return window has ended...), or the Idempotency-Key header is missing; nothing changed",
}


def _write(schema, *, status=200):
    """The decorators every POST shares: scope, Idempotency-Key, body, documented answers."""

    def decorator(view):
        documented = view
        for code, description in ANSWERS.items():
            documented = blp.alt_response(code, schema=ApiErrorSchema, description=description)(documented)
        documented = blp.response(status, ReturnOutSchema)(documented)
        documented = blp.arguments(schema)(documented)
        documented = blp.doc(parameters=[IDEMPOTENCY_HEADER])(documented)
        return require_scope(WRITE_SCOPE)(idempotent(documented))

    return decorator


def _location(code: str) -> Location:
    location = db.session.scalar(select(Location).where(Location.code == code))
    if location is None:
        raise InvalidInput(N_("Unknown location."), field="location")
    return location


def _return(return_id: int) -> CustomerReturn:
    return returns.get_return(return_id if return_id <= MAX_ID else 0)


def _refund(ret: CustomerReturn) -> dict:
    txn = db.session.scalars(
        select(PaymentTransaction)
        .where(PaymentTransaction.return_id == ret.id, PaymentTransaction.kind == "refund")
        .order_by(PaymentTransaction.id.desc())
        .limit(1)
    ).first()
    return {
        "amount": str(payments.money(ret.refund_amount)),
        "shipping": str(payments.money(ret.shipping_refunded)),
        "currency": ret.order.currency,
        "status": txn.status if txn is not None else "none",
    }


def describe(ret: CustomerReturn) -> dict:
    """A return as the API answers it (ReturnOutSchema), money as decimal strings."""
    db.session.flush()
    return {
        "id": ret.id,
        "number": ret.number,
        "order_id": ret.order_id,
        "location": ret.location.code,
        "status": ret.status,
        "lines": [
            {
                "id": line.id,
                "sku": line.product.sku,
                "quantity": line.quantity,
                "reason": line.reason,
                "condition": line.condition,
                "unit_refund": str(payments.money(line.unit_refund)),
                "outcome": line.outcome,
            }
            for line in ret.lines
        ],
        "refund": _refund(ret),
        "created_at": ret.created_at.isoformat(),
        "received_at": ret.received_at.isoformat() if ret.received_at is not None else None,
        "receipt_pdf_url": url_for("api_returns.ReceiptPdf", return_id=ret.id, _external=True),
    }


def _answer(ret: CustomerReturn, status: int = 200):
    response = jsonify(describe(ret))
    response.status_code = status
    return response


@blp.route("")
class Returns(MethodView):
    @require_scope(READ_SCOPE)
    @blp.arguments(ReturnQuerySchema, location="query")
    @blp.response(200, ReturnListSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """An order's returns, oldest first (none for an unknown order)."""
        found = db.session.scalars(
            select(CustomerReturn).where(CustomerReturn.order_id == query["order_id"]).order_by(CustomerReturn.id)
        ).all()
        return jsonify({"items": [describe(ret) for ret in found]})

    @_write(ReturnInSchema, status=201)
    def post(self, body):
        """Take items of an order back: at a till (`received`, the default: resellable units on sale at this
        location at once, damaged ones to its damaged count, `inspect` ones in quarantine; the refund sent to the
        original payment), or announce a return by post (`expected`: stock and refund wait for POST
        .../{id}/receive).

        What can come back is what left the stores (shipped, collected) less what came back already; more is
        refused with 422 naming the line (`lines.<n>.quantity`), and nothing changes. The refund follows the
        retailer's rule: the units' prices, the shipping fee when the whole order has come back, inside the
        return window; never more than was captured. `refund.status` is the refund's status with the payment
        provider when the answer is made (pending: it is called right after), none when nothing is refunded."""
        order = db.session.get(Order, body["order_id"])
        if order is None:
            raise InvalidInput(N_("Unknown order."), field="order_id")
        location = _location(body["location"])
        ret = returns.create_return(order, location, body["lines"], actor=api_actor(), status=body["status"])
        return _answer(ret, 201)


@blp.route("/<int:return_id>")
class ReturnById(MethodView):
    @require_scope(READ_SCOPE)
    @blp.response(200, ReturnOutSchema)
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    def get(self, return_id):
        """One return with its lines and its refund."""
        return _answer(_return(return_id))


@blp.route("/<int:return_id>/receive")
class Receive(MethodView):
    @_write(ReturnReceiveInSchema)
    def post(self, body, return_id):
        """A return by post arrived at a location: its units into that location's stock by their condition, the
        refund sent. Received already: answered as it is, nothing changes."""
        ret = _return(return_id)
        location = _location(body["location"])
        returns.receive(ret, location, actor=api_actor())
        return _answer(ret)


@blp.route("/<int:return_id>/lines/<int:line_id>/decision")
class Decision(MethodView):
    @_write(ReturnDecisionInSchema)
    def post(self, body, return_id, line_id):
        """A manager's decision on a line returned for inspection (in quarantine at the receiving location):
        `resellable` puts its units on sale there, `damaged` moves them to the damaged count. The same decision
        again changes nothing; another one once decided is refused (409 return_refused)."""
        ret = _return(return_id)
        line = db.session.get(ReturnLine, line_id) if line_id <= MAX_ID else None
        if line is None or line.return_id != ret.id:
            raise NotFound()
        returns.decide(line, body["outcome"], actor=api_actor())
        return _answer(ret)


@blp.route("/<int:return_id>/receipt.pdf")
class ReceiptPdf(MethodView):
    @require_scope(READ_SCOPE)
    @blp.doc(
        parameters=[
            {
                "in": "query",
                "name": "size",
                "required": False,
                "schema": {"type": "string", "enum": list(SIZES), "default": "a4"},
                "description": "a4, or 80mm for a till's receipt printer",
            }
        ],
        responses={200: {"description": "The return receipt, in the customer's language", "content": PDF}},
    )
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, return_id):
        """The customer's return receipt as a PDF (A4, or 80 mm till roll with `size=80mm`): the return number as
        a Code128, the items with reason and condition, the refund to the original payment."""
        from flask import request

        from app.documents import return_receipt_document
        from app.web.helpers import document_response

        size = request.args.get("size", "a4")
        if size not in SIZES:
            raise InvalidInput(N_("Choose a4 or 80mm."), field="size")
        ret = _return(return_id)
        return document_response(return_receipt_document(ret, size=size), f"{ret.number}.pdf")
