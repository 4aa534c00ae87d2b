"""How times, money and numbers reach a person: in the store's local time and the reader's language.

One helper per kind, used by the screens (as Jinja filters and globals) and by the printed documents
(app.documents), so a time is never shown in UTC and a price never as "4.90 EUR" on a French screen.
The reader's language is flask_babel's current locale, so `force_locale` (customer documents) applies too.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import current_app
from flask_babel import force_locale, get_locale

from app.core.inventory import products

CURRENCY = "EUR"  # carrier prices and order amounts are in euros unless an order says otherwise


def _locale() -> str:
    try:
        return str(get_locale() or "en")
    except RuntimeError:  # outside a request (a worker job, the CLI) with no forced locale: English
        return "en"


def store_zone(store) -> ZoneInfo:
    """The store's timezone; without a store (app-wide pages) the app's default one."""
    if store is not None:
        return ZoneInfo(store.timezone)
    return ZoneInfo(current_app.config.get("BABEL_DEFAULT_TIMEZONE") or "UTC")


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC


def store_time(moment: datetime | None, store, fmt: str = "short") -> str:
    """Date and time of a moment on the store's clock, in the reader's language ("" for None).

    Without a store the zone is named ("… UTC"), since an app-wide page has no one clock.
    """
    if moment is None:
        return ""
    zone = store_zone(store)
    text = babel_dates.format_datetime(_aware(moment), fmt, tzinfo=zone, locale=_locale())
    if store is None:
        text += " " + babel_dates.format_datetime(_aware(moment), "z", tzinfo=zone, locale=_locale())
    return text


def store_date(moment: datetime | None, store, fmt: str = "medium") -> str:
    """The day of a moment on the store's calendar, in the reader's language ("" for None)."""
    if moment is None:
        return ""
    return babel_dates.format_date(_aware(moment).astimezone(store_zone(store)).date(), fmt, locale=_locale())


def store_clock(moment: datetime | None, store, fmt: str = "short") -> str:
    """The time of day of a moment on the store's clock, in the reader's language ("" for None): "23:59"."""
    if moment is None:
        return ""
    return babel_dates.format_time(_aware(moment).astimezone(store_zone(store)).time(), fmt, locale=_locale())


def money(amount: Decimal | float | int | None, currency: str = CURRENCY) -> str:
    """An amount with its currency as the reader writes it: "4,90 €" in French, "€4.90" in English."""
    if amount is None:
        return ""
    return babel_numbers.format_currency(amount, currency, locale=_locale())


def number(value: Decimal | float | int | None) -> str:
    """A number as the reader writes it: 1 234,5 in French, 1,234.5 in English."""
    if value is None:
        return ""
    return babel_numbers.format_decimal(value, locale=_locale())


def decimal_symbol() -> str:
    """The reader's decimal separator ("," in French and Italian), for the weights printed by labels/."""
    return babel_numbers.get_decimal_symbol(_locale())


def customer_language(order) -> str:
    """The language the customer reads ("fr" for "fr-FR"); the app's default one if the app does not speak it."""
    language = (order.customer_language or "").replace("_", "-").split("-")[0].lower()
    return language if language in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


@contextmanager
def customer_locale(order) -> Iterator[str]:
    """Write in the customer's language inside the block: packing slip, shipping label, e-mails.

    Staff documents (pick list, manifest, print job pages) stay in the associate's language.
    """
    language = customer_language(order)
    with force_locale(language):
        yield language


def product_name(product) -> str:
    """The product's name in the reader's language, else its default name."""
    return products.product_name(product, _locale())


def register(app) -> None:
    """Make the helpers Jinja filters (`{{ price|money }}`, `{{ grams|number }}`, `{{ product|product_name }}`)
    and store_time a global."""
    app.jinja_env.filters.update(money=money, number=number, product_name=product_name)
    app.jinja_env.globals.update(store_time=store_time, store_date=store_date, store_clock=store_clock)
