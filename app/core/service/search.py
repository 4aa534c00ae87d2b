"""One search box for the whole chain: whatever the customer has at hand finds their orders.

What is typed is tried, in turn, as something that names orders exactly, and the first that names any wins:

- a return number (RET-0000123, as on the receipt and the label);
- a bag label (BAG-<fulfilment>-<n>);
- a parcel's tracking number;
- the order number (CHANNEL-REF, as on the packing slip) or the channel's own reference;
- a whole e-mail address, exactly (case ignored; an index on lower(customer_email) on PostgreSQL);
- a pickup code, as printed or read out (case, spaces and dashes ignored; open pickups first).

Otherwise it is the customer: their name (accents and case ignored, any part of it, words in any order), their
e-mail (any part) or their phone (the digits only, the last 9 at most: "06 12 34 56 78" finds "+33 6 12 34 56 78"),
read from Order.search_text (app.core.service.text), a trigram index on PostgreSQL (migration e9a1f0c0de10).

`search_orders` gives the orders, newest first; `condition` the same search as a WHERE clause on Order, for the API's
list (GET /api/v1/orders?q=), which adds its own filters and pages. The returns desk (app.core.returns.find_orders)
reads this search too.
"""

from sqlalchemy import ColumnElement, and_, false, func, select

from app.core.floor.pickups import CODE_LENGTH, normalise_code
from app.core.models import CustomerReturn, Fulfilment, Order, Parcel, Pickup, ShippingLabel
from app.core.models.base import MAX_ID
from app.core.service.text import digits, fold
from app.extensions import db

LIMIT = 20
MAX_TEXT = 120
# Shorter words cannot use a trigram index: a search needs one word of this length at least.
MIN_WORD = 3
PHONE_DIGITS = 9


def clean(text: str | None) -> str:
    return " ".join((text or "").split())[:MAX_TEXT]


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() and int(text) <= MAX_ID else None


def identified(text: str) -> list[int]:
    """Ids of the orders that what is typed names exactly (a number, a reference, a label, a code), newest first;
    [] when it names none."""
    text = clean(text)
    if not text:
        return []
    upper = text.upper()
    if upper.startswith("RET-"):
        number = _number(upper[4:])
        if number is not None:
            return list(db.session.scalars(select(CustomerReturn.order_id).where(CustomerReturn.id == number)))
    if upper.startswith("BAG-") and upper.count("-") >= 2:
        number = _number(upper.split("-")[1])
        if number is not None:
            return list(db.session.scalars(select(Fulfilment.order_id).where(Fulfilment.id == number)))
    tracked = db.session.scalars(
        select(Fulfilment.order_id)
        .join(Parcel, Parcel.fulfilment_id == Fulfilment.id)
        .join(ShippingLabel, ShippingLabel.parcel_id == Parcel.id)
        .where(ShippingLabel.tracking_number.in_(sorted({text, upper})))
        .order_by(Fulfilment.order_id.desc())
        .distinct()
    ).all()
    if tracked:
        return list(tracked)
    _channel, dash, rest = text.partition("-")
    refs = {text, upper} | ({rest, rest.upper()} if dash and rest else set())
    named = [
        row.id
        for row in db.session.execute(
            select(Order.id, Order.channel, Order.external_ref)
            .where(Order.external_ref.in_(sorted(refs)))
            .order_by(Order.id.desc())
        )
        if row.external_ref.upper() == upper or f"{row.channel}-{row.external_ref}".upper() == upper
    ]
    if named:
        return named
    if "@" in text and " " not in text:  # a whole e-mail: the lower(customer_email) index first (e9a1f0c0de11)
        exact = list(
            db.session.scalars(
                select(Order.id)
                .where(func.lower(Order.customer_email) == text.lower())
                .order_by(Order.id.desc())
                .limit(LIMIT)
            )
        )
        if exact:
            return exact
    code = normalise_code(text)
    if len(code) == CODE_LENGTH:
        return list(
            dict.fromkeys(
                db.session.scalars(
                    select(Fulfilment.order_id)
                    .join(Pickup, Pickup.fulfilment_id == Fulfilment.id)
                    .where(Pickup.code == code)
                    .order_by(Pickup.is_open.desc(), Pickup.id.desc())
                    .limit(LIMIT)
                )
            )
        )
    return []


def customer_condition(text: str) -> ColumnElement[bool] | None:
    """The customer's name, e-mail or phone as a condition on Order.search_text; None when what is typed is too
    short to search (no word of MIN_WORD characters, or fewer than 6 digits for a phone)."""
    text = clean(text)
    number = digits(text)
    rest = text.replace(" ", "").replace("+", "").replace(".", "").replace("-", "").replace("(", "").replace(")", "")
    if len(number) >= 6 and len(number) >= len(rest) - 1:  # a phone number, as people write them
        # the last digits, without the leading 0 of a national number: "06 12…" meets "+33 6 12…"
        tail = number[-PHONE_DIGITS:].lstrip("0")
        return Order.search_text.contains(tail if len(tail) >= MIN_WORD else number, autoescape=True)
    words = fold(text).split()
    if not any(len(word) >= MIN_WORD for word in words):
        return None
    return and_(*(Order.search_text.contains(word, autoescape=True) for word in dict.fromkeys(words)))


def condition(text: str) -> ColumnElement[bool]:
    """The whole search as a WHERE clause on Order (false() when nothing can match)."""
    ids = identified(text)
    if ids:
        return Order.id.in_(ids)
    customer = customer_condition(text)
    return customer if customer is not None else false()


def search_orders(text: str | None, limit: int = LIMIT) -> list[Order]:
    """The orders what is typed names, across the chain: exactly named ones, else the customer's, newest first."""
    text = clean(text)
    if not text or limit < 1:
        return []
    ids = identified(text)
    if ids:
        found = {o.id: o for o in db.session.scalars(select(Order).where(Order.id.in_(ids[:limit])))}
        return [found[i] for i in ids[:limit] if i in found]
    customer = customer_condition(text)
    if customer is None:
        return []
    return list(db.session.scalars(select(Order).where(customer).order_by(Order.id.desc()).limit(limit)))
