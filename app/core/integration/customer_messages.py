"""What the customer is told about an order beyond click & collect (app.core.integration.notices): confirmed,
split, delayed, cancelled (all or part), shipped, return received, refunded. Written to the outbox (OutboundEmail,
and OutboundSms where a short text helps) in the same transaction as what they tell, in the customer's language,
each e-mail with a text part and an HTML part built from the same blocks (templates/email/message.html). Money
is written as the customer writes it (Babel), times on the store's clock.

Every message, the click & collect ones too, goes through send(): the retailer can turn each kind off
(RetailerSettings.notifications_off; NOTIFICATION_KINDS), and then nothing is written.
"""

from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from flask import current_app
from flask_babel import gettext, ngettext
from sqlalchemy import exists, literal, select, union_all

from app.core import audit, batch
from app.core.actor import Actor
from app.core.models import (
    CustomerReturn,
    DeliveryMethod,
    Fulfilment,
    Order,
    OutboundEmail,
    OutboundSms,
    Parcel,
    PaymentTransaction,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import among, utcnow
from app.core.models.payments import NOTIFICATION_KINDS
from app.extensions import db
from app.formatting import customer_locale, money, product_name, store_clock, store_date

SMS_LENGTH = 480
# Work still to be made ready: past its ready_by, the customer hears it is late (order_delayed).
NOT_READY = (S.CREATED, S.ACCEPTED, S.PICKING, S.PICKED)


# --- the retailer's choice and the outbox ------------------------------------------------------------------------


def enabled(kind: str) -> bool:
    """Whether the retailer sends this kind of message (all are on until turned off)."""
    from app.core import payments

    if kind not in NOTIFICATION_KINDS:
        return True
    return kind not in (payments.settings().notifications_off or [])


def send(
    order: Order,
    kind: str,
    subject: str,
    text: str,
    html: str | None = None,
    sms: str | None = None,
    qr: str | None = None,
) -> OutboundEmail | None:
    """Write the e-mail (when the order has an address) and the text message (when given and the order has a phone
    number) of one kind, unless the retailer turned that kind off. Returns the e-mail written, if any (inside
    batch.rows_written_together(): None, the rows are written when it ends)."""
    if not enabled(kind):
        return None
    rows = batch.pending()
    # An order captured in this request lists what it queued (messages_queued, see capture.capture_order), so that
    # the API's answer need not read it back; a message written any other way drops that list, which it outdates.
    queued = getattr(order, "messages_queued", None) if rows is not None else vars(order).pop("messages_queued", None)
    now = utcnow()
    email = emailed = None
    address = (order.customer_email or "").strip()
    if address:
        emailed = dict(
            order_id=order.id,
            to=address,
            subject=" ".join(subject.split())[:200],
            body=text,
            kind=kind,
            html=html,
            qr=qr,
        )
        if rows is not None:
            rows.add(OutboundEmail, {**emailed, "created_at": now})
        else:
            email = OutboundEmail(**emailed)
            db.session.add(email)
    phone = "".join((order.customer_phone or "").split())
    texted = bool(sms and phone)
    if texted:
        values = dict(order_id=order.id, to=phone[:32], body=sms[:SMS_LENGTH], kind=kind)
        if rows is not None:
            rows.add(OutboundSms, {**values, "created_at": now})
        else:
            db.session.add(OutboundSms(**values))
    if emailed is not None or texted:  # on the order's timeline: what the customer was told, and how (no address)
        channels = [name for name, sent in (("email", emailed is not None), ("sms", texted)) if sent]
        audit.record(Actor.system("messages"), "message.queued", order, None, {"kind": kind, "channels": channels})
        if queued is not None and rows is not None:  # as messages_of would read them back
            queued += [
                {"kind": kind, "channel": channel, "status": "pending", "created_at": now, "sent_at": None}
                for channel in channels
            ]
    return email


_send = send


@cache
def _messages_statement(postgresql: bool):
    """The orders' e-mails and text messages in one UNION ALL, built once per database kind: on PostgreSQL the ids
    are one array parameter, so the SQL text is the same for any number of orders (psycopg prepares it; an IN list
    of 50 ids twice was parsed again on every page of the orders list)."""
    email, text = OutboundEmail.__table__, OutboundSms.__table__
    rows = union_all(
        *(
            select(
                table.c.order_id,
                table.c.kind,
                literal(channel).label("channel"),
                table.c.status,
                table.c.created_at,
                table.c.sent_at,
                table.c.id,
            ).where(among(table.c.order_id, postgresql, "ids" if channel == "email" else "ids_"))
            for table, channel in ((email, "email"), (text, "sms"))
        )
    ).subquery()
    return select(rows).order_by(rows.c.order_id, rows.c.created_at, rows.c.channel, rows.c.id)


def messages_of(order_ids: list[int]) -> dict[int, list[dict]]:
    """{order id: [{kind, channel, status, created_at, sent_at}]} of the orders' e-mails and text messages, oldest
    first (no addresses, no content): one statement whatever the number of orders."""
    if not order_ids:
        return {}
    found: dict[int, list[dict]] = {}
    db.session.flush()  # read through the connection below, as Session.execute would after its autoflush
    connection = db.session.connection()
    statement = _messages_statement(connection.dialect.name == "postgresql")
    ids = list(order_ids)
    for order_id, kind, channel, status, created_at, sent_at, _ in connection.execute(
        statement, {"ids": ids, "ids_": ids}
    ).all():
        found.setdefault(order_id, []).append(
            {"kind": kind, "channel": channel, "status": status, "created_at": created_at, "sent_at": sent_at}
        )
    return found


def reachable(order: Order) -> bool:
    return bool((order.customer_email or "").strip() or "".join((order.customer_phone or "").split()))


# --- one message, as text and as HTML --------------------------------------------------------------------------


@dataclass
class Message:
    """A message's content as blocks, written once and shown twice: the text part and the HTML part."""

    subject: str
    blocks: list[tuple[str, object]] = field(default_factory=list)

    def p(self, text: str) -> "Message":
        self.blocks.append(("p", text))
        return self

    def h(self, text: str) -> "Message":
        self.blocks.append(("h", text))
        return self

    def lines(self, lines: list[str]) -> "Message":
        if lines:
            self.blocks.append(("lines", list(lines)))
        return self

    def items(self, rows: list[tuple[int, str]]) -> "Message":
        """[(units, what)]: "2 × Pull bleu"."""
        if rows:
            self.blocks.append(("items", list(rows)))
        return self

    def text(self) -> str:
        out: list[str] = []
        for kind, value in self.blocks:
            if kind == "items":
                out += [gettext("%(quantity)s × %(name)s", quantity=units, name=name) for units, name in value]
            elif kind == "lines":
                out += value
            else:
                out.append(value)
            if kind != "h":  # a heading sits on the first line of what it heads
                out.append("")
        out.append(gettext("Thank you for your order."))
        return "\n".join(out)

    def html(self, language: str) -> str:
        # The template alone, without the app's context processors (the signed-in user, the navigation): an e-mail
        # names none of them, and each order's confirmation is rendered while the order is captured.
        template = current_app.jinja_env.get_template("email/message.html")
        return template.render(language=language, subject=self.subject, blocks=self.blocks)


def _greeting(order: Order) -> str:
    return gettext("Hello %(name)s,", name=order.customer_name)


def _items(lines) -> list[tuple[int, str]]:
    """[(units, product name in the reader's language)] of {OrderLine or FulfilmentLine: units} or of lines."""
    if isinstance(lines, dict):
        return [(units, product_name(line.product)) for line, units in lines.items() if units]
    return [(line.quantity, product_name(line.product)) for line in lines if line.quantity]


def _ship_to(order: Order) -> list[str]:
    town = " ".join(part for part in (order.ship_postcode, order.ship_city) if part)
    rows = (order.customer_name, order.ship_line1, order.ship_line2, town, order.ship_country)
    return [row for row in rows if row]


def _collect(order: Order) -> bool:
    return order.delivery_method == DeliveryMethod.COLLECT and order.pickup_location is not None


def open_fulfilments(order: Order) -> list[Fulfilment]:
    from app.core.ordering.orders import OPEN

    return [f for f in order.fulfilments if f.status in OPEN]


def _deliver(order: Order, message: Message, language: str, kind: str, sms: str | None = None):
    return send(order, kind, message.subject, message.text(), html=message.html(language), sms=sms)


# --- the messages ----------------------------------------------------------------------------------------------


def order_confirmed(order: Order) -> OutboundEmail | None:
    """The order is in: what was ordered, where it goes (the address or the pickup store), the total paid."""
    from app.core.integration.notices import address_lines

    if not reachable(order) or not enabled("order_confirmed"):
        return None
    with customer_locale(order) as language:
        message = Message(gettext("We have received your order %(ref)s", ref=order.reference))
        message.p(_greeting(order)).p(gettext("Thank you: we have received your order %(ref)s.", ref=order.reference))
        message.h(gettext("Your items")).items(_items(order.lines))
        if _collect(order):
            store = order.pickup_location
            message.h(gettext("Pickup at %(store)s", store=store.name))
            message.lines(address_lines(store))
            message.p(gettext("We will tell you as soon as it is ready for pickup."))
        else:
            message.h(gettext("Delivery address")).lines(_ship_to(order))
            message.p(gettext("We will tell you as soon as it is on its way."))
        if order.payment_amount is not None:
            message.p(gettext("Total: %(amount)s", amount=money(order.payment_amount, order.currency)))
        return _deliver(order, message, language, "order_confirmed")


def order_split(order: Order) -> OutboundEmail | None:
    """Sourcing gave the order to several locations: it arrives (or is ready) in as many parts, each listed."""
    parts = open_fulfilments(order)
    if len(parts) < 2 or not reachable(order) or not enabled("order_split"):
        return None
    count = len(parts)
    with customer_locale(order) as language:
        message = Message(gettext("Your order %(ref)s comes in several parts", ref=order.reference))
        message.p(_greeting(order))
        if _collect(order):
            message.p(
                ngettext(
                    "Your order %(ref)s is prepared by %(num)d of our stores: it may be ready for pickup at "
                    "%(store)s in %(num)d part, and we will tell you each time.",
                    "Your order %(ref)s is prepared by %(num)d of our stores: it may be ready for pickup at "
                    "%(store)s in %(num)d parts, and we will tell you each time.",
                    count,
                    ref=order.reference,
                    store=order.pickup_location.name,
                )
            )
        else:
            message.p(
                ngettext(
                    "Your order %(ref)s is sent from %(num)d of our stores, so it will arrive in %(num)d parcel.",
                    "Your order %(ref)s is sent from %(num)d of our stores, so it will arrive in %(num)d parcels.",
                    count,
                    ref=order.reference,
                )
            )
        for number, fulfilment in enumerate(parts, start=1):
            message.h(gettext("Part %(number)s of %(count)s", number=number, count=count))
            message.items(_items({line: line.quantity for line in fulfilment.lines}))
        return _deliver(order, message, language, "order_split")


def order_delayed(fulfilment: Fulfilment) -> OutboundEmail | None:
    """The store missed the time it had to have the order ready: sorry, and we tell you when it moves."""
    order, store = fulfilment.order, fulfilment.location
    if not reachable(order) or not enabled("order_delayed"):
        return None
    with customer_locale(order) as language:
        collect = _collect(order)
        message = Message(gettext("Your order %(ref)s is running late", ref=order.reference))
        message.p(_greeting(order))
        message.p(
            gettext(
                "Preparing your order %(ref)s is taking longer than planned: it was due to be ready on %(date)s at "
                "%(time)s (store time).",
                ref=order.reference,
                date=store_date(fulfilment.ready_by, store, "full"),
                time=store_clock(fulfilment.ready_by, store),
            )
        )
        if collect:
            message.p(gettext("We are sorry for the wait. We will tell you as soon as it is ready for pickup."))
            sms = gettext(
                "Your order %(ref)s is running late, sorry. We will tell you as soon as it is ready for pickup.",
                ref=order.reference,
            )
        else:
            message.p(gettext("We are sorry for the wait. We will tell you as soon as it is on its way."))
            sms = gettext(
                "Your order %(ref)s is running late, sorry. We will tell you as soon as it is on its way.",
                ref=order.reference,
            )
        return _deliver(order, message, language, "order_delayed", sms=sms)


def already_told_delay(order_id: int) -> bool:
    """Whether the customer was told the order is late (once per order: an e-mail or a text message of the kind)."""
    email = exists().where(OutboundEmail.order_id == order_id, OutboundEmail.kind == "order_delayed")
    text = exists().where(OutboundSms.order_id == order_id, OutboundSms.kind == "order_delayed")
    return bool(db.session.scalar(select(email | text)))


def late_fulfilments(now: datetime, limit: int = 50) -> list[int]:
    """Ids of open work past its ready_by whose customer was not told yet (one a order, the first)."""
    told_email = exists().where(OutboundEmail.order_id == Order.id, OutboundEmail.kind == "order_delayed")
    told_sms = exists().where(OutboundSms.order_id == Order.id, OutboundSms.kind == "order_delayed")
    rows = db.session.execute(
        select(Fulfilment.id, Fulfilment.order_id)
        .join(Order, Order.id == Fulfilment.order_id)
        .where(
            Fulfilment.status.in_([str(s) for s in NOT_READY]),
            Fulfilment.ready_by < now,
            (Order.customer_email != "") | (Order.customer_phone != ""),
            ~told_email,
            ~told_sms,
        )
        .order_by(Fulfilment.id)
        .limit(limit)
    ).all()
    first: dict[int, int] = {}
    for fulfilment_id, order_id in rows:
        first.setdefault(order_id, fulfilment_id)
    return list(first.values())


def order_cancelled(
    order: Order, lines: dict | None = None, void_amount=None, refund_amount=None, requested: bool = False
) -> OutboundEmail | None:
    """The order is cancelled (lines None), or some of its units ({OrderLine: units}): what, and that the amount
    authorised for it is released (void_amount) or refunded (refund_amount). requested: the customer asked for it
    (customer service cancelled the units), rather than nothing could be found."""
    if not reachable(order) or not enabled("order_cancelled"):
        return None
    partial = lines is not None
    if partial and not any(lines.values()):
        return None
    with customer_locale(order) as language:
        rows = _items(lines) if partial else _items(order.lines)
        ref = order.reference
        if partial:
            units = sum(units for units, _ in rows)
            message = Message(gettext("Part of your order %(ref)s is cancelled", ref=ref))
            message.p(_greeting(order))
            if requested:
                message.p(
                    ngettext(
                        "As you asked, this item of your order %(ref)s is cancelled. The rest of your order goes on.",
                        "As you asked, these items of your order %(ref)s are cancelled. The rest of your order goes on.",
                        units,
                        ref=ref,
                    )
                )
            else:
                message.p(
                    ngettext(
                        "We are sorry: we could not find this item for your order %(ref)s, so it is cancelled. "
                        "The rest of your order goes on.",
                        "We are sorry: we could not find these items for your order %(ref)s, so they are cancelled. "
                        "The rest of your order goes on.",
                        units,
                        ref=ref,
                    )
                )
            message.h(gettext("Cancelled")).items(rows)
            if requested:
                sms = ngettext(
                    "Your order %(ref)s: %(num)d item is cancelled as you asked. The rest goes on.",
                    "Your order %(ref)s: %(num)d items are cancelled as you asked. The rest goes on.",
                    units,
                    ref=ref,
                )
            else:
                sms = ngettext(
                    "Your order %(ref)s: %(num)d item could not be found and is cancelled. The rest goes on.",
                    "Your order %(ref)s: %(num)d items could not be found and are cancelled. The rest goes on.",
                    units,
                    ref=ref,
                )
        else:
            message = Message(gettext("Your order %(ref)s is cancelled", ref=ref))
            message.p(_greeting(order)).p(gettext("Your order %(ref)s has been cancelled.", ref=ref))
            message.h(gettext("Cancelled")).items(rows)
            sms = gettext("Your order %(ref)s has been cancelled.", ref=ref)
        if void_amount:
            message.p(
                gettext(
                    "The amount authorised for it, %(amount)s, is released: you will not be charged for it.",
                    amount=money(void_amount, order.currency),
                )
            )
        if refund_amount:
            message.p(
                gettext("We refund %(amount)s to your original payment.", amount=money(refund_amount, order.currency))
            )
        return _deliver(order, message, language, "order_cancelled", sms=sms)


def order_changed(order: Order) -> OutboundEmail | None:
    """Customer service changed where the order goes: the new delivery address, or the new pickup store."""
    from app.core.integration.notices import address_lines

    if not reachable(order) or not enabled("order_changed"):
        return None
    with customer_locale(order) as language:
        ref = order.reference
        message = Message(gettext("Your order %(ref)s: new delivery details", ref=ref))
        message.p(_greeting(order))
        if _collect(order):
            store = order.pickup_location
            message.p(gettext("As agreed, your order %(ref)s will wait for you at another store.", ref=ref))
            message.h(gettext("Pickup at %(store)s", store=store.name)).lines(address_lines(store))
            message.p(gettext("We will tell you as soon as it is ready for pickup."))
            sms = gettext("Your order %(ref)s will wait for you at %(store)s.", ref=ref, store=store.name)
        else:
            message.p(gettext("As agreed, your order %(ref)s goes to a new address.", ref=ref))
            message.h(gettext("Delivery address")).lines(_ship_to(order))
            message.p(gettext("We will tell you as soon as it is on its way."))
            sms = gettext("Your order %(ref)s goes to the new address you gave us.", ref=ref)
        return _deliver(order, message, language, "order_changed", sms=sms)


def shipped(fulfilment: Fulfilment, parcels: list[Parcel]) -> OutboundEmail | None:
    """The order left the store: each parcel's carrier and tracking number."""
    order = fulfilment.order
    if not reachable(order) or not enabled("shipped"):
        return None
    with customer_locale(order) as language:
        tracking = [
            gettext(
                "%(carrier)s, tracking number %(tracking)s",
                carrier=parcel.label.carrier.name,
                tracking=parcel.label.tracking_number,
            )
            for parcel in parcels
        ]
        message = Message(gettext("Your order %(ref)s is on its way", ref=order.reference))
        message.p(_greeting(order))
        message.p(
            gettext(
                "Your order %(ref)s has left our store %(store)s and is on its way.",
                ref=order.reference,
                store=fulfilment.location.name,
            )
        )
        message.h(gettext("Parcels:")).lines([f"- {line}" for line in tracking])
        sms = gettext("Your order %(ref)s is on its way.", ref=order.reference)
        if tracking:
            sms += " " + "; ".join(tracking)
        return _deliver(order, message, language, "shipped", sms=sms)


def return_received(customer_return: CustomerReturn) -> OutboundEmail | None:
    """The items came back: what, per line, and the refund to come."""
    order = customer_return.order
    if not reachable(order) or not enabled("return_received"):
        return None
    with customer_locale(order) as language:
        message = Message(gettext("We have received your return %(number)s", number=customer_return.number))
        message.p(_greeting(order))
        message.p(
            gettext(
                "We have received the items you returned from your order %(ref)s (return %(number)s).",
                ref=order.reference,
                number=customer_return.number,
            )
        )
        message.h(gettext("Returned")).items(
            [(line.quantity, product_name(line.product)) for line in customer_return.lines]
        )
        amount = customer_return.refund_amount
        if amount:
            message.p(
                gettext(
                    "We will refund %(amount)s to your original payment; we will tell you when it is done.",
                    amount=money(amount, order.currency),
                )
            )
        return _deliver(order, message, language, "return_received")


def refunded(txn: PaymentTransaction) -> OutboundEmail | None:
    """The refund reached the customer's original payment."""
    order = txn.order
    if not reachable(order) or not enabled("refunded"):
        return None
    with customer_locale(order) as language:
        amount = money(txn.amount, txn.currency)
        message = Message(gettext("Your refund for order %(ref)s", ref=order.reference))
        message.p(_greeting(order))
        message.p(
            gettext(
                "We refunded %(amount)s to your original payment for order %(ref)s.", amount=amount, ref=order.reference
            )
        )
        message.p(gettext("Depending on your bank, it can take a few days to show on your statement."))
        sms = gettext("We refunded %(amount)s for your order %(ref)s.", amount=amount, ref=order.reference)
        return _deliver(order, message, language, "refunded", sms=sms)
