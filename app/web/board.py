"""The store's live board for its managers (and head office): open work by stage with the oldest age, today's
capacity, who is working on what, the orders late and at risk (app.core.reports.prediction) with the reason and
what would help, and how good past predictions were. The page polls its own fragment every 30 seconds.

Read from open work only (the partial indexes on open fulfilments and pickups) and today's rows, so it stays fast
whatever the store's history."""

from datetime import datetime, timedelta

from flask import Blueprint
from flask_babel import get_translations, gettext, lazy_gettext
from sqlalchemy import and_, func, or_, select

from app.core.floor import dispatch, packing
from app.core.models import Fulfilment, Order, PickList, PickListStatus, Pickup, Scan, User
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.models.orders import open_statuses_clause
from app.core.ordering.hours import local_day_start
from app.core.reports import prediction
from app.extensions import db
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
ACCURACY_DAYS = 7


def _aware(moment):
    return prediction._aware(moment)


def _stage_of(status: str, method: str, transfer: bool) -> str | None:
    if status == S.CREATED:
        return "accept"
    if status in (S.ACCEPTED, S.PICKING):
        return "pick"
    parcels = method == "ship" or transfer
    if status == S.PICKED:
        return "pack" if parcels else "stage"
    if status == S.PACKED:
        return "dispatch" if parcels else "stage"
    return None  # ready for pickup: counted from the hold shelf


def stages(store) -> dict[str, dict]:
    """{stage: {"count", "oldest"}}: open work at the store by stage, with when the oldest piece started waiting
    (the order's arrival; for the hold shelf, when it became ready, the customer arrived, the pickup ended)."""
    result = {key: {"count": 0, "oldest": None} for key in STAGES}

    def add(stage, count, oldest):
        if stage is None or not count:
            return
        row = result[stage]
        row["count"] += count
        oldest = _aware(oldest)
        if oldest is not None and (row["oldest"] is None or oldest < row["oldest"]):
            row["oldest"] = oldest

    transfer = packing.is_transfer_clause()
    rows = db.session.execute(
        select(Fulfilment.status, Order.delivery_method, transfer, func.count(), func.min(Fulfilment.created_at))
        .join(Order, Order.id == Fulfilment.order_id)
        .where(
            Fulfilment.location_id == store.id,
            open_statuses_clause(),
            Fulfilment.status != S.READY_FOR_PICKUP,
            ~dispatch.with_carrier_clause(),
        )
        .group_by(Fulfilment.status, Order.delivery_method, transfer)
    ).all()
    for status, method, is_transfer, count, oldest in rows:
        add(_stage_of(status, method, bool(is_transfer)), count, oldest)
    # The hold shelf, pickups received from another store and to put back: one pass over the store's open (or put
    # back) pickups, each figure its own filtered count and oldest moment.
    ready = Fulfilment.status == S.READY_FOR_PICKUP
    received = and_(Pickup.received_at.is_not(None), Fulfilment.location_id != store.id, Fulfilment.status == S.PACKED)
    arrived = and_(ready, Pickup.customer_arrived_at.is_not(None))
    shelf = db.session.execute(
        select(
            func.count().filter(Pickup.is_open, received),
            func.min(Pickup.received_at).filter(Pickup.is_open, received),
            func.count().filter(Pickup.is_open, ready),
            func.min(Pickup.ready_at).filter(Pickup.is_open, ready),
            func.count().filter(Pickup.is_open, arrived),
            func.min(Pickup.customer_arrived_at).filter(Pickup.is_open, arrived),
            func.count().filter(Pickup.put_back),
            func.min(Pickup.closed_at).filter(Pickup.put_back),
        )
        .join(Fulfilment, Fulfilment.id == Pickup.fulfilment_id)
        .where(Pickup.location_id == store.id, or_(Pickup.is_open, Pickup.put_back))
    ).one()
    add("stage", shelf[0], shelf[1])
    add("waiting", shelf[2], shelf[3])
    add("arrived", shelf[4], shelf[5])
    add("put_back", shelf[6], shelf[7])
    return result


def capacity(store, now: datetime) -> dict:
    """Fulfilments given to the store since its local midnight, against its daily capacity."""
    start = local_day_start(store.timezone, now)
    received = db.session.scalar(
        select(func.count())
        .select_from(Fulfilment)
        .where(Fulfilment.location_id == store.id, Fulfilment.created_at >= start)
    )
    limit = store.daily_capacity
    return {"received": received, "limit": limit, "percent": min(100, round(received * 100 / limit)) if limit else 0}


def active_picks(store) -> list[dict]:
    """Open pick lists with their picker, how many orders, and the last scan on them."""
    last_scan = (
        select(func.max(Scan.created_at)).where(Scan.pick_list_id == PickList.id).correlate(PickList).scalar_subquery()
    )
    orders = (
        select(func.count())
        .select_from(Fulfilment)
        .where(Fulfilment.pick_list_id == PickList.id)
        .correlate(PickList)
        .scalar_subquery()
    )
    lists = db.session.execute(
        select(PickList, User.name, last_scan, orders)
        .outerjoin(User, User.id == PickList.user_id)
        .where(PickList.location_id == store.id, PickList.status == PickListStatus.OPEN)
        .order_by(PickList.created_at, PickList.id)
        .limit(50)
    ).all()
    return [
        {"list": pick_list, "picker": name or "", "orders": count or 0, "last_scan": _aware(scanned)}
        for pick_list, name, scanned, count in lists
    ]


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
        moment = _aware(moment)
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


def _prediction_rows(forecast, clock) -> list[dict]:
    rows = []
    for p in forecast.flagged:
        rows.append(
            {
                "f": p.fulfilment,
                "ready_by": clock(p.ready_by),
                "cutoff": clock(p.cutoff) if p.misses_cutoff else "",
                "predicted": clock(p.ready_at) if p.ready_at else "",
                "overdue": p.overdue,
            }
        )
    return rows


@bp.get("/stores/<store_code>/board")
@store_route
@manager_required
def board(store):
    """The live board; htmx polls the same URL for the fragment (#board-live)."""
    now = utcnow()
    # A read only: `flask worker` keeps the predictions and learns how good they were (prediction.refresh).
    forecast = prediction.predict(store, now)
    accuracy = prediction.accuracy(store, now - timedelta(days=ACCURACY_DAYS))
    clock = clock_for(store, now)
    gettext_, ngettext_ = _translators()
    reasons = [prediction.reason_text(reason, clock, gettext_, ngettext_) for reason in forecast.reasons]
    rows = _prediction_rows(forecast, clock)
    return render(
        "board/board.html",
        "board/_live.html",
        store=store,
        now=now,
        stages=stages(store),
        labels=STAGES,
        capacity=capacity(store, now),
        picks=active_picks(store),
        forecast=forecast,
        reasons=reasons,
        late=[row for row in rows if row["overdue"]],
        at_risk=[row for row in rows if not row["overdue"]],
        accuracy=accuracy,
        accuracy_days=ACCURACY_DAYS,
        age=lambda since: age_text(since, now),
        clock=clock,
    )
