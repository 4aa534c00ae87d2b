"""The customer's "I'm here" page, opened from the link of the ready e-mail (no account): the customer says they
have arrived at the store (with, if they like, where they parked), and the store's queue shows it.

The link's token is signed with the app's SECRET_KEY (app.core.integration.notices.im_here_token) and names the
pickup; the page works only while that order waits on the hold shelf and its hold has not ended. The page speaks
the customer's language (the order's), whatever the browser says; a link that is not ours is a 404, an order no
longer waiting a polite 410. The post's CSRF token is checked by the view itself (it is exempt from the app-wide
check, and a post without a valid token is still a 400 changing nothing), so a stale page gets this page's own
message in the customer's language, not the staff error page.
"""

from flask import Blueprint, redirect, request, url_for
from flask_babel import gettext, lazy_gettext
from flask_wtf import FlaskForm
from flask_wtf.csrf import validate_csrf
from wtforms import StringField, ValidationError

from app.core.errors import DomainError
from app.core.floor import pickups
from app.core.integration import notices
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.uow import unit_of_work
from app.extensions import csrf
from app.formatting import customer_locale
from app.web.helpers import domain_message, render

bp = Blueprint("curbside", __name__, url_prefix="/pickup")
MAX_TOKEN = 200


class ArrivalForm(FlaskForm):
    note = StringField(
        lazy_gettext("Parking spot or car (optional)"),
        render_kw={"maxlength": 120, "autocomplete": "off", "placeholder": lazy_gettext("e.g. spot 12, red Clio")},
    )


def _waiting(pickup) -> str | None:
    """Why the page cannot take an arrival for this pickup, or None while the order waits for the customer."""
    if not pickup.location.curbside:
        return gettext("This store does not take arrivals from this page: go to the counter with your pickup code.")
    status = pickup.fulfilment.status
    if status == S.COLLECTED:
        return gettext("You have collected this order already. Thank you!")
    expires_at = pickup.expires_at
    if status == S.EXPIRED or (status == S.READY_FOR_PICKUP and expires_at is not None and expires_at <= utcnow()):
        return gettext("The hold of this order has ended. Contact the store or our customer service.")
    if status != S.READY_FOR_PICKUP:
        return gettext("This order is not waiting for you at the store any more.")
    return None


def _csrf_valid() -> bool:
    """Whether the post carries this session's CSRF token (in the form, or the header htmx sends)."""
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRFToken")
    try:
        validate_csrf(sent)
    except ValidationError:
        return False
    return True


def _gone(message: str, status: int, pickup=None):
    return render("curbside/gone.html", status=status, message=message, pickup=pickup)


@bp.route("/<token>", methods=["GET", "POST"])
@csrf.exempt
def im_here(token: str):
    pickup = notices.pickup_from_token(token) if len(token) <= MAX_TOKEN else None
    form_valid = request.method != "POST" or _csrf_valid()
    if pickup is None:
        if not form_valid:  # as every form of the app: a post without its token is a 400, whatever the address
            return _gone(gettext("This page was open too long. Tap the button again."), 400)
        return _gone(gettext("This link is not valid. Check that you opened the whole link from your e-mail."), 404)
    order = pickup.fulfilment.order
    with customer_locale(order):
        refused = _waiting(pickup)
        if refused:
            return _gone(refused, 404 if not pickup.location.curbside else 410, pickup)
        form = ArrivalForm(meta={"csrf": False})  # checked above, with this page's own message
        status, alert = 200, None
        if request.method == "POST":
            if form_valid:
                try:
                    with unit_of_work():
                        pickups.customer_arrived(pickup, note=form.note.data or "")
                except DomainError as error:
                    return _gone(domain_message(error), 410, pickup)
                return redirect(url_for("curbside.im_here", token=token), 303)
            status, alert = 400, gettext("This page was open too long. Tap the button again.")
        else:
            form.note.data = pickup.arrival_note
        return render(
            "curbside/im_here.html",
            status=status,
            form=form,
            alert=alert,
            pickup=pickup,
            order=order,
            store=pickup.location,
            code=pickups.format_code(pickup.code),
            deadline=notices.deadline(pickup),
            address=notices.address_lines(pickup.location),
        )
