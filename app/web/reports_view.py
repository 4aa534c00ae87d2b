"""The KPI pages' figures, computed from LocationDay rows (one store's local day each, app.core.models.reports).

A day is the store's own calendar day, so grouping the rows by week (Monday first, ISO) or by month groups them in
store time whatever the zone of the reader. Counts add up; histograms ({minutes: orders}) merge, then give
percentiles; breakdowns ({reason: n}, {sku: units}) add up key by key.

Rates and what they are divided by (None when there is nothing to divide by, shown as a dash):

- acceptance / rejection rate: accepted (rejected) over the decisions taken, accepted + rejected;
- fill rate: picked_units over ordered_units (units of the fulfilments received);
- short-pick rate: short_units over the units picked or found short (picked_units + short_units); per product the
  rows only keep units short, so a product's figure is its units short and its share of all units short;
- on-time rate: on_time_ready over the fulfilments that became ready with a ready-by (on_time_ready + late_ready);
  against the promised date: on_time_promised over promised;
- no-show rate: expired over the click & collect orders that ended, collected + expired;
- returns rate: returns received over the orders handed over in the same period (shipped + collected); the rows
  count shipments in orders, not units, so units returned per unit sent cannot be had from them.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import select

from app.core import reports
from app.core.models.reports import LocationDay
from app.extensions import db

PERIODS = ("7d", "30d", "12w", "12m")
GRAINS = ("day", "week", "month")
DEFAULT_PERIOD = "30d"
DEFAULT_GRAIN = {"7d": "day", "30d": "day", "12w": "week", "12m": "month", "custom": "day"}
MAX_DAYS = 3 * 366  # a custom period longer than this is refused (a few thousand rows a store at most)

COUNTS = (
    "received",
    "accepted",
    "rejected",
    "picked_lines",
    "picked_units",
    "short_units",
    "ordered_units",
    "ready",
    "on_time_ready",
    "late_ready",
    "promised",
    "on_time_promised",
    "shipped",
    "collected",
    "expired",
    "returns",
    "returned_units",
)
BREAKDOWNS = (
    "rejected_reasons",
    "short_products",
    "ready_minutes",
    "collect_ready_minutes",
    "collection_minutes",
    "return_reasons",
)


ratio = reports.ratio
# The KPI rates a Figures answers, by the pages' name: {page name: the core's name} (app.core.reports.rates).
RATES = {name: name for name in ("acceptance_rate", "rejection_rate", "fill_rate", "on_time_rate", "no_show_rate")} | {
    "returns_rate": "returns_rate",
    "short_rate": "short_pick_rate",
    "promised_rate": "promised_on_time_rate",
}


# Histograms are read as the rollup writes them (app.core.reports: keys are the buckets' lower edges), with its
# percentile (interpolated within the bucket) and its merge: one reading for the pages, the API and the bench.
merge, percentile = reports.merge, reports.percentile


@dataclass
class Figures:
    """The sums of some LocationDay rows, and the KPIs read from them."""

    counts: Counter = field(default_factory=Counter)
    breakdowns: dict[str, Counter] = field(default_factory=lambda: {name: Counter() for name in BREAKDOWNS})
    days: int = 0

    def add(self, row: LocationDay) -> "Figures":
        for name in COUNTS:
            self.counts[name] += getattr(row, name) or 0
        for name in BREAKDOWNS:
            self.breakdowns[name].update(merge(getattr(row, name)))
        self.days += 1
        return self

    def __getattr__(self, name):
        if name in COUNTS:
            return self.counts[name]
        if name in RATES:  # the core's rule, the same as the API's and the exports'
            return reports.rates(self.counts)[RATES[name]]
        raise AttributeError(name)

    def minutes(self, histogram: str, q: float) -> float | None:
        return percentile(self.breakdowns[histogram], q)

    @property
    def ready_p50(self):
        return self.minutes("ready_minutes", 50)

    @property
    def ready_p90(self):
        return self.minutes("ready_minutes", 90)

    @property
    def collect_ready_p50(self):
        return self.minutes("collect_ready_minutes", 50)

    @property
    def collect_ready_p90(self):
        return self.minutes("collect_ready_minutes", 90)

    @property
    def collection_p50(self):
        return self.minutes("collection_minutes", 50)

    @property
    def collection_p90(self):
        return self.minutes("collection_minutes", 90)

    def ranked(self, breakdown: str, limit: int | None = None) -> list[tuple[str, int, float | None]]:
        """A breakdown's keys, largest first (then by key): (key, n, share of the whole breakdown)."""
        counter = self.breakdowns[breakdown]
        whole = sum(counter.values())
        rows = sorted(((key, n) for key, n in counter.items() if n), key=lambda item: (-item[1], str(item[0])))
        return [(key, n, ratio(n, whole)) for key, n in rows[:limit]]


# --------------------------------------------------------------------------- periods and grains


def bucket_start(day: date, grain: str) -> date:
    """The first day of the day's week (Monday) or month; the day itself for the day grain."""
    if grain == "week":
        return day - timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    return day


def _months_back(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 - months
    return date(index // 12, index % 12 + 1, 1)


def period_bounds(period: str, today: date) -> tuple[date, date]:
    """The first and last day (both included) of a named period ending today: the last 7 or 30 days, the last 12
    weeks (this one included, from a Monday) or the last 12 months (this one included, from the 1st)."""
    if period == "7d":
        return today - timedelta(days=6), today
    if period == "12w":
        return bucket_start(today, "week") - timedelta(weeks=11), today
    if period == "12m":
        return _months_back(today, 11), today
    return today - timedelta(days=29), today


def buckets(start: date, end: date, grain: str) -> list[date]:
    """Every bucket's first day from start to end, empty ones included (a chart shows the gaps)."""
    result, day = [], bucket_start(start, grain)
    while day <= end:
        result.append(day)
        if grain == "week":
            day += timedelta(weeks=1)
        elif grain == "month":
            day = _months_back(day, -1)
        else:
            day += timedelta(days=1)
    return result


@dataclass
class Report:
    """A period's figures for some locations: per bucket, per location and in all."""

    start: date
    end: date
    grain: str
    series: list[tuple[date, Figures]]
    by_location: dict[int, Figures]
    total: Figures


def rows(location_ids: list[int], start: date, end: date) -> list[LocationDay]:
    if not location_ids:
        return []
    query = (
        select(LocationDay)
        .where(LocationDay.location_id.in_(location_ids), LocationDay.day >= start, LocationDay.day <= end)
        .order_by(LocationDay.day, LocationDay.location_id)
    )
    return list(db.session.scalars(query))


def report(location_ids: list[int], start: date, end: date, grain: str) -> Report:
    """The figures of these locations from start to end (store days, both included), by grain."""
    by_bucket = {day: Figures() for day in buckets(start, end, grain)}
    by_location = {location_id: Figures() for location_id in location_ids}
    total = Figures()
    for row in rows(location_ids, start, end):
        by_bucket[bucket_start(row.day, grain)].add(row)
        by_location[row.location_id].add(row)
        total.add(row)
    return Report(start, end, grain, sorted(by_bucket.items()), by_location, total)
