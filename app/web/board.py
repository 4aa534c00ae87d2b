"""The store's live board for its managers (and head office): open work by stage with the oldest age, today's
capacity, who is working on what, the orders late and at risk (app.core.reports.prediction) with the reason and
what would help, and how good past predictions were. The page polls its own fragment every 30 seconds.

The figures come from the store's snapshot (app.core.reports.board.current): the row `flask worker` keeps, or the
board computes when it is missing, older than BOARD_SNAPSHOT_MAX_AGE seconds (config, default 60) or out of date
(the store's open work changed since: a fulfilment, a pickup, a scan). They are language-neutral; the live part is
worded in the reader's language on the store's clock, and kept per process (BOARD_FRAGMENT_CACHE_SIZE rendered
fragments, config, 0: none) under the snapshot's token, the reader's language and what the page reads of the store
itself, so a poll that finds the snapshot good costs one statement and no template. Ages count from the moment the
figures were computed, which the board shows ("Updated at 15:02")."""

import threading
from collections import OrderedDict
from datetime import datetime
from types import SimpleNamespace

from flask import Blueprint, current_app, render_template
from flask_babel import get_locale, get_translations, gettext, lazy_gettext
from flask_wtf.csrf import generate_csrf
from markupsafe import Markup

from app.core.models.base import utcnow
from app.core.reports import board as figures
from app.core.reports import prediction
from app.formatting import store_clock, store_time, store_zone
from app.web.helpers import manager_required, render, store_route

bp = Blueprint("board", __name__)

STAGES = {
    "accept": lazy_gettext("To accept"),
    "pick": lazy_gettext("To pick"),
    "pack": lazy_gettext("To pack"),
    "stage": lazy_gettext("To stage"),
    "waiting": lazy_gettext("Pickups waiting"),
    "arrived": lazy_gettext("Customers arrived"),
    "put_back": lazy_gettext("To put back"),
    "dispatch": lazy_gettext("To dispatch"),
}
ACCURACY_DAYS = figures.ACCURACY_DAYS
FRAGMENTS = 32
"""Rendered live parts kept per process (config BOARD_FRAGMENT_CACHE_SIZE): one per store, language and snapshot."""
CSRF_SLOT = "__board_csrf_token__"
"""Where the lever's form has its CSRF token in a kept fragment: each request writes its own there."""


def age_text(since: datetime | None, now: datetime) -> str:
    """How long ago: "12 min", "3 h 05 min", whole minutes."""
    if since is None:
        return ""
    minutes = max(0, int((now - since).total_seconds() // 60))
    if minutes < 60:
        return gettext("%(min)s min", min=minutes)
    return gettext("%(h)s h %(min)s min", h=minutes // 60, min=f"{minutes % 60:02d}")


def clock_for(store, now: datetime):
    """A time on the store's clock: the time of day for today, date and time for another day."""
    zone = store_zone(store)
    today = now.astimezone(zone).date()
    written: dict[datetime, str] = {}  # the board writes the same few deadlines and cut-offs many times

    def clock(moment: datetime | None) -> str:
        if moment is None:
            return ""
        moment = prediction._aware(moment)
        if moment not in written:
            local_today = moment.astimezone(zone).date() == today
            written[moment] = store_clock(moment, store) if local_today else store_time(moment, store)
        return written[moment]

    return clock


def _translators():
    """gettext and ngettext as Flask-Babel's, with the request's translations looked up once: a busy board words
    dozens of reasons, and each lookup walks the request context."""
    translations = get_translations()

    def gettext_(string, **variables):
        text = translations.ugettext(string)
        return text % variables if variables else text

    def ngettext_(singular, plural, num, **variables):
        variables.setdefault("num", num)
        return translations.ungettext(singular, plural, num) % variables

    return gettext_, ngettext_


class Fragments:
    """The last few rendered live parts, most recently used kept. Thread-safe (gthread workers)."""

    def __init__(self, size: int):
        self.size = size
        self._kept: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            html = self._kept.get(key)
            if html is not None:
                self._kept.move_to_end(key)
            return html

    def put(self, key, html) -> None:
        with self._lock:
            self._kept[key] = html
            self._kept.move_to_end(key)
            while len(self._kept) > self.size:
                self._kept.popitem(last=False)


def _fragments() -> Fragments | None:
    size = current_app.config.get("BOARD_FRAGMENT_CACHE_SIZE", FRAGMENTS)
    if not size:
        return None
    kept = current_app.extensions.get("board_fragments")
    if kept is None or kept.size != size:
        kept = current_app.extensions["board_fragments"] = Fragments(size)
    return kept


def _context(store, snapshot) -> dict:
    """What _live.html reads, from the snapshot's payload, worded in the reader's language on the store's clock."""
    data = snapshot.data
    at = snapshot.computed_at
    clock = clock_for(store, at)
    moment = figures.moment
    gettext_, ngettext_ = _translators()
    limit = store.daily_capacity
    received = data["received_today"]
    reasons = [
        prediction.reason_text(figures.reason_of(reason), clock, gettext_, ngettext_) for reason in data["reasons"]
    ]
    rows = [
        {
            "id": row["id"],
            "reference": row["reference"],
            "ready_by": clock(moment(row["ready_by"])),
            "cutoff": clock(moment(row["cutoff"])),
            "predicted": clock(moment(row["predicted"])),
            "overdue": row["overdue"],
        }
        for row in data["rows"]
    ]
    levers = list(data["levers"])
    if data["at_risk"] and store.ships_from_store and not store.ship_paused:
        levers.insert(0, "pause_ship")  # read now: a manager may have paused it since the figures were computed
    forecast = SimpleNamespace(
        staff=[SimpleNamespace(name=w["name"], last_seen=moment(w["last_seen"])) for w in data["staff"]],
        pace=SimpleNamespace(default=data["pace_default"]),
        pace_now=data["pace_now"],
        flagged=rows,
        levers=levers,
        at_risk=data["at_risk"],
        extra_people=data["extra_people"],
    )
    return {
        "store": store,
        "computed_at": at,
        "stages": {
            key: {"count": row["count"], "oldest": moment(row["oldest"])} for key, row in data["stages"].items()
        },
        "labels": STAGES,
        "capacity": {
            "received": received,
            "limit": limit,
            "percent": min(100, round(received * 100 / limit)) if limit else 0,
        },
        "picks": [
            {
                "number": f"P{row['id']:06d}",
                "picker": row["picker"],
                "orders": row["orders"],
                "last_scan": moment(row["last_scan"]),
            }
            for row in data["picks"]
        ],
        "forecast": forecast,
        "reasons": reasons,
        "late": [row for row in rows if row["overdue"]],
        "at_risk": [row for row in rows if not row["overdue"]],
        "accuracy": SimpleNamespace(**data["accuracy"]),
        "accuracy_days": ACCURACY_DAYS,
        "age": lambda since: age_text(since, at),
        "clock": clock,
        "board_csrf": CSRF_SLOT,
    }


def live_part(store, snapshot) -> str:
    """The live part of the board (_live.html) as HTML, from the kept fragments when they have it."""
    kept = _fragments() if snapshot.token else None
    key = None
    if kept is not None:
        key = (
            snapshot.location_id,
            snapshot.token,
            str(get_locale()),
            store.code,
            store.timezone,
            store.daily_capacity,
            bool(store.ships_from_store and not store.ship_paused),
        )
        html = kept.get(key)
        if html is not None:
            return html
    context = _context(store, snapshot)
    html = render_template("board/_live.html", **context)
    if kept is not None:
        key = (snapshot.location_id, snapshot.token, *key[2:])  # the payload read may have brought a newer token
        kept.put(key, html)
    return html


@bp.get("/stores/<store_code>/board")
@store_route
@manager_required
def board(store):
    """The live board; htmx polls the same URL for the fragment (#board-live)."""
    max_age = current_app.config.get("BOARD_SNAPSHOT_MAX_AGE", figures.DEFAULT_MAX_AGE)
    snapshot = figures.current(store, utcnow(), max_age)
    html = live_part(store, snapshot)
    if CSRF_SLOT in html:
        html = html.replace(CSRF_SLOT, generate_csrf())
    live = Markup(html)  # noqa: S704 (rendered by _live.html under autoescape; the token is URL-safe base64)
    return render("board/board.html", "board/_fragment.html", store=store, live=live)
