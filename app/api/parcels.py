"""Parcel labels through the API: the PDF and ZPL of a parcel's label in force.

Allowed for an API client with the orders:read scope, or a signed-in staff member of the parcel's store.
"""

from functools import wraps

from flask import g, request
from flask.views import MethodView
from flask_babel import gettext
from flask_login import current_user

from app.api import api_blueprint, error_body, require_scope
from app.api.schemas import MAX_ID, ApiErrorSchema
from app.core.errors import NotFound
from app.core.floor import packing
from app.core.models import Parcel
from app.documents import label_document
from app.extensions import db
from app.web.helpers import document_response

blp = api_blueprint("api_parcels", "/api/v1/parcels", "Parcel labels (PDF and ZPL)")

PDF = {"application/pdf": {"schema": {"type": "string", "format": "binary"}}}
ZPL = {"text/plain": {"schema": {"type": "string"}}}


def token_or_staff(view):
    """A bearer token with orders:read, or a signed-in member of the parcel's store (checked in the view)."""
    scoped = require_scope("orders:read")(view)

    @wraps(view)
    def wrapped(*args, **kwargs):
        if request.headers.get("Authorization") or not current_user.is_authenticated:
            return scoped(*args, **kwargs)
        g.staff = current_user
        return view(*args, **kwargs)

    return wrapped


def _parcel_label(parcel_id: int):
    parcel = db.session.get(Parcel, parcel_id) if parcel_id <= MAX_ID else None
    if parcel is None:
        raise NotFound()
    staff = g.get("staff")
    if staff is not None and not staff.may_access(parcel.fulfilment.location):
        return None, error_body(403, gettext("You do not have access to this page."))
    return packing.printable_label(parcel), None  # 404 without a label in force, 409 for click & collect


@blp.route("/<int:parcel_id>/label.pdf")
class LabelPdf(MethodView):
    @token_or_staff
    @blp.doc(responses={200: {"description": "The 4x6 label, one page", "content": PDF}})
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="A click & collect order: never labelled")
    def get(self, parcel_id):
        """The parcel's shipping label in force, as a 4x6 inch PDF."""
        from labels.shipping import label_pdf

        label, refused = _parcel_label(parcel_id)
        if refused is not None:
            return refused
        return document_response(label_pdf(label_document(label)), f"label-{label.tracking_number}.pdf")


@blp.route("/<int:parcel_id>/label.zpl")
class LabelZpl(MethodView):
    @token_or_staff
    @blp.doc(responses={200: {"description": "The label as ZPL II for a 203 dpi thermal printer", "content": ZPL}})
    @blp.alt_response(401, schema=ApiErrorSchema)
    @blp.alt_response(403, schema=ApiErrorSchema)
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(409, schema=ApiErrorSchema, description="A click & collect order: never labelled")
    def get(self, parcel_id):
        """The parcel's shipping label in force, as ZPL II."""
        from labels.shipping import label_zpl

        label, refused = _parcel_label(parcel_id)
        if refused is not None:
            return refused
        return document_response(label_zpl(label_document(label)), f"label-{label.tracking_number}.zpl", "text/plain")
