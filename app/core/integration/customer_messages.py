"""What the customer is told about an order beyond click & collect (app.core.integration.notices): confirmed,
split, delayed, cancelled, return received, refunded. Written to the outbox in the customer's language, in the same
transaction as what they tell; each kind can be turned off by the retailer (RetailerSettings.notifications_off)."""

from flask_babel import gettext

from app.core.models import OutboundEmail, PaymentTransaction
from app.extensions import db
from app.formatting import customer_locale


def refunded(txn: PaymentTransaction) -> OutboundEmail | None:
    """The refund reached the customer's original payment."""
    order = txn.order
    if not (order.customer_email or "").strip():
        return None
    with customer_locale(order):
        subject = gettext("Your refund for order %(ref)s", ref=order.reference)
        body = gettext(
            "We refunded %(amount)s %(currency)s to your original payment for order %(ref)s.",
            amount=txn.amount,
            currency=txn.currency,
            ref=order.reference,
        )
    email = OutboundEmail(
        order_id=order.id, to=order.customer_email.strip(), subject=subject[:200], body=body, kind="refunded"
    )
    db.session.add(email)
    return email


def return_received(customer_return) -> OutboundEmail | None:
    """The items came back (replaced by the full message set)."""
    order = customer_return.order
    if not (order.customer_email or "").strip():
        return None
    with customer_locale(order):
        subject = gettext("We received your return %(number)s", number=customer_return.number)
        body = gettext("We received the items of your return %(number)s.", number=customer_return.number)
    email = OutboundEmail(
        order_id=order.id, to=order.customer_email.strip(), subject=subject[:200], body=body, kind="return_received"
    )
    db.session.add(email)
    return email
