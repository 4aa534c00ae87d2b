"""Customers' personal data through the API: a copy of what is held about a customer (customers:read), and its
erasure on their request (customers:write). docs/PRIVACY.md says what is erased and what stays.

The e-mail travels in the JSON body, never in the address: addresses end up in access logs and proxies' logs, and
logs never hold personal data. The erasure takes an Idempotency-Key like every state-changing POST; its stored
answer names the customer only by the SHA-256 of the e-mail.
"""

from flask.views import MethodView
from marshmallow import Schema, fields, validate

from app.api import api_actor, api_blueprint, require_scope
from app.api.idempotency import idempotent
from app.api.schemas import ApiErrorSchema
from app.api.stock import IDEMPOTENCY_HEADER
from app.core import privacy
from app.core.uow import unit_of_work

blp = api_blueprint(
    "api_customers",
    "/api/v1/customers",
    "Customers' personal data (GDPR): a copy of what is held about a customer (customers:read), and its erasure on "
    "their request (customers:write, with an Idempotency-Key). The e-mail goes in the body, never in the address.",
)


class CustomerEmailSchema(Schema):
    email = fields.String(
        required=True, validate=validate.Length(min=3, max=254), metadata={"example": "lea.rossi@example.com"}
    )


class EraseInSchema(CustomerEmailSchema):
    reason = fields.String(
        required=True,
        validate=validate.Length(min=1, max=200),
        metadata={"description": "Why (kept in the audit trail, without the customer's name or e-mail)"},
    )


class ExportSchema(Schema):
    email = fields.String()
    exported_at = fields.String()
    orders = fields.List(
        fields.Dict(),
        metadata={"description": "Each order under this e-mail: customer, address, lines, payments, messages"},
    )


class ErasedSchema(Schema):
    email_sha256 = fields.String(metadata={"description": "SHA-256 of the e-mail (lower case): what the audit keeps"})
    orders = fields.Integer(metadata={"description": "Orders whose personal data was erased by this call"})
    order_ids = fields.List(fields.Integer())
    emails = fields.Integer()
    text_messages = fields.Integer()
    audit_events = fields.Integer()
    events = fields.Integer()
    api_answers = fields.Integer()


def _errors(view):
    for code, description in (
        (401, "No valid API token"),
        (403, "The client lacks the scope"),
        (422, "Not a valid e-mail address, no reason, or no Idempotency-Key (erase); nothing changed"),
    ):
        view = blp.alt_response(code, schema=ApiErrorSchema, description=description)(view)
    return view


@blp.route("/export")
class Export(MethodView):
    @require_scope("customers:read")
    @blp.arguments(CustomerEmailSchema)
    @blp.response(200, ExportSchema)
    @_errors
    def post(self, body):
        """Everything held about the customer of this e-mail: their orders with the name, contacts and address
        given, lines, payments, returns, the e-mails and text messages sent, customer service notes. Changes
        nothing (POST only to keep the e-mail out of the address)."""
        with unit_of_work():
            return privacy.export(body["email"])


@blp.route("/erase")
class Erase(MethodView):
    @require_scope("customers:write")
    @idempotent
    @blp.arguments(EraseInSchema)
    @blp.response(200, ErasedSchema)
    @blp.alt_response(
        409,
        schema=ApiErrorSchema,
        description="One of the customer's orders is still open (open_orders), or the Idempotency-Key was used for "
        "another request (idempotency_conflict); nothing changed",
    )
    @blp.doc(parameters=[IDEMPOTENCY_HEADER])
    @_errors
    def post(self, body):
        """Erase the customer's name, e-mail, phone, addresses and gift messages from their closed orders and every
        copy (messages, audit, events, stored answers); the orders, payments, stock ledger and figures stay. Refused
        (409) while an order of theirs is open. A second call erases nothing more."""
        summary = privacy.erase(body["email"], actor=api_actor(), reason=body["reason"])
        return summary
