"""The customer service console's shell: /cs, one search box over every order of the chain.

Customer service (and admins) type whatever the customer has at hand (app.core.service.search) and open the order's
page (/cs/orders/<id>, app.web.cs). Associates and managers work in their stores and do not see it (403); customer
service, in turn, cannot open a store's floor screens (app.web.helpers.store_route).
"""

from flask import Blueprint, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_login import login_required
from sqlalchemy import select
from sqlalchemy.orm import joinedload, selectinload

from app import formatting
from app.core.models import Fulfilment, Order
from app.core.models.users import Role
from app.core.service import search
from app.extensions import db
from app.web import METHOD_LABELS, STATUS_LABELS
from app.web.helpers import render, role_required

bp = Blueprint("cs_search", __name__)

CONSOLE_ROLES = (Role.CUSTOMER_SERVICE, Role.ADMIN)
ORDER_STATUS_LABELS = {
    "open": lazy_gettext("In progress"),
    "completed": lazy_gettext("Completed"),
    "cancelled": lazy_gettext("Cancelled"),
}


def order_url(order_id: int) -> str:
    """The order's console page (app.web.cs, built alongside): by its endpoint once registered."""
    try:
        return url_for("cs.order", order_id=order_id)
    except Exception:
        return f"/cs/orders/{order_id}"


def _loaded(found: list[Order]) -> list[Order]:
    """The orders with their fulfilments' stores and the pickup store, in a few statements (not one per row)."""
    if not found:
        return []
    ids = [o.id for o in found]
    db.session.scalars(
        select(Order)
        .where(Order.id.in_(ids))
        .options(
            selectinload(Order.fulfilments).joinedload(Fulfilment.location),
            joinedload(Order.pickup_location),
        )
    ).unique().all()
    return found


def _row(order: Order) -> dict:
    stores = list({f.location_id: f.location for f in order.fulfilments}.values())
    home = order.pickup_location or (stores[0] if stores else None)  # whose clock tells the order's date
    return {
        "id": order.id,
        "url": order_url(order.id),
        "reference": order.reference,
        "customer": order.customer_name,
        "email": order.customer_email,
        "method": METHOD_LABELS.get(order.delivery_method, order.delivery_method),
        "status": ORDER_STATUS_LABELS.get(order.status, order.status),
        "flagged": order.needs_customer_service,
        "stores": [
            {"name": f.location.name, "code": f.location.code, "status": STATUS_LABELS.get(f.status, f.status)}
            for f in order.fulfilments
        ],
        "pickup": order.pickup_location.name if order.pickup_location is not None else "",
        "date": formatting.store_time(order.created_at, home),
    }


@bp.get("/cs")
@login_required
@role_required(*CONSOLE_ROLES)
def home():
    """The search box; with ?q= its results (an htmx request gets the results alone)."""
    query = search.clean(request.args.get("q", ""))
    rows, message, status = None, "", 200
    if "q" in request.args:
        if not query:
            message, status = gettext("Type an order number, a name, an e-mail, a phone or a code."), 422
        else:
            rows = [_row(o) for o in _loaded(search.search_orders(query))]
            if not rows:
                message = gettext("No order matches “%(query)s”.", query=query)
                if search.customer_condition(query) is None and not search.identified(query):
                    message = gettext("Type at least 3 letters of a name, or more of a number.")
                status = 404
    from app.core.service import story

    return render(
        "cs/search.html",
        "cs/_results.html",
        status=status,
        query=query,
        rows=rows,
        message=message,
        exception_total=story.exception_count(),
    )
