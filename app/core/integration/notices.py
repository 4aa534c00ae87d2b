"""What the customer is told about a click & collect order: ready (with the pickup code), a reminder before the hold
ends, and a receipt once collected. Written to the outbox (OutboundEmail, OutboundSms) in the same transaction as
what they tell, in the customer's language; the worker sends them."""

from flask_babel import gettext

from app.core.models import OutboundEmail
from app.extensions import db
from app.formatting import customer_locale


def _email(pickup, kind: str, subject: str, body: str) -> OutboundEmail | None:
    order = pickup.fulfilment.order
    if not (order.customer_email or "").strip():
        return None
    email = OutboundEmail(
        order_id=order.id, to=order.customer_email.strip(), subject=subject[:200], body=body, kind=kind
    )
    db.session.add(email)
    return email


def pickup_ready(pickup) -> None:
    order = pickup.fulfilment.order
    with customer_locale(order):
        subject = gettext("Your order %(ref)s is ready for pickup", ref=order.reference)
        body = gettext("Your pickup code: %(code)s", code=pickup.code)
    _email(pickup, "pickup_ready", subject, body)


def pickup_reminder(pickup) -> None:
    order = pickup.fulfilment.order
    with customer_locale(order):
        subject = gettext("Your order %(ref)s is waiting for you", ref=order.reference)
        body = gettext("Your pickup code: %(code)s", code=pickup.code)
    _email(pickup, "pickup_reminder", subject, body)


def pickup_collected(pickup) -> None:
    order = pickup.fulfilment.order
    with customer_locale(order):
        subject = gettext("Receipt for your order %(ref)s", ref=order.reference)
        body = gettext("Thank you: you collected your order %(ref)s.", ref=order.reference)
    _email(pickup, "pickup_collected", subject, body)
