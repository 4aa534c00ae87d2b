"""Incoming: the click & collect transfers other locations send to this pickup store, and receiving them.

The list is pickups.incoming(store): each order with its sending store and its parcels (tracking numbers, and
whether the carrier has them yet). Scanning a transfer parcel's label, or typing its tracking number or the order
number, receives it (pickups.receive_transfer, one unit of work): its units move to this store in the ledger,
still reserved for the order, and the screen links to where it is prepared and staged. Receiving it again changes
nothing; a code that names no transfer to this store (unknown, or another store's) is refused with a message and
changes nothing. The base page's scan bar posts here too, so a wedge scanner works anywhere on the screen.
"""

from flask import Blueprint, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from sqlalchemy import func, select
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from app.core.errors import DomainError
from app.core.floor import pickups
from app.core.models import Fulfilment, Pickup
from app.core.models.base import utcnow
from app.core.models.orders import open_statuses_clause
from app.core.uow import unit_of_work
from app.extensions import db
from app.web.helpers import current_actor, domain_message, render, store_route, toast

bp = Blueprint("incoming", __name__)


class ReceiveForm(FlaskForm):
    code = StringField(
        lazy_gettext("Tracking number or order number"),
        validators=[DataRequired(message=lazy_gettext("Scan the parcel's label or type a code.")), Length(max=64)],
    )


def incoming_count(store) -> int:
    """How many transfers are coming to this store, not received yet (the queue's "Incoming" count): the same
    rows as pickups.incoming, counted through the open-work index, so each poll of the queue stays cheap."""
    return db.session.scalar(
        select(func.count())
        .select_from(Fulfilment)
        .outerjoin(Pickup, Pickup.fulfilment_id == Fulfilment.id)
        .where(
            Fulfilment.transfer_to_id == store.id,
            Fulfilment.location_id != store.id,
            open_statuses_clause(),
            Pickup.received_at.is_(None),
        )
    )


def prepare_url(store, fulfilment) -> str:
    """Where the pickup store prepares and stages a received order (bags, bag labels, the hold shelf)."""
    return url_for("pickups.prepare", store_code=store.code, fulfilment_id=fulfilment.id)


def _rows(store) -> list[dict]:
    rows = []
    for fulfilment in pickups.incoming(store):
        parcels = [p for p in fulfilment.parcels if p.label is not None]
        rows.append(
            {
                "f": fulfilment,
                "state": pickups.pickup_status(fulfilment),
                "parcels": parcels,
                "units": sum(line.picked or line.quantity for line in fulfilment.lines),
            }
        )
    return rows


def incoming_page(store, *, form=None, received=None, already=False, status=200, trigger=None):
    return render(
        "incoming/incoming.html",
        "incoming/_incoming.html",
        status=status,
        trigger=trigger,
        store=store,
        rows=_rows(store),
        form=form or ReceiveForm(formdata=None),
        received=received,
        already=already,
        next_url=prepare_url(store, received) if received is not None else None,
        scan_url=url_for("incoming.receive", store_code=store.code),
        scan_target="#incoming",
    )


@bp.get("/stores/<store_code>/incoming")
@store_route
def incoming(store):
    return incoming_page(store)


@bp.post("/stores/<store_code>/incoming/receive")
@store_route
def receive(store):
    """Receive the transfer a code names (tracking number or order number): 200 with the order and the next
    step, 200 "already received" on a repeat, 422/409 with the reason and nothing changed otherwise."""
    form = ReceiveForm()
    if not form.validate():
        message = gettext("Scan the parcel's label or type a code.")
        return incoming_page(store, form=form, status=422, trigger={"scan": {"ok": False}, **toast(message, "error")})
    now = utcnow()
    try:
        with unit_of_work():
            fulfilment = pickups.receive_transfer(store, form.code.data, actor=current_actor(), now=now)
            received_at = fulfilment.pickup.received_at
            already = received_at is not None and received_at.replace(tzinfo=None) != now.replace(tzinfo=None)
    except DomainError as error:
        form.code.errors = [domain_message(error)]
        return incoming_page(
            store,
            form=form,
            status=error.http_status,
            trigger={"scan": {"ok": False}, **toast(domain_message(error), "error")},
        )
    ref, sender = fulfilment.order.reference, fulfilment.location.code
    if already:
        message = gettext("Order %(ref)s was already received here.", ref=ref)
    else:
        message = gettext("Order %(ref)s received from store %(sender)s.", ref=ref, sender=sender)
    return incoming_page(
        store,
        received=fulfilment,
        already=already,
        trigger={"scan": {"ok": True}, **toast(message)},
    )
