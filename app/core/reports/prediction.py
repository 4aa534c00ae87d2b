"""Predicted lateness: when each open fulfilment of a store will be ready, from the store's own pace and the people
working now, and which will miss their deadline before they do.

- `pace`: units picked and packed per associate-hour, by local hour of day, over recent weeks: from the rolled-up
  AssociateDay rows (hourly_units / hourly_minutes); without any, from the raw Scan rows of those weeks; without
  any scans either, DEFAULT_PACE, flagged as a default (the board says so).
- `staff_now`: who worked at the store in the last 30 minutes (a scan there, or an action in the audit trail by one
  of its members).
- `predict`: walks the store's open work in the order it is done (the pick tab's order: ready-by, then id) at
  staff x pace per hour, hour of day by hour of day, only while the store is open; flags what will miss its
  ready-by (and the carrier's cut-off for parcels), with the reason and the levers (pause ship-from-store, give
  orders back to be re-routed, call people in: how many more would make it).
- `record` keeps the predictions (LatenessPrediction, at most one per fulfilment per RECORD_EVERY), `accuracy`
  says how good they were once the orders are ready.

Reasons are data (`Reason`); `reason_text` words them with the translation functions it is given (the edge's
gettext/ngettext and store clock), in English with the defaults.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, extract, func, select, update
from sqlalchemy.orm import joinedload, selectinload

from app.core.floor.collection import next_collection
from app.core.models import (
    AssociateDay,
    AuditEvent,
    CarrierCollection,
    DeliveryMethod,
    Fulfilment,
    FulfilmentLine,
    LatenessPrediction,
    Location,
    Order,
    Parcel,
    ParcelItem,
    Pickup,
    Scan,
    User,
    membership,
)
from app.core.models import FulfilmentStatus as S
from app.core.models.base import utcnow
from app.core.models.users import Role
from app.core.ordering import hours as opening
from app.extensions import db

DEFAULT_PACE = 30.0
"""Units picked or packed per associate-hour when the store has no history at all (a shop-floor rule of thumb)."""
MIN_MINUTES = 30
"""Measured associate-minutes an hour of day needs for its own pace; with fewer it takes the store's overall pace."""
ACTIVE_WINDOW = timedelta(minutes=30)
"""Someone with a scan or an action in this window is working now."""
RECORD_EVERY = timedelta(minutes=10)
"""At most one stored prediction per fulfilment in this time (the board polls every 30 s)."""
HORIZON_DAYS = 14
"""How far ahead the walk goes; work not done by then is 'not within two weeks'."""
MAX_EXTRA = 20
"""The most extra people the 'call someone in' lever tries."""
SLOT_MINUTES = 5
"""Raw scans count active time by 5-minute slot per person (as the AssociateDay rollup does)."""
WORK_STATUSES = (S.CREATED, S.ACCEPTED, S.PICKING, S.PICKED)
"""Open work with units left to pick or pack, counted against its ready-by."""
REROUTABLE = {S.CREATED, S.ACCEPTED}
"""What a store may still give back to be re-routed (app.core.ordering.sourcing.REJECTABLE)."""
ACTIVITY_ROLES = (Role.ASSOCIATE, Role.MANAGER)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)  # SQLite hands back naive UTC
    return moment


def _ceil_minute(moment: datetime) -> datetime:
    """Up to the next whole minute, to the nearest second first (the walk's float arithmetic)."""
    moment = (moment + timedelta(microseconds=500_000)).replace(microsecond=0)
    floor = moment.replace(second=0, microsecond=0)
    return floor if floor == moment else floor + timedelta(minutes=1)


# --- the store's pace -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pace:
    """Units picked or packed per associate-hour, for each local hour of day (0-23)."""

    by_hour: dict[int, float]
    overall: float
    source: str  # "days" (AssociateDay rollups), "scans" (raw scans), "default" (DEFAULT_PACE)

    @property
    def default(self) -> bool:
        return self.source == "default"

    def at(self, hour: int) -> float:
        return self.by_hour.get(hour, self.overall)


def _from_scans(location, now: datetime, since: datetime, zone: ZoneInfo) -> tuple[dict, dict]:
    """({local hour: units}, {local hour: active minutes}) from the store's pick and pack scans since `since`."""
    rows = db.session.execute(
        select(Scan.user_id, Scan.created_at, Scan.quantity).where(
            Scan.location_id == location.id,
            Scan.created_at >= since,
            Scan.created_at <= now,
            Scan.purpose.in_(("pick", "pack")),
            Scan.undone_at.is_(None),
            Scan.user_id.is_not(None),
        )
    ).all()
    units: dict[int, float] = defaultdict(float)
    slots: set[tuple[int, datetime]] = set()
    for user_id, created_at, quantity in rows:
        local = _aware(created_at).astimezone(zone)
        units[local.hour] += quantity or 0
        slots.add((user_id, local.replace(minute=local.minute - local.minute % SLOT_MINUTES, second=0, microsecond=0)))
    minutes: dict[int, float] = defaultdict(float)
    for _user, slot in slots:
        minutes[slot.hour] += SLOT_MINUTES
    return units, minutes


def pace(location, now: datetime, weeks: int = 4) -> Pace:
    """The store's measured pace by local hour of day over the last `weeks` weeks (today included)."""
    now = _aware(now)
    zone = ZoneInfo(location.timezone)
    today = now.astimezone(zone).date()
    first: date = today - timedelta(weeks=weeks)
    rows = db.session.execute(
        select(AssociateDay.hourly_units, AssociateDay.hourly_minutes).where(
            AssociateDay.location_id == location.id, AssociateDay.day >= first, AssociateDay.day <= today
        )
    ).all()
    units: dict[int, float] = defaultdict(float)
    minutes: dict[int, float] = defaultdict(float)
    for hourly_units, hourly_minutes in rows:
        for hour, value in (hourly_units or {}).items():
            units[int(hour)] += value or 0
        for hour, value in (hourly_minutes or {}).items():
            minutes[int(hour)] += value or 0
    source = "days"
    if not sum(minutes.values()):
        units, minutes = _from_scans(location, now, now - timedelta(weeks=weeks), zone)
        source = "scans"
    total_units, total_minutes = sum(units.values()), sum(minutes.values())
    if not total_minutes or not total_units:
        return Pace({hour: DEFAULT_PACE for hour in range(24)}, DEFAULT_PACE, "default")
    overall = total_units * 60 / total_minutes
    by_hour = {
        hour: units[hour] * 60 / minutes[hour] if minutes[hour] >= MIN_MINUTES and units[hour] > 0 else overall
        for hour in range(24)
    }
    return Pace(by_hour, overall, source)


# --- who is working now -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Worker:
    user_id: int
    name: str
    last_seen: datetime


def staff_now(location, now: datetime) -> list[Worker]:
    """The people working at the store now: a scan there in the last 30 minutes, or an action in the audit trail
    by one of the store's associates or managers. Most recently seen first."""
    now = _aware(now)
    since = now - ACTIVE_WINDOW
    seen: dict[int, datetime] = {}
    names: dict[int, str] = {}
    scans = db.session.execute(
        select(Scan.user_id, func.max(Scan.created_at), User.name)
        .join(User, User.id == Scan.user_id)
        .where(
            Scan.location_id == location.id,
            Scan.created_at > since,
            Scan.created_at <= now,
            Scan.user_id.is_not(None),
        )
        .group_by(Scan.user_id, User.name)
    ).all()
    actions = db.session.execute(
        select(AuditEvent.actor_user_id, func.max(AuditEvent.created_at), User.name)
        .join(membership, membership.c.user_id == AuditEvent.actor_user_id)
        .join(User, User.id == AuditEvent.actor_user_id)
        .where(
            membership.c.location_id == location.id,
            AuditEvent.created_at > since,
            AuditEvent.created_at <= now,
            User.role.in_(ACTIVITY_ROLES),
        )
        .group_by(AuditEvent.actor_user_id, User.name)
    ).all()
    for user_id, moment, name in [*scans, *actions]:
        moment = _aware(moment)
        names[user_id] = name
        if user_id not in seen or moment > seen[user_id]:
            seen[user_id] = moment
    if not seen:
        return []
    workers = [Worker(user_id, names.get(user_id, ""), moment) for user_id, moment in seen.items()]
    return sorted(workers, key=lambda w: (-w.last_seen.timestamp(), w.name))


# --- the prediction ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reason:
    """Why some orders will be late, as data: `reason_text` words it.

    kind: "ready_by" or "cutoff" (the last `count` orders finish at `finish`, after `due`), "nobody" (no one worked
    in the last 30 minutes: `count` orders wait), "beyond" (`count` orders not done within HORIZON_DAYS)."""

    kind: str
    staff: int
    pace: int
    count: int
    finish: datetime | None = None
    due: datetime | None = None


@dataclass
class Prediction:
    fulfilment: Fulfilment
    units_left: int  # units still to pick plus units still to pack
    ready_at: datetime | None  # None: nobody is working, or not within HORIZON_DAYS
    ready_by: datetime | None
    cutoff: datetime | None  # the carrier's collection its parcels aim for (parcels only, when one is set)
    late: bool = False  # will miss (or has missed) its ready-by
    misses_cutoff: bool = False
    overdue: bool = False  # its ready-by has already passed
    reason: Reason | None = None

    @property
    def flagged(self) -> bool:
        return self.late or self.misses_cutoff


@dataclass
class Forecast:
    location: object
    now: datetime
    staff: list[Worker]
    pace: Pace
    pace_now: int  # units per associate-hour at the hour the walk starts
    predictions: list[Prediction]
    reasons: list[Reason] = field(default_factory=list)
    extra_people: int | None = None  # how many more people would make every order still in time on time
    levers: list[str] = field(default_factory=list)  # "pause_ship", "reroute", "call_in"

    @property
    def flagged(self) -> list[Prediction]:
        return [p for p in self.predictions if p.flagged]

    @property
    def at_risk(self) -> list[Prediction]:
        """Will be late, but still in time now: the ones the levers can save."""
        return [p for p in self.predictions if p.flagged and not p.overdue]

    @property
    def overdue(self) -> list[Prediction]:
        return [p for p in self.predictions if p.overdue]


def _open_segments(location, start: datetime, days: int = HORIZON_DAYS) -> list[tuple[datetime, datetime, int]]:
    """The store's opening time from `start` for `days` days, cut at each hour: [(from, to, local hour)] in UTC.

    Hours are cut on UTC whole hours, which are the local hours in every zone with a whole-hour offset (the
    stores' zones); the local hour read is the store's."""
    zone = ZoneInfo(location.timezone)
    week = opening._parse_week(opening.store_hours(location))
    end = start + timedelta(days=days)
    day = start.astimezone(zone).date() - timedelta(days=1)
    segments = []
    while True:
        for opens, closes in opening._utc_intervals(week, zone, day):
            opens, closes = max(opens, start), min(closes, end)
            cursor = opens
            while cursor < closes:
                stop = min(closes, cursor.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1))
                segments.append((cursor, stop, cursor.astimezone(zone).hour))
                cursor = stop
        if _day_start(zone, day) > end:
            break
        day += timedelta(days=1)
    return segments


def _day_start(zone: ZoneInfo, day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


def _walk(works: list[int], segments, people: int, pace_: Pace, now: datetime) -> list[datetime | None]:
    """When each piece of work is done, one after the other, at people x pace units per hour during the segments."""
    done: list[datetime | None] = []
    index, cursor = 0, None
    for work in works:
        if work <= 0:
            done.append(now)
            continue
        if people <= 0:
            done.append(None)
            continue
        remaining = float(work)
        finished = None
        while index < len(segments):
            seg_start, seg_end, hour = segments[index]
            moment = max(cursor or seg_start, seg_start)
            rate = people * pace_.at(hour)
            available = rate * (seg_end - moment).total_seconds() / 3600
            if remaining <= available + 1e-9:
                cursor = moment + timedelta(hours=remaining / rate)
                finished = cursor
                break
            remaining -= available
            index += 1
            cursor = None
        done.append(_ceil_minute(finished) if finished else None)
    return done


def _work_left(fulfilments: list[Fulfilment]) -> dict[int, int]:
    """{fulfilment id: units to pick + units to pack}. Parcels go by carrier: ship orders, and click & collect
    transfers sent to another store; a click & collect order collected where it is picked is bagged, not packed."""
    packed = dict(
        db.session.execute(
            select(Parcel.fulfilment_id, func.sum(ParcelItem.quantity))
            .join(ParcelItem, ParcelItem.parcel_id == Parcel.id)
            .where(Parcel.fulfilment_id.in_([f.id for f in fulfilments if f.status == S.PICKED] or [0]))
            .group_by(Parcel.fulfilment_id)
        ).all()
    )
    left = {}
    for f in fulfilments:
        to_pick = sum(line.quantity - line.picked - line.short for line in f.lines)
        to_pack = 0
        if _parcels(f):
            to_pack = max(0, sum(line.quantity - line.short for line in f.lines) - (packed.get(f.id) or 0))
        left[f.id] = to_pick + to_pack
    return left


def _parcels(fulfilment: Fulfilment) -> bool:
    transfer = fulfilment.transfer_to_id is not None and fulfilment.transfer_to_id != fulfilment.location_id
    return fulfilment.order.delivery_method == DeliveryMethod.SHIP or transfer


def _collection_times(location) -> list:
    return db.session.scalars(
        select(CarrierCollection.collect_at).where(CarrierCollection.location_id == location.id)
    ).all()


def _judge(predictions: list[Prediction], done: list[datetime | None], now: datetime) -> None:
    for prediction, ready_at in zip(predictions, done, strict=True):
        prediction.ready_at = ready_at
        prediction.overdue = prediction.ready_by is not None and prediction.ready_by <= now
        unknown = ready_at is None and prediction.units_left > 0
        prediction.late = prediction.ready_by is not None and (
            prediction.overdue or unknown or (ready_at is not None and ready_at > prediction.ready_by)
        )
        prediction.misses_cutoff = prediction.cutoff is not None and (
            unknown or (ready_at is not None and ready_at > prediction.cutoff)
        )


def _all_in_time(predictions: list[Prediction], done: list[datetime | None]) -> bool:
    """Whether every order still in time (its ready-by ahead) would be ready by its ready-by and its cut-off."""
    for prediction, ready_at in zip(predictions, done, strict=True):
        if prediction.overdue or (prediction.ready_by is None and prediction.cutoff is None):
            continue
        if ready_at is None:
            return False
        if (prediction.ready_by and ready_at > prediction.ready_by) or (
            prediction.cutoff and ready_at > prediction.cutoff
        ):
            return False
    return True


def predict(location, now: datetime, *, staff: list[Worker] | None = None, pace_: Pace | None = None) -> Forecast:
    """When each open fulfilment of the store will be ready, and which will be late, why, and what would help."""
    now = _aware(now)
    staff = staff_now(location, now) if staff is None else staff
    pace_ = pace(location, now) if pace_ is None else pace_
    fulfilments = db.session.scalars(
        select(Fulfilment)
        .where(Fulfilment.location_id == location.id, Fulfilment.status.in_(WORK_STATUSES))
        .options(
            # What the prediction and the board read of them (the rest loads if asked for): a busy store's open
            # work is hundreds of fulfilments, their lines and orders, on every poll of the board.
            selectinload(Fulfilment.lines).load_only(
                FulfilmentLine.quantity, FulfilmentLine.picked, FulfilmentLine.short, raiseload=False
            ),
            joinedload(Fulfilment.order).load_only(
                Order.channel, Order.external_ref, Order.delivery_method, raiseload=False
            ),
        )
    ).all()
    # The order work is done in: the pick tab's (ready-by first, then the oldest); none: last.
    far = now + timedelta(days=3650)
    fulfilments = sorted(fulfilments, key=lambda f: (_aware(f.ready_by) or far, f.id))
    left = _work_left(fulfilments)
    collect_times = _collection_times(location)
    predictions = []
    for f in fulfilments:
        ready_by = _aware(f.ready_by)
        cutoff = None
        if collect_times and _parcels(f):
            cutoff = min(next_collection(t, ready_by or now, location.timezone) for t in collect_times)
        predictions.append(Prediction(f, left[f.id], None, ready_by, cutoff))
    segments = _open_segments(location, now)
    works = [p.units_left for p in predictions]
    people = len(staff)
    _judge(predictions, _walk(works, segments, people, pace_, now), now)
    pace_now = round(pace_.at(segments[0][2] if segments else now.astimezone(ZoneInfo(location.timezone)).hour))
    forecast = Forecast(location, now, staff, pace_, pace_now, predictions)
    _explain(forecast)
    return forecast


def _explain(forecast: Forecast) -> None:
    """The reasons (grouped by what is missed), the levers, and how many more people would make it."""
    people, groups = len(forecast.staff), defaultdict(list)
    for p in forecast.predictions:
        if not p.flagged:
            continue
        if p.ready_at is None:
            key = ("nobody" if people == 0 else "beyond", None)
        elif p.misses_cutoff:
            key = ("cutoff", p.cutoff)
        else:
            key = ("ready_by", p.ready_by)
        groups[key].append(p)
    reasons = []
    for (kind, due), members in sorted(groups.items(), key=lambda item: (item[0][1] or forecast.now, item[0][0])):
        finish = max((p.ready_at for p in members if p.ready_at), default=None)
        reason = Reason(kind, people, forecast.pace_now, len(members), finish, due)
        reasons.append(reason)
        for p in members:
            p.reason = reason
    forecast.reasons = reasons
    at_risk = forecast.at_risk
    if not at_risk:
        return
    segments = _open_segments(forecast.location, forecast.now)
    works = [p.units_left for p in forecast.predictions]

    def enough(extra: int) -> bool:
        return _all_in_time(forecast.predictions, _walk(works, segments, people + extra, forecast.pace, forecast.now))

    # More people finish every order earlier or at the same time, so the fewest that make it is found by halving
    # (5 walks of the open work instead of up to MAX_EXTRA).
    if enough(MAX_EXTRA):
        low, high = 1, MAX_EXTRA
        while low < high:
            middle = (low + high) // 2
            if enough(middle):
                high = middle
            else:
                low = middle + 1
        forecast.extra_people = low
    location = forecast.location
    if location.ships_from_store and not location.ship_paused:
        forecast.levers.append("pause_ship")
    if any(p.fulfilment.status in REROUTABLE for p in at_risk):
        forecast.levers.append("reroute")
    if forecast.extra_people is not None:
        forecast.levers.append("call_in")


# --- words ------------------------------------------------------------------------------------------------------


def _en_gettext(message: str, **params) -> str:
    return message % params if params else message


def _en_ngettext(singular: str, plural: str, num: int, **params) -> str:
    return (singular if num == 1 else plural) % {"num": num, **params}


def reason_text(reason: Reason, clock, gettext=_en_gettext, ngettext=_en_ngettext) -> str:
    """The reason in words: "3 associates at 38 units/h: the last 12 orders finish at 19:40, after the 19:00
    carrier cut-off". `clock(moment)` writes a time on the store's clock; gettext and ngettext are the edge's
    (Flask-Babel's: ngettext fills %(num)d itself)."""
    if reason.kind == "nobody":
        return ngettext(
            "Nobody has worked here in the last 30 minutes: %(num)d order is waiting to be picked or packed.",
            "Nobody has worked here in the last 30 minutes: %(num)d orders are waiting to be picked or packed.",
            reason.count,
        )
    team = ngettext(
        "%(num)d associate at %(pace)s units/h",
        "%(num)d associates at %(pace)s units/h",
        reason.staff,
        pace=reason.pace,
    )
    if reason.kind == "beyond":
        detail = ngettext(
            "%(num)d order will not be ready within two weeks",
            "%(num)d orders will not be ready within two weeks",
            reason.count,
        )
    elif reason.kind == "cutoff":
        detail = ngettext(
            "%(num)d order finishes at %(finish)s, after the %(due)s carrier cut-off",
            "the last %(num)d orders finish at %(finish)s, after the %(due)s carrier cut-off",
            reason.count,
            finish=clock(reason.finish),
            due=clock(reason.due),
        )
    else:
        detail = ngettext(
            "%(num)d order finishes at %(finish)s, after its %(due)s ready-by time",
            "the last %(num)d orders finish at %(finish)s, after their %(due)s ready-by time",
            reason.count,
            finish=clock(reason.finish),
            due=clock(reason.due),
        )
    return gettext("%(team)s: %(detail)s", team=team, detail=detail)


def english_clock(location, now: datetime):
    """Store time as 19:40 (today) or 2024-03-08 19:40 (another day): for the stored reasons."""
    zone = ZoneInfo(location.timezone)
    today = _aware(now).astimezone(zone).date()

    def clock(moment: datetime | None) -> str:
        if moment is None:
            return ""
        local = _aware(moment).astimezone(zone)
        return local.strftime("%H:%M") if local.date() == today else local.strftime("%Y-%m-%d %H:%M")

    return clock


# --- keeping the predictions and how good they were ---------------------------------------------------------------


def record(forecast: Forecast) -> int:
    """Keep the forecast's predictions (those with a predicted time), at most one per fulfilment per RECORD_EVERY;
    returns how many were added. The caller commits."""
    rows = [p for p in forecast.predictions if p.ready_at is not None]
    if not rows:
        return 0
    now = forecast.now
    latest = dict(
        db.session.execute(
            select(LatenessPrediction.fulfilment_id, func.max(LatenessPrediction.made_at))
            .where(LatenessPrediction.fulfilment_id.in_([p.fulfilment.id for p in rows]))
            .group_by(LatenessPrediction.fulfilment_id)
        ).all()
    )
    clock = english_clock(forecast.location, now)
    added = 0
    for p in rows:
        last = _aware(latest.get(p.fulfilment.id))
        if last is not None and last > now - RECORD_EVERY:
            continue
        db.session.add(
            LatenessPrediction(
                fulfilment_id=p.fulfilment.id,
                location_id=forecast.location.id,
                made_at=now,
                predicted_ready_at=p.ready_at,
                deadline=p.ready_by,
                late=p.late,
                reason=reason_text(p.reason, clock)[:300] if p.reason else "",
            )
        )
        added += 1
    db.session.flush()
    return added


@dataclass(frozen=True)
class Accuracy:
    judged: int  # predictions whose fulfilment is now ready
    right: int  # ... that were right about late or on time
    mean_error_minutes: float | None  # mean absolute error of the predicted ready time

    @property
    def share_right(self) -> float | None:
        return self.right / self.judged if self.judged else None


READY_SLACK = timedelta(hours=1)
"""How long before a prediction its order may have become ready in the audit trail (a step committed while the
prediction was being made): ready_moments looks that far before the earliest prediction."""


def ready_moments(fulfilment_ids: list[int], since: datetime | None = None) -> dict[int, datetime]:
    """{fulfilment id: when it became ready}: packed, or on the hold shelf (audit trail, Pickup.ready_at).

    `since`: look only at audit steps from then on. The predicted fulfilments were open work when predicted, so
    they became ready after that: the bound lets the search walk the audit trail's created_at index over those
    days instead of every packed step of the chain's history (audit_event has no index on its subject)."""
    if not fulfilment_ids:
        return {}
    moments: dict[int, datetime] = {}
    conditions = [
        AuditEvent.subject_type == Fulfilment.__tablename__,
        AuditEvent.subject_id.in_([str(i) for i in fulfilment_ids]),
        AuditEvent.action.in_(("fulfilment.packed", "fulfilment.ready_for_pickup")),
    ]
    if since is not None:
        conditions.append(AuditEvent.created_at >= since)
    audited = db.session.execute(
        select(AuditEvent.subject_id, func.min(AuditEvent.created_at))
        .where(*conditions)
        .group_by(AuditEvent.subject_id)
    ).all()
    for subject_id, moment in audited:
        moments[int(subject_id)] = _aware(moment)
    shelved = db.session.execute(
        select(Pickup.fulfilment_id, Pickup.ready_at).where(
            Pickup.fulfilment_id.in_(fulfilment_ids), Pickup.ready_at.is_not(None)
        )
    ).all()
    for fulfilment_id, moment in shelved:
        moment = _aware(moment)
        moments[fulfilment_id] = min(moment, moments.get(fulfilment_id, moment))
    return moments


def _minutes_between(later, earlier):
    """|later - earlier| in minutes, in SQL (PostgreSQL's epoch, SQLite's Julian days)."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.abs(extract("epoch", later - earlier)) / 60
    return func.abs(func.julianday(later) - func.julianday(earlier)) * 1440


def accuracy(location, since: datetime, *, keep: bool = False) -> Accuracy:
    """How good the store's predictions made since `since` were, among those whose fulfilment is now ready: the
    share right about late or on time (late: ready after its deadline) and the mean absolute error in minutes.
    keep=True (the worker) fills in actual_ready_at as it learns it (the caller commits); the board only reads."""
    made = (LatenessPrediction.location_id == location.id, LatenessPrediction.made_at >= since)
    # What is already learnt (actual_ready_at kept by the worker) is summed in SQL: a week of a busy store's
    # predictions is thousands of rows, read on every poll of the board. Only the others are read, as plain rows.
    actual, predicted, deadline = (
        LatenessPrediction.actual_ready_at,
        LatenessPrediction.predicted_ready_at,
        LatenessPrediction.deadline,
    )
    said_late = LatenessPrediction.late.is_(True)
    right_sql = case(
        (and_(deadline.is_not(None), actual > deadline), case((said_late, 1), else_=0)),
        else_=case((said_late, 0), else_=1),
    )
    judged, right, errors = db.session.execute(
        select(func.count(), func.sum(right_sql), func.sum(_minutes_between(actual, predicted))).where(
            *made, actual.is_not(None)
        )
    ).one()
    judged, right, errors = judged or 0, int(right or 0), float(errors or 0)
    waiting = db.session.execute(
        select(
            LatenessPrediction.fulfilment_id,
            LatenessPrediction.made_at,
            LatenessPrediction.predicted_ready_at,
            LatenessPrediction.deadline,
            LatenessPrediction.late,
        ).where(*made, actual.is_(None))
    ).all()
    unknown = sorted({row.fulfilment_id for row in waiting})
    first = min((_aware(row.made_at) for row in waiting), default=None)
    moments = ready_moments(unknown, first - READY_SLACK if first else None)
    for row in waiting:
        actual_at = moments.get(row.fulfilment_id)
        if actual_at is None:
            continue
        judged += 1
        row_deadline = _aware(row.deadline)
        late = row_deadline is not None and actual_at > row_deadline
        right += late == row.late
        errors += abs((actual_at - _aware(row.predicted_ready_at)).total_seconds()) / 60
    if keep:
        learnt = [fulfilment_id for fulfilment_id in unknown if fulfilment_id in moments]
        for fulfilment_id in learnt:
            db.session.execute(
                update(LatenessPrediction)
                .where(
                    LatenessPrediction.location_id == location.id,
                    LatenessPrediction.fulfilment_id == fulfilment_id,
                    LatenessPrediction.made_at >= since,
                    LatenessPrediction.actual_ready_at.is_(None),
                )
                .values(actual_ready_at=moments[fulfilment_id])
            )
        db.session.flush()
    return Accuracy(judged, right, round(errors / judged, 1) if judged else None)


ACCURACY_WINDOW = timedelta(days=7)  # how far back the worker learns when predicted orders became ready


def refresh(now: datetime | None = None, limit: int = 50) -> int:
    """The worker's job: predict each store with open work and keep the predictions (at most one per fulfilment per
    RECORD_EVERY), learn when the predicted ones became ready, and keep what the store's board shows (BoardSnapshot).
    The board then only reads. Each store in its own transaction; returns how many predictions were kept."""
    from flask import current_app

    from app.core.models.orders import open_statuses_clause
    from app.core.reports import board
    from app.core.uow import unit_of_work

    now = now or utcnow()
    max_age = current_app.config.get("BOARD_SNAPSHOT_MAX_AGE", board.DEFAULT_MAX_AGE)
    ids = db.session.scalars(
        select(Fulfilment.location_id).where(open_statuses_clause()).group_by(Fulfilment.location_id).limit(limit)
    ).all()
    db.session.rollback()
    kept = 0
    for location_id in ids:
        with unit_of_work(writes=True):
            location = db.session.get(Location, location_id)
            if location is None or not location.active:
                continue
            # The board's snapshot of the store from the same forecast and accuracy (app.core.reports.board); the
            # store's fingerprint first, so a change made meanwhile is seen at the board's next poll.
            print_ = board.fingerprint(location)
            forecast = predict(location, now)
            kept += record(forecast)
            judged = accuracy(location, now - ACCURACY_WINDOW, keep=True)
            board.refresh_from(location, now, print_, forecast, judged, max_age)
    return kept
