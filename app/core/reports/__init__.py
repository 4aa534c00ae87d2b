"""Reports core: a store's day and an associate's day rolled up from the raw rows, and read back as KPIs.

The board, the KPI pages, the productivity screens and the API read the rolled-up rows (LocationDay,
AssociateDay: app.core.models.reports), never the raw history, so a page costs a few rows whatever the years
behind it. `flask worker` keeps today's and yesterday's rows up to date (`refresh`, job "reports"); `flask
reports rollup` (re)builds any range (`backfill`).

A day is the store's calendar day in its own time zone (Location.timezone): its UTC window runs from local midnight
to the next local midnight, 23 hours on the day clocks go forward and 25 on the day they go back.

Public functions (names kept stable for the screens built on them):

- `BUCKETS`: the lower edges, in minutes, of the histogram buckets kept on LocationDay (ready_minutes,
  collect_ready_minutes, collection_minutes). A histogram is {str(lower edge): count}; a duration d falls in the
  bucket whose lower edge is the largest edge <= d; the last bucket (one week and more) is open-ended.
- `bucket(minutes) -> int`, `merge(*histograms) -> dict`.
- `percentile(histogram, p) -> float | None` and `median(histogram)`: minutes, interpolated linearly within the
  bucket the rank falls in (the k-th of n durations is taken to lie at lower + (k - before) / count of the bucket's
  width); the open last bucket answers its lower edge; None for an empty histogram. Exact to the bucket's width.
- `day_window(location, day) -> (start_utc, end_utc)`; `local_day(location, moment) -> date`.
- `rollup_day(location, day) -> LocationDay` and `rollup_associates(location, day) -> list[AssociateDay]`:
  recompute the day's rows from the raw rows and upsert them (idempotent; flushes, the caller commits).
- `refresh(now=None, limit=REFRESH_LIMIT) -> int`: the worker's job; commits; returns the days rolled up.
- `backfill(location, start, end) -> int`: every day from start to end (inclusive); commits per day.
- `daily_rows(locations, start, end) -> list[dict]`: one dict per location and day (days without a row are zeros),
  in location code then date order, with the fields of DAILY_FIELDS (see `_figures`).
- `summary(locations, start, end, grain="day", by_location=False, breakdowns=True) -> list[dict]`: the same
  figures summed per day, ISO week (Monday) or calendar month ("total": the whole range), histograms merged for
  the medians (breakdowns=False: no {reason: count} breakdowns, faster over many stores); one row per period (all locations together), or per period and location with by_location=True. Each row has
  `period` (first day of the period), `first` and `last` (the days of the range it covers) and `location` (a code,
  or None for all).
- `associate_rows(locations, start, end) -> list[dict]`: AssociateDay rows summed per location and associate over
  the range, with units and lines per hour, mis-scans per 100 scans, short-pick rate (`team_rows` sums the same
  figures over the team, per location: what a retailer without individual productivity shows).

Which raw rows make which figure (all at the store, in the day's window):
received / ordered_units: fulfilments created (their units). accepted / rejected (+ rejected_reasons): audit
`fulfilment.accepted` / `fulfilment.rejected` (the reason in `after`). picked_lines / picked_units: the lines and
units of the fulfilments that reached `fulfilment.picked`. short_units / short_products: audit `fulfilment.short`
(`after.short` units of `after.sku`): a line short in full rejects its fulfilment, which never reaches picked, and
its units still count against the fill rate. ready / on_time_ready / late_ready / ready_minutes: `fulfilment.packed`
(ship) or `fulfilment.ready_for_pickup` (click & collect), on time when at or before the fulfilment's ready_by (no
ready_by: on time), minutes from the fulfilment's creation; collect_ready_minutes: the click & collect ones.
shipped / collected / expired: `fulfilment.shipped` / `.collected` / `.expired`. promised / on_time_promised:
fulfilments of orders with a promised_by that shipped or were collected, on time when at or before it.
collection_minutes: Pickup.ready_at -> collected_at of those collected. returns / returned_units /
return_reasons ({reason: units}): customer returns received at the store. Click & collect events that happen at the
pickup store (ready_for_pickup, collected, expired) count at the pickup store (Fulfilment.transfer_to, or its own
location); everything else at the fulfilment's location.
"""

import logging
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import JSON, String, cast, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.models import (
    AuditEvent,
    CustomerReturn,
    Fulfilment,
    FulfilmentLine,
    Location,
    Order,
    Pickup,
    ReturnLine,
    Scan,
)
from app.core.models.base import utcnow
from app.core.models.reports import AssociateDay, LocationDay
from app.extensions import db

log = logging.getLogger(__name__)

BUCKETS = (0, 5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 240, 360, 480, 720, 1440, 2880, 4320, 10080)
_BUCKET_INDEX = {edge: index for index, edge in enumerate(BUCKETS)}
SLOT_MINUTES = 5
# Scans refused because the associate scanned the wrong thing (not the commands a scanner answers "not now").
MISSCAN_OUTCOMES = frozenset({"unknown", "wrong_product", "over"})
REFRESH_LIMIT = 20  # days rolled up per worker pass, at most
REFRESH_EVERY = timedelta(seconds=60)  # a store's today row is looked at again at most this often
SETTLE = timedelta(seconds=30)  # a row rolled up at T is not trusted for what committed just before T
REASON_LENGTH = 60

_FULFILMENT_ACTIONS = (
    "fulfilment.accepted",
    "fulfilment.rejected",
    "fulfilment.picked",
    "fulfilment.short",
    "fulfilment.packed",
    "fulfilment.ready_for_pickup",
    "fulfilment.shipped",
    "fulfilment.collected",
    "fulfilment.expired",
    "pickup.collected",
)
_AT_PICKUP_STORE = {"fulfilment.ready_for_pickup", "fulfilment.collected", "fulfilment.expired", "pickup.collected"}
_COUNTS = [
    c.name
    for c in LocationDay.__table__.columns
    if c.name not in {"location_id", "day", "updated_at"} and not isinstance(c.type, JSON)
]
_DICTS = ["rejected_reasons", "short_products", "return_reasons"]
_HISTOGRAMS = ["ready_minutes", "collect_ready_minutes", "collection_minutes"]


# --- histograms -------------------------------------------------------------------------------------------------


def bucket(minutes: float) -> int:
    """The lower edge of the bucket a duration in minutes falls in (negative durations: the first)."""
    chosen = BUCKETS[0]
    for edge in BUCKETS:
        if minutes >= edge:
            chosen = edge
        else:
            break
    return chosen


def _add(histogram: dict, minutes: float) -> None:
    key = str(bucket(minutes))
    histogram[key] = histogram.get(key, 0) + 1


def merge(*histograms) -> dict:
    """Histograms (or {key: count} breakdowns) added together; None counts as empty."""
    total: dict = {}
    for histogram in histograms:
        for key, count in (histogram or {}).items():
            total[str(key)] = total.get(str(key), 0) + count
    return total


def _sorted_counts(histogram: dict | None) -> tuple[list, int]:
    counts = sorted((int(k), v) for k, v in (histogram or {}).items() if v)
    return counts, sum(v for _, v in counts)


def _percentile_of(counts: list, n: int, p: float) -> float | None:
    if not n:
        return None
    rank = max(0.0, min(100.0, p)) / 100 * n
    before = 0
    for lower, count in counts:
        if before + count >= rank:
            index = _BUCKET_INDEX.get(lower, len(BUCKETS) - 1)
            if index + 1 >= len(BUCKETS):
                return float(lower)
            upper = BUCKETS[index + 1]
            return round(lower + (rank - before) / count * (upper - lower), 1)
        before += count
    return float(counts[-1][0])


def percentile(histogram: dict | None, p: float) -> float | None:
    """The p-th percentile (0-100) of a minutes histogram, interpolated within its bucket (see the module)."""
    return _percentile_of(*_sorted_counts(histogram), p)


def _median_p90(histogram: dict | None) -> tuple[float | None, float | None]:
    """median(histogram), percentile(histogram, 90), sorting the histogram once."""
    counts, n = _sorted_counts(histogram)
    return _percentile_of(counts, n, 50), _percentile_of(counts, n, 90)


def median(histogram: dict | None) -> float | None:
    return percentile(histogram, 50)


# --- days and windows -------------------------------------------------------------------------------------------


def _zone(location: Location) -> ZoneInfo:
    return ZoneInfo(location.timezone or "UTC")


def day_window(location: Location, day: date) -> tuple[datetime, datetime]:
    """The UTC instants of the store's local midnight starting the day and the next one (23 or 25 hours across a
    change of clocks)."""
    zone = _zone(location)
    start = datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone).astimezone(UTC)
    return start, end


def local_day(location: Location, moment: datetime) -> date:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(_zone(location)).date()


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (_aware(end) - _aware(start)).total_seconds() / 60)


def _upsert(model, keys: dict, values: dict):
    """Insert the row or overwrite its figures (two workers rolling up the same day both end with the same row)."""
    dialect = db.session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(model.__table__).values(**keys, **values)
    statement = statement.on_conflict_do_update(index_elements=list(keys), set_=values)
    db.session.execute(statement)


def _fulfilment_events(location: Location, start: datetime, end: datetime):
    """The day's audited fulfilment steps at the store (its own fulfilments, and click & collect handed over here)."""
    return db.session.execute(
        select(
            AuditEvent.action,
            AuditEvent.created_at,
            AuditEvent.after,
            AuditEvent.actor_user_id,
            Fulfilment.id.label("fulfilment_id"),
            Fulfilment.location_id,
            Fulfilment.transfer_to_id,
            Fulfilment.created_at.label("received_at"),
            Fulfilment.ready_by,
            Order.delivery_method,
            Order.promised_by,
            Pickup.ready_at.label("pickup_ready_at"),
            Pickup.collected_at.label("pickup_collected_at"),
        )
        .join(Fulfilment, cast(Fulfilment.id, String) == AuditEvent.subject_id)
        .join(Order, Order.id == Fulfilment.order_id)
        .outerjoin(Pickup, Pickup.fulfilment_id == Fulfilment.id)
        .where(
            AuditEvent.created_at >= start,
            AuditEvent.created_at < end,
            AuditEvent.subject_type == "fulfilment",
            AuditEvent.action.in_(_FULFILMENT_ACTIONS),
            or_(Fulfilment.location_id == location.id, Fulfilment.transfer_to_id == location.id),
        )
        .order_by(AuditEvent.id)
    ).all()


def _here(event, location: Location) -> bool:
    """Whether the event counts at this store: pickup-store events at the pickup store, the others at the source."""
    if event.action in _AT_PICKUP_STORE:
        return (event.transfer_to_id or event.location_id) == location.id
    return event.location_id == location.id


# --- a store's day ----------------------------------------------------------------------------------------------


def _day_figures(location: Location, day: date) -> dict:
    start, end = day_window(location, day)
    figures: dict = {name: 0 for name in _COUNTS}
    for name in _DICTS + _HISTOGRAMS:
        figures[name] = {}
    received = db.session.execute(
        select(func.count(func.distinct(Fulfilment.id)), func.coalesce(func.sum(FulfilmentLine.quantity), 0))
        .select_from(Fulfilment)
        .outerjoin(FulfilmentLine, FulfilmentLine.fulfilment_id == Fulfilment.id)
        .where(Fulfilment.location_id == location.id, Fulfilment.created_at >= start, Fulfilment.created_at < end)
    ).one()
    figures["received"], figures["ordered_units"] = int(received[0]), int(received[1])

    picked_ids = []
    for event in _fulfilment_events(location, start, end):
        if not _here(event, location):
            continue
        action, after = event.action, event.after or {}
        if action == "fulfilment.accepted":
            figures["accepted"] += 1
        elif action == "fulfilment.rejected":
            figures["rejected"] += 1
            reason = str(after.get("reason") or "other")[:REASON_LENGTH]
            figures["rejected_reasons"][reason] = figures["rejected_reasons"].get(reason, 0) + 1
        elif action == "fulfilment.picked":
            picked_ids.append(event.fulfilment_id)
        elif action == "fulfilment.short":
            units, sku = int(after.get("short") or 0), str(after.get("sku") or "?")
            figures["short_units"] += units
            figures["short_products"][sku] = figures["short_products"].get(sku, 0) + units
        elif (action == "fulfilment.packed" and event.delivery_method == "ship") or (
            action == "fulfilment.ready_for_pickup"
        ):
            figures["ready"] += 1
            ready_by = _aware(event.ready_by)
            on_time = ready_by is None or _aware(event.created_at) <= ready_by
            figures["on_time_ready" if on_time else "late_ready"] += 1
            minutes = _minutes(event.received_at, event.created_at)
            _add(figures["ready_minutes"], minutes)
            if event.delivery_method == "collect":
                _add(figures["collect_ready_minutes"], minutes)
        elif action in {"fulfilment.shipped", "fulfilment.collected"}:
            figures["shipped" if action == "fulfilment.shipped" else "collected"] += 1
            if event.promised_by is not None:
                figures["promised"] += 1
                if _aware(event.created_at) <= _aware(event.promised_by):
                    figures["on_time_promised"] += 1
            if action == "fulfilment.collected":
                waited = _minutes(event.pickup_ready_at, event.pickup_collected_at or event.created_at)
                if waited is not None:
                    _add(figures["collection_minutes"], waited)
        elif action == "fulfilment.expired":
            figures["expired"] += 1
    if picked_ids:
        lines = db.session.execute(
            select(FulfilmentLine.picked).where(
                FulfilmentLine.fulfilment_id.in_(set(picked_ids)), FulfilmentLine.picked > 0
            )
        ).scalars()
        for picked in lines:
            figures["picked_lines"] += 1
            figures["picked_units"] += picked

    returned = db.session.execute(
        select(CustomerReturn.id, ReturnLine.reason, ReturnLine.quantity)
        .join(ReturnLine, ReturnLine.return_id == CustomerReturn.id)
        .where(
            CustomerReturn.location_id == location.id,
            CustomerReturn.status == "received",
            CustomerReturn.received_at >= start,
            CustomerReturn.received_at < end,
        )
    ).all()
    figures["returns"] = len({row.id for row in returned})
    for row in returned:
        figures["returned_units"] += row.quantity
        reason = str(row.reason or "other")[:REASON_LENGTH]
        figures["return_reasons"][reason] = figures["return_reasons"].get(reason, 0) + row.quantity
    return figures


def rollup_day(location: Location, day: date) -> LocationDay:
    """Recompute the store's row for one local day from the raw rows and upsert it (flushes; the caller commits)."""
    values = _day_figures(location, day)
    values["updated_at"] = utcnow()
    _upsert(LocationDay, {"location_id": location.id, "day": day}, values)
    row = db.session.get(LocationDay, (location.id, day))
    db.session.refresh(row)
    return row


# --- an associate's day -----------------------------------------------------------------------------------------


def _associate_figures(location: Location, day: date) -> dict[int, dict]:
    start, end = day_window(location, day)
    zone = _zone(location)
    people: dict[int, dict] = {}
    slots: dict[int, set] = defaultdict(set)

    def person(user_id: int) -> dict:
        if user_id not in people:
            people[user_id] = {
                "scans": 0,
                "misscans": 0,
                "picked_lines": 0,
                "picked_units": 0,
                "packed_units": 0,
                "short_units": 0,
                "rejections": 0,
                "handovers": 0,
                "hourly_units": {},
            }
        return people[user_id]

    def local(moment: datetime) -> datetime:
        return _aware(moment).astimezone(zone)

    def act(user_id: int, moment: datetime) -> None:
        """A 5-minute slot in which the associate did something, kept by its UTC start: the two 02:00-03:00 of
        the night clocks go back are different slots (every time zone's offset is a multiple of 5 minutes)."""
        seconds = int(_aware(moment).timestamp())
        slots[user_id].add(seconds - seconds % (SLOT_MINUTES * 60))

    def units(figures: dict, moment: datetime, quantity: int) -> None:
        hour = str(local(moment).hour)
        figures["hourly_units"][hour] = figures["hourly_units"].get(hour, 0) + quantity

    scans = db.session.execute(
        select(
            Scan.user_id,
            Scan.purpose,
            Scan.outcome,
            Scan.quantity,
            Scan.fulfilment_line_id,
            Scan.undone_at,
            Scan.created_at,
        ).where(
            Scan.location_id == location.id,
            Scan.user_id.is_not(None),
            Scan.created_at >= start,
            Scan.created_at < end,
        )
    ).all()
    lines: dict[int, set] = defaultdict(set)
    for scan in scans:
        figures = person(scan.user_id)
        figures["scans"] += 1
        act(scan.user_id, scan.created_at)
        if scan.outcome in MISSCAN_OUTCOMES:
            figures["misscans"] += 1
        if not scan.quantity or scan.undone_at is not None:
            continue
        if scan.purpose == "pick":
            figures["picked_units"] += scan.quantity
            if scan.fulfilment_line_id is not None:
                lines[scan.user_id].add(scan.fulfilment_line_id)
            units(figures, scan.created_at, scan.quantity)
        elif scan.purpose == "pack":
            figures["packed_units"] += scan.quantity
            units(figures, scan.created_at, scan.quantity)
    for user_id, seen in lines.items():
        people[user_id]["picked_lines"] = len(seen)

    for event in _fulfilment_events(location, start, end):
        if event.actor_user_id is None or not _here(event, location):
            continue
        figures = person(event.actor_user_id)
        act(event.actor_user_id, event.created_at)
        after = event.after or {}
        if event.action == "fulfilment.short":
            figures["short_units"] += int(after.get("short") or 0)
        elif event.action == "fulfilment.rejected":
            figures["rejections"] += 1
        elif event.action == "pickup.collected":
            figures["handovers"] += 1
    for user_id, figures in people.items():
        hourly: dict = {}
        for slot in slots[user_id]:
            hour = str(datetime.fromtimestamp(slot, UTC).astimezone(zone).hour)
            hourly[hour] = hourly.get(hour, 0) + SLOT_MINUTES
        figures["hourly_minutes"] = hourly
        figures["active_minutes"] = len(slots[user_id]) * SLOT_MINUTES
    return people


def rollup_associates(location: Location, day: date) -> list[AssociateDay]:
    """Recompute every associate's row of the store's local day and upsert them; rows of people who did nothing
    that day (any more) are removed. Flushes; the caller commits."""
    people = _associate_figures(location, day)
    now = utcnow()
    for user_id, figures in people.items():
        _upsert(
            AssociateDay, {"location_id": location.id, "day": day, "user_id": user_id}, {**figures, "updated_at": now}
        )
    stale = db.session.scalars(
        select(AssociateDay).where(AssociateDay.location_id == location.id, AssociateDay.day == day)
    ).all()
    rows = []
    for row in stale:
        if row.user_id not in people:
            db.session.delete(row)
        else:
            db.session.refresh(row)
            rows.append(row)
    db.session.flush()
    return sorted(rows, key=lambda r: r.user_id)


# --- keeping the rows up to date ---------------------------------------------------------------------------------


def _activity_since(location: Location, since: datetime) -> bool:
    """Whether anything the rows count happened at the store after `since` (each test reads a few index entries)."""
    checks = [
        select(Scan.id).where(Scan.location_id == location.id, Scan.created_at > since),
        select(Fulfilment.id).where(Fulfilment.location_id == location.id, Fulfilment.created_at > since),
        select(AuditEvent.id)
        .join(Fulfilment, cast(Fulfilment.id, String) == AuditEvent.subject_id)
        .where(
            AuditEvent.created_at > since,
            AuditEvent.subject_type == "fulfilment",
            or_(Fulfilment.location_id == location.id, Fulfilment.transfer_to_id == location.id),
        ),
        select(CustomerReturn.id).where(
            CustomerReturn.location_id == location.id,
            CustomerReturn.status == "received",
            CustomerReturn.received_at > since,
        ),
    ]
    return any(db.session.scalar(check.limit(1)) is not None for check in checks)


def _due(location: Location, now: datetime) -> list[tuple[date, datetime | None]]:
    """The store's days to roll up now, with when their row was last rolled up (None: never)."""
    today = local_day(location, now)
    yesterday = today - timedelta(days=1)
    kept = dict(
        db.session.execute(
            select(LocationDay.day, LocationDay.updated_at).where(
                LocationDay.location_id == location.id, LocationDay.day.in_([yesterday, today])
            )
        ).all()
    )
    due = []
    last = _aware(kept.get(yesterday))
    if last is None or last < day_window(location, yesterday)[1] + SETTLE:  # not rolled up since the day ended
        due.append((yesterday, last))
    last = _aware(kept.get(today))
    if last is None or (now - last >= REFRESH_EVERY and _activity_since(location, last - SETTLE)):
        due.append((today, last))
    return due


def refresh(now: datetime | None = None, limit: int = REFRESH_LIMIT) -> int:
    """Roll up today and yesterday (store-local) of every active location with something new, the longest
    waiting first, at most `limit` days a pass; each day in its own transaction (commits). Returns the days done."""
    now = _aware(now) or utcnow()
    locations = db.session.scalars(select(Location).where(Location.active.is_(True)).order_by(Location.id)).all()
    due = []
    for location in locations:
        for day, last in _due(location, now):
            due.append((last or datetime.min.replace(tzinfo=UTC), location.id, day))
    db.session.commit()  # end the read (nothing was written): each rollup below has a transaction of its own
    done = 0
    for _, location_id, day in sorted(due)[:limit]:
        try:
            location = db.session.get(Location, location_id)
            rollup_day(location, day)
            rollup_associates(location, day)
            db.session.commit()
            done += 1
        except Exception:
            db.session.rollback()
            log.exception("could not roll up the reports of location %s on %s", location_id, day)
    return done


def backfill(location: Location, start: date, end: date) -> int:
    """Roll up every day from start to end (inclusive), each in its own transaction (commits)."""
    done, day = 0, start
    location_id = location.id
    while day <= end:
        location = db.session.get(Location, location_id)
        rollup_day(location, day)
        rollup_associates(location, day)
        db.session.commit()
        done += 1
        day += timedelta(days=1)
    return done


# --- reading ----------------------------------------------------------------------------------------------------

DAILY_FIELDS = (
    "date",
    "location",
    "received",
    "ordered_units",
    "accepted",
    "rejected",
    "acceptance_rate",
    "rejection_rate",
    "picked_lines",
    "picked_units",
    "short_units",
    "fill_rate",
    "short_pick_rate",
    "ready",
    "on_time_ready",
    "late_ready",
    "on_time_rate",
    "median_minutes_to_ready",
    "p90_minutes_to_ready",
    "promised",
    "on_time_promised",
    "promised_on_time_rate",
    "shipped",
    "collected",
    "expired",
    "no_show_rate",
    "median_minutes_collect_to_ready",
    "p90_minutes_collect_to_ready",
    "median_minutes_to_collection",
    "p90_minutes_to_collection",
    "returns",
    "returned_units",
    "returns_rate",
    "rejected_reasons",
    "short_products",
    "return_reasons",
)
# The columns of a CSV export: every figure but the breakdowns ({reason: count}), which have their own reports.
CSV_FIELDS = tuple(f for f in DAILY_FIELDS if f not in _DICTS)


def ratio(part: int, whole: int) -> float | None:
    """part / whole, or None when there is nothing to divide by."""
    return part / whole if whole else None


def _rate(part: int, whole: int) -> float | None:
    return None if not whole else round(part / whole, 4)


def rates(counts) -> dict:
    """The rates of summed counts ({name: count}, or anything that maps the LocationDay count names), by one rule for
    the API, the exports and the KPI pages: fill rate is picked / (picked + short) (a line short in full rejects its
    fulfilment, so it never reaches picked), on time counts against the ready ones that had a deadline."""
    picked, short = counts["picked_units"], counts["short_units"]
    decided = counts["accepted"] + counts["rejected"]
    return {
        "acceptance_rate": ratio(counts["accepted"], decided),
        "rejection_rate": ratio(counts["rejected"], decided),
        "fill_rate": ratio(picked, picked + short),
        "short_pick_rate": ratio(short, picked + short),
        "on_time_rate": ratio(counts["on_time_ready"], counts["on_time_ready"] + counts["late_ready"]),
        "promised_on_time_rate": ratio(counts["on_time_promised"], counts["promised"]),
        "no_show_rate": ratio(counts["expired"], counts["collected"] + counts["expired"]),
        "returns_rate": ratio(counts["returns"], counts["shipped"] + counts["collected"]),
    }


def _by_count(breakdown: dict | None) -> dict:
    """The breakdown's keys, largest count first (then by key)."""
    if not breakdown:
        return {}
    if len(breakdown) == 1:
        return dict(breakdown)
    return dict(sorted(breakdown.items(), key=lambda kv: (-kv[1], kv[0])))


def _figures(sums: dict, histograms: bool = True) -> dict:
    """The KPIs of summed counts, breakdowns and histograms (histograms=False: the medians without the
    histograms themselves)."""
    figures = {name: sums.get(name) or 0 for name in _COUNTS}
    ready_median, ready_p90 = _median_p90(sums.get("ready_minutes"))
    collect_median, collect_p90 = _median_p90(sums.get("collect_ready_minutes"))
    collection_median, collection_p90 = _median_p90(sums.get("collection_minutes"))
    figures.update({name: None if rate is None else round(rate, 4) for name, rate in rates(figures).items()})
    figures.update(
        median_minutes_to_ready=ready_median,
        p90_minutes_to_ready=ready_p90,
        median_minutes_collect_to_ready=collect_median,
        p90_minutes_collect_to_ready=collect_p90,
        median_minutes_to_collection=collection_median,
        p90_minutes_to_collection=collection_p90,
    )
    for name in _DICTS + _HISTOGRAMS if histograms else _DICTS:
        figures[name] = _by_count(sums.get(name))
    return figures


def _add_row(sums: dict, row, breakdowns: bool = True) -> None:
    for name in _COUNTS:
        sums[name] = sums.get(name, 0) + (getattr(row, name) or 0)
    for name in _DICTS + _HISTOGRAMS if breakdowns else _HISTOGRAMS:
        merged = sums.setdefault(name, {})
        for key, count in (getattr(row, name) or {}).items():
            merged[key] = merged.get(key, 0) + count


def _rows(locations, start: date, end: date, breakdowns: bool = True) -> dict:
    ids = [location.id for location in locations]
    columns = [c for c in LocationDay.__table__.columns if breakdowns or c.name not in _DICTS]
    # Plain rows, not ORM objects: a chain's month is thousands of rows, and nothing here changes them.
    found = db.session.execute(
        select(*columns).where(LocationDay.location_id.in_(ids), LocationDay.day >= start, LocationDay.day <= end)
    ).all()
    return {(row.location_id, row.day): row for row in found}


def _days(start: date, end: date):
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def daily_rows(locations, start: date, end: date, histograms: bool = True) -> list[dict]:
    """One dict per location and day from start to end (inclusive), from the rolled-up rows (a day without one:
    zeros), by location code then date. Keys: DAILY_FIELDS (`date` a date, `location` the code), plus
    `ready_minutes`, `collect_ready_minutes`, `collection_minutes` (the histograms; histograms=False leaves them
    out, for the exports, which write only DAILY_FIELDS)."""
    locations = sorted(locations, key=lambda location: location.code)
    kept = _rows(locations, start, end)
    out = []
    for location in locations:
        for day in _days(start, end):
            row = kept.get((location.id, day))
            # One row a day: its own figures, nothing to add up (_figures reads None as 0 or empty).
            sums = row._mapping if row is not None else {}
            out.append({"date": day, "location": location.code, **_figures(sums, histograms)})
    return out


def _period(day: date, grain: str, start: date) -> date:
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "total":
        return start
    return day


def summary(
    locations, start: date, end: date, grain: str = "day", by_location: bool = False, breakdowns: bool = True
) -> list[dict]:
    """The figures of the range per period ("day", "week" from Monday, "month", or "total"), all locations
    together or (by_location) per location; counts summed and histograms merged before the medians are taken.
    breakdowns=False leaves the {reason: count} breakdowns empty and is much faster over many stores (head
    office's side-by-side comparison)."""
    if grain not in {"day", "week", "month", "total"}:
        raise ValueError(f"unknown grain {grain!r}")
    locations = sorted(locations, key=lambda location: location.code)
    codes = {location.id: location.code for location in locations}
    groups: dict = {}
    for day in _days(start, end):
        period = _period(day, grain, start)
        for location in locations if by_location else [None]:
            group = groups.setdefault((period, location.code if location else None), {"first": day, "sums": {}})
            group["last"] = day
    for (location_id, day), row in _rows(locations, start, end, breakdowns).items():
        key = (_period(day, grain, start), codes[location_id] if by_location else None)
        _add_row(groups[key]["sums"], row, breakdowns)
    return [
        {"period": period, "first": group["first"], "last": group["last"], "location": code, **_figures(group["sums"])}
        for (period, code), group in sorted(groups.items(), key=lambda kv: (kv[0][1] or "", kv[0][0]))
    ]


_ASSOCIATE_COUNTS = (
    "scans",
    "misscans",
    "picked_lines",
    "picked_units",
    "packed_units",
    "short_units",
    "rejections",
    "handovers",
    "active_minutes",
)


def associate_rates(counts) -> dict:
    """An associate's (or a team's) rates from summed AssociateDay counts, by one rule for the productivity screens
    and these rows: units (picked or packed) and lines per active hour, mis-scans per 100 scans, short-pick rate."""
    hours = counts["active_minutes"] / 60
    picked, short = counts["picked_units"], counts["short_units"]
    misscans = ratio(counts["misscans"], counts["scans"])
    return {
        "units_per_hour": ratio(picked + counts["packed_units"], hours),
        "lines_per_hour": ratio(counts["picked_lines"], hours),
        "misscans_per_100": None if misscans is None else 100 * misscans,
        "short_pick_rate": ratio(short, picked + short),
    }


def _productivity(sums: dict) -> dict:
    digits = {"units_per_hour": 1, "lines_per_hour": 1, "misscans_per_100": 1, "short_pick_rate": 4}
    found = associate_rates(sums)
    return {**sums, **{name: None if v is None else round(v, digits[name]) for name, v in found.items()}}


def _associate_sums(locations, start: date, end: date, per_person: bool) -> list[dict]:
    ids = [location.id for location in locations]
    codes = {location.id: location.code for location in locations}
    groups: dict = {}
    for row in db.session.scalars(
        select(AssociateDay).where(
            AssociateDay.location_id.in_(ids), AssociateDay.day >= start, AssociateDay.day <= end
        )
    ):
        key = (row.location_id, row.user_id if per_person else None)
        sums = groups.setdefault(
            key, {name: 0 for name in _ASSOCIATE_COUNTS} | {"hourly_units": {}, "hourly_minutes": {}}
        )
        for name in _ASSOCIATE_COUNTS:
            sums[name] += getattr(row, name) or 0
        sums["hourly_units"] = merge(sums["hourly_units"], row.hourly_units)
        sums["hourly_minutes"] = merge(sums["hourly_minutes"], row.hourly_minutes)
    return [
        {"location": codes[location_id], "user_id": user_id, **_productivity(sums)}
        for (location_id, user_id), sums in sorted(groups.items(), key=lambda kv: (codes[kv[0][0]], kv[0][1] or 0))
    ]


def associate_rows(locations, start: date, end: date) -> list[dict]:
    """Per location and associate (user_id) over the range: the counts, units_per_hour, lines_per_hour,
    misscans_per_100, short_pick_rate, hourly_units and hourly_minutes ({local hour: n}). Individual figures:
    show them only where RetailerSettings.individual_productivity allows."""
    return _associate_sums(locations, start, end, per_person=True)


def team_rows(locations, start: date, end: date) -> list[dict]:
    """The same figures summed over each location's team (user_id None)."""
    return _associate_sums(locations, start, end, per_person=False)


__all__ = [
    "BUCKETS",
    "CSV_FIELDS",
    "DAILY_FIELDS",
    "associate_rows",
    "backfill",
    "bucket",
    "daily_rows",
    "day_window",
    "local_day",
    "median",
    "merge",
    "percentile",
    "refresh",
    "rollup_associates",
    "rollup_day",
    "summary",
    "team_rows",
]
