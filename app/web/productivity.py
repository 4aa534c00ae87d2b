"""Productivity and accuracy screens: a store's (its managers, and head office) and an associate's own.

Which figures each person sees, and why, is app.core.reports.productivity.visible_to: team figures only unless the
retailer shows each person's figures (French and Italian labour rules restrict individual monitoring).
"""

from datetime import date

from babel import Locale
from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Blueprint, abort, request
from flask_babel import get_locale, lazy_gettext
from flask_login import current_user, login_required

from app.core.reports import productivity
from app.web.helpers import render, store_route

bp = Blueprint("productivity", __name__)

PERIOD_LABELS = {
    "today": lazy_gettext("Today"),
    "7d": lazy_gettext("Last 7 days"),
    "30d": lazy_gettext("Last 30 days"),
}


def _locale() -> str:
    return str(get_locale() or "en")


def rate(value: float | None) -> str:
    """A rate with one decimal, as the reader writes it ("12,5" in French); a dash when there is no figure."""
    if value is None:
        return "—"
    return babel_numbers.format_decimal(round(value, 1), format="#,##0.0", locale=_locale())


def percent(value: float | None) -> str:
    """A share as a percentage with one decimal ("5,0 %" in French); a dash when there is no figure."""
    if value is None:
        return "—"
    locale = Locale.parse(_locale())
    pattern = babel_numbers.parse_pattern(locale.percent_formats[None])  # the reader's own way ("4,8 %" in French)
    pattern.frac_prec = (1, 1)
    return pattern.apply(value, locale)


def day(value: date) -> str:
    """A calendar day as the reader writes it ("4 mars 2025")."""
    return babel_dates.format_date(value, "medium", locale=_locale())


def _period_name() -> str:
    name = request.args.get("period", productivity.DEFAULT_PERIOD)
    return name if name in productivity.PERIODS else productivity.DEFAULT_PERIOD


def _context(period_name: str) -> dict:
    return {
        "period": period_name,
        "periods": PERIOD_LABELS,
        "rate": rate,
        "percent": percent,
        "day": day,
    }


@bp.get("/stores/<store_code>/productivity")
@store_route
def store(store):
    """The store's team figures for its managers and head office, and each person's when the retailer allows it."""
    seen = productivity.visible_to(current_user, store)
    if not seen.team:
        abort(403)
    period_name = _period_name()
    start, end = productivity.period(period_name, store)
    people = productivity.individuals(store, start, end) if seen.individuals else None
    return render(
        "productivity/store.html",
        store=store,
        seen=seen,
        start=start,
        end=end,
        team=productivity.team(store, start, end),
        people=people,
        **_context(period_name),
    )


@bp.get("/me/productivity")
@login_required
def mine():
    """A person's own figures at each of their stores, when the retailer allows it; else why not."""
    period_name = _period_name()
    rows = []
    for location in productivity.own_stores(current_user):
        start, end = productivity.period(period_name, location)
        rows.append((location, start, end, productivity.own(current_user, location, start, end)))
    stores = current_user.stores
    return render(
        "productivity/mine.html",
        store=stores[0] if len(stores) == 1 else None,  # the store's menu and scan box, as on their other screens
        allowed=productivity.individual_figures_on(),
        rows=rows,
        **_context(period_name),
    )
