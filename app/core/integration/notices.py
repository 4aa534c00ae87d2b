"""What the customer is told about a click & collect order: ready (with the pickup code), a reminder before the hold
ends, and a receipt once collected. Written to the outbox (OutboundEmail, OutboundSms) in the same transaction as
what they tell, in the customer's language; the worker sends them (app.core.integration.mail and .sms).

The ready and reminder e-mails have a text part and an HTML part (templates/email/); the HTML shows the pickup code
as a QR image that travels inside the e-mail (OutboundEmail.qr is the text it encodes, drawn and attached as
QR_CID when sent): nothing is fetched from anywhere. Times are on the pickup store's clock. Links are absolute,
built from PUBLIC_URL, since the worker writes the reminders outside any request.
"""

from datetime import time

from babel import dates as babel_dates
from flask import current_app, render_template
from flask_babel import get_locale, gettext
from itsdangerous import BadSignature, URLSafeSerializer

from app.core.errors import N_
from app.core.models import Pickup
from app.core.models.base import MAX_ID
from app.core.ordering.hours import DAYS, store_hours
from app.extensions import db
from app.formatting import customer_locale, product_name, store_clock, store_date

# The Content-ID of the inline QR image: the HTML shows it as <img src="cid:QR_CID">; mail.py attaches it.
QR_CID = "pickup-code@comptoir"
TOKEN_SALT = "comptoir.pickup.im-here"  # noqa: S105 - a salt (a namespace for the signature), not a secret
SMS_LENGTH = 480

# Why items stayed at the store, as the receipt tells the customer (pickups.REFUSAL_REASONS).
REFUSAL_WORDS = {
    "changed_mind": N_("you did not want it any more"),
    "too_small": N_("too small"),
    "too_large": N_("too large"),
    "damaged": N_("damaged"),
    "wrong_item": N_("not the item ordered"),
    "not_as_described": N_("not as described"),
    "missing": N_("missing at the store"),
    "other": N_("other reason"),
}


# --- the "I'm here" link ----------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=TOKEN_SALT)


def im_here_token(pickup: Pickup) -> str:
    """The signed token of a pickup's "I'm here" page (it names the pickup; the page checks it is still waiting)."""
    return _serializer().dumps({"p": pickup.id})


def pickup_from_token(token: str) -> Pickup | None:
    """The pickup a token names, or None when it was not signed by this app (tampered, made up) or is unknown."""
    try:
        data = _serializer().loads(token or "")
    except BadSignature:
        return None
    pickup_id = data.get("p") if isinstance(data, dict) else None
    if not isinstance(pickup_id, int) or isinstance(pickup_id, bool) or not 0 < pickup_id <= MAX_ID:
        return None
    return db.session.get(Pickup, pickup_id)


def public_url(path: str) -> str:
    """An absolute address on the app's PUBLIC_URL (links in messages, written outside any request)."""
    return current_app.config["PUBLIC_URL"].rstrip("/") + "/" + path.lstrip("/")


def im_here_url(pickup: Pickup) -> str | None:
    """The absolute address of the pickup's "I'm here" page; None when its store does not do curbside."""
    if not pickup.location.curbside:
        return None
    path = current_app.url_map.bind("localhost").build("curbside.im_here", {"token": im_here_token(pickup)})
    return public_url(path)


# --- what the messages say --------------------------------------------------------------------------------------


def _hour(text: str) -> str:
    hours, _, minutes = text.partition(":")
    if hours == "24":
        return "24:00"
    return babel_dates.format_time(time(int(hours), int(minutes)), "short", locale=_language())


def _language() -> str:
    return str(get_locale() or "en")


def opening_hours(store) -> list[str]:
    """The store's week, one line per run of days with the same hours, in the reader's language:
    ["lunedì–sabato: 09:00–19:00", "domenica: chiuso"]."""
    week = store_hours(store)
    names = babel_dates.get_day_names("wide", locale=_language())
    runs: list[tuple[int, int, str]] = []
    for index, day in enumerate(DAYS):
        intervals = week.get(day) or []
        text = ", ".join(f"{_hour(opens)}–{_hour(closes)}" for opens, closes in intervals) or gettext("closed")
        if runs and runs[-1][2] == text and runs[-1][1] == index - 1:
            runs[-1] = (runs[-1][0], index, text)
        else:
            runs.append((index, index, text))
    lines = []
    for first, last, text in runs:
        days = names[first] if first == last else f"{names[first]}–{names[last]}"
        lines.append(f"{days}: {text}")
    return lines


def address_lines(store) -> list[str]:
    town = " ".join(part for part in (store.postcode, store.city) if part)
    return [line for line in (store.address_line1, store.address_line2, town) if line]


def deadline(pickup: Pickup) -> str:
    """The end of the hold on the pickup store's clock: "martedì 8 dicembre 2026 alle 23:59"."""
    store = pickup.location
    return gettext(
        "%(date)s at %(time)s",
        date=store_date(pickup.expires_at, store, "full"),
        time=store_clock(pickup.expires_at, store),
    )


def _context(pickup: Pickup) -> dict:
    from app.core.floor.pickups import format_code

    order = pickup.fulfilment.order
    store = pickup.location
    return {
        "order": order,
        "pickup": pickup,
        "store": store,
        "code": format_code(pickup.code),
        "deadline": deadline(pickup),
        "address": address_lines(store),
        "hours": opening_hours(store),
        "im_here_url": im_here_url(pickup),
        "qr_cid": QR_CID,
    }


def _pickup_text(context: dict, *, reminder: bool) -> str:
    order, store = context["order"], context["store"]
    if reminder:
        opening = gettext(
            "A reminder: your order %(ref)s is waiting for you at %(store)s.", ref=order.reference, store=store.name
        )
    else:
        opening = gettext("Your order %(ref)s is ready for pickup at %(store)s.", ref=order.reference, store=store.name)
    lines = [
        gettext("Hello %(name)s,", name=order.customer_name),
        "",
        opening,
        "",
        gettext("Your pickup code: %(code)s", code=context["code"]),
        gettext("We keep your order until %(deadline)s (store time).", deadline=context["deadline"]),
        "",
        gettext("What to bring"),
        gettext(
            "Show this code (or the QR code in this e-mail) at the counter. Without it, bring an ID document "
            "in the name of %(name)s.",
            name=order.customer_name,
        ),
        "",
        store.name,
        *context["address"],
        "",
        gettext("Opening hours"),
        *context["hours"],
    ]
    if context["im_here_url"]:
        lines += [
            "",
            gettext("Arrived at the store? Tell us you are here and we bring your order:"),
            context["im_here_url"],
        ]
    lines += ["", gettext("Thank you for your order.")]
    return "\n".join(lines)


def _send(pickup: Pickup, kind: str, subject: str, body: str, html=None, qr=None, sms=None):
    """Through the one outbox writer (customer_messages.send): the retailer may have turned this kind off."""
    from app.core.integration import customer_messages

    return customer_messages.send(pickup.fulfilment.order, kind, subject, body, html=html, sms=sms, qr=qr)


def _pickup_sms(context: dict, *, reminder: bool) -> str:
    order, store = context["order"], context["store"]
    if reminder:
        text = gettext(
            "Reminder: your order %(ref)s waits for you at %(store)s until %(deadline)s. Pickup code: %(code)s.",
            ref=order.reference,
            store=store.name,
            deadline=context["deadline"],
            code=context["code"],
        )
    else:
        text = gettext(
            "Your order %(ref)s is ready at %(store)s, until %(deadline)s. Pickup code: %(code)s.",
            ref=order.reference,
            store=store.name,
            deadline=context["deadline"],
            code=context["code"],
        )
    if context["im_here_url"]:
        text += " " + gettext("At the store? %(url)s", url=context["im_here_url"])
    return text


def _pickup_message(pickup: Pickup, kind: str, *, reminder: bool) -> None:
    order = pickup.fulfilment.order
    with customer_locale(order) as language:
        context = _context(pickup)
        if reminder:
            subject = gettext("Reminder: your order %(ref)s is waiting for you", ref=order.reference)
        else:
            subject = gettext("Your order %(ref)s is ready for pickup", ref=order.reference)
        body = _pickup_text(context, reminder=reminder)
        html = render_template("email/pickup.html", language=language, subject=subject, reminder=reminder, **context)
        sms = _pickup_sms(context, reminder=reminder)
    _send(pickup, kind, subject, body, html=html, qr=pickup.code, sms=sms)


def pickup_ready(pickup: Pickup) -> None:
    """The order is on the hold shelf: the code (text and QR), the store, its hours, the deadline, what to bring
    and the "I'm here" link; an SMS too when the order has a phone number."""
    _pickup_message(pickup, "pickup_ready", reminder=False)


def pickup_reminder(pickup: Pickup) -> None:
    """The hold ends soon: the same essentials, as a reminder."""
    _pickup_message(pickup, "pickup_reminder", reminder=True)


def collected_lines(pickup: Pickup) -> tuple[list[tuple[str, int]], list[tuple[str, int, str]]]:
    """What the customer took [(product name, units)] and what stayed [(product name, units, why)], in the
    reader's language."""
    refused_by_sku: dict[str, int] = {}
    reasons: dict[str, str] = {}
    for row in pickup.refused or []:
        refused_by_sku[row["sku"]] = refused_by_sku.get(row["sku"], 0) + int(row["quantity"])
        reasons[row["sku"]] = row.get("reason") or "other"
    taken, refused = [], []
    for line in pickup.fulfilment.lines:
        if not line.picked:
            continue
        name = product_name(line.product)
        left = min(refused_by_sku.pop(line.product.sku, 0), line.picked)
        if line.picked - left:
            taken.append((name, line.picked - left))
        if left:
            refused.append((name, left, gettext(REFUSAL_WORDS.get(reasons[line.product.sku], REFUSAL_WORDS["other"]))))
    return taken, refused


def pickup_collected(pickup: Pickup) -> None:
    """The receipt: what was collected (and what stayed at the store), when on the store's clock, where."""
    order = pickup.fulfilment.order
    store = pickup.location
    with customer_locale(order) as language:
        taken, refused = collected_lines(pickup)
        when = gettext(
            "%(date)s at %(time)s",
            date=store_date(pickup.collected_at, store, "full"),
            time=store_clock(pickup.collected_at, store),
        )
        subject = gettext("Receipt for your order %(ref)s", ref=order.reference)
        lines = [
            gettext("Hello %(name)s,", name=order.customer_name),
            "",
            gettext(
                "You collected your order %(ref)s at %(store)s on %(when)s (store time).",
                ref=order.reference,
                store=store.name,
                when=when,
            ),
            "",
            gettext("Collected"),
            *[gettext("%(quantity)s × %(name)s", quantity=units, name=name) for name, units in taken],
        ]
        if refused:
            lines += [
                "",
                gettext("Left at the store"),
                *[
                    gettext("%(quantity)s × %(name)s (%(reason)s)", quantity=units, name=name, reason=reason)
                    for name, units, reason in refused
                ],
            ]
        lines += ["", store.name, *address_lines(store), "", gettext("Thank you for your order.")]
        html = render_template(
            "email/pickup_collected.html",
            language=language,
            subject=subject,
            order=order,
            store=store,
            address=address_lines(store),
            when=when,
            taken=taken,
            refused=refused,
        )
    _send(pickup, "pickup_collected", subject, "\n".join(lines), html=html)
