"""Store opening hours and fulfilment deadlines counted in opening time.

Opening hours are a dict keyed by weekday ``"mon"`` .. ``"sun"``; each value is a list of ``["HH:MM", "HH:MM"]``
intervals (open, close) in the store's local time. A missing day is closed, and ``"24:00"`` closes at the end of the
day. Intervals are half-open: a store open ``09:00-19:00`` is open at 09:00 and closed at 19:00.

All arithmetic is done on aware datetimes: each interval is built on its local calendar date in the store's zone and
converted to UTC, so days that are 23 or 25 hours long (daylight saving changes) are counted correctly. A local time
that does not exist (skipped when the clocks spring forward) is taken as the instant the clocks jump; an ambiguous one
(repeated when they fall back) is its first occurrence.

Pure Python: no Flask, no database.
"""

import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

from app.core.errors import N_, InvalidInput

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday keys, in ``date.weekday()`` order."""

DEFAULT_HOURS: dict[str, list[list[str]]] = {
    "mon": [["09:00", "19:00"]],
    "tue": [["09:00", "19:00"]],
    "wed": [["09:00", "19:00"]],
    "thu": [["09:00", "19:00"]],
    "fri": [["09:00", "19:00"]],
    "sat": [["09:00", "19:00"]],
    "sun": [],
}
"""Monday to Saturday 09:00-19:00, Sunday closed. Treat as read-only; ``validate_hours`` returns a fresh copy."""


def store_hours(location) -> dict:
    """A location's opening hours, or DEFAULT_HOURS when it has none of its own."""
    return location.opening_hours or DEFAULT_HOURS


SEARCH_DAYS = 14
"""How many days without any opening ``add_open_minutes`` searches before giving up."""

_MINUTES_PER_DAY = 24 * 60
_TIME = re.compile(r"(\d{1,2}):(\d{2})")
_INTERVAL = re.compile(r"(\S+)\s*-\s*(\S+)")

Week = tuple[tuple[tuple[int, int], ...], ...]
"""Seven tuples (Monday first) of ``(open, close)`` minutes since local midnight, sorted, not overlapping."""


# -- validation ---------------------------------------------------------------------------------------------------


def _field(day: str) -> str:
    return f"opening_hours.{day}"


def _parse_time(value: object, day: str, *, closing: bool) -> int:
    """Minutes since midnight for ``"HH:MM"``; ``"24:00"`` only as a closing time."""
    match = _TIME.fullmatch(value.strip()) if isinstance(value, str) else None
    if match:
        hour, minute = int(match[1]), int(match[2])
        if (hour < 24 and minute < 60) or (closing and hour == 24 and minute == 0):
            return hour * 60 + minute
    raise InvalidInput(
        N_("%(day)s: %(value)s is not a time between 00:00 and 24:00 (HH:MM)."),
        field=_field(day),
        day=day,
        value=str(value),
    )


def _format_time(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


def _parse_day(day: str, intervals: object) -> tuple[tuple[int, int], ...]:
    """Check one day's intervals and return them as sorted ``(open, close)`` minutes."""
    if not isinstance(intervals, list | tuple):
        raise InvalidInput(N_("%(day)s: the opening hours must be a list of intervals."), field=_field(day), day=day)
    parsed: list[tuple[int, int]] = []
    for interval in intervals:
        if not isinstance(interval, list | tuple) or len(interval) != 2:
            raise InvalidInput(
                N_("%(day)s: each interval must be an opening and a closing time."), field=_field(day), day=day
            )
        opens = _parse_time(interval[0], day, closing=False)
        closes = _parse_time(interval[1], day, closing=True)
        if opens >= closes:
            raise InvalidInput(
                N_("%(day)s: %(opens)s must be before %(closes)s."),
                field=_field(day),
                day=day,
                opens=_format_time(opens),
                closes=_format_time(closes),
            )
        parsed.append((opens, closes))
    parsed.sort()
    for (_, previous_close), (opens, closes) in pairwise(parsed):
        if opens < previous_close:
            raise InvalidInput(
                N_("%(day)s: the interval %(opens)s-%(closes)s overlaps another one."),
                field=_field(day),
                day=day,
                opens=_format_time(opens),
                closes=_format_time(closes),
            )
    return tuple(parsed)


def _parse_week(raw: object) -> Week:
    """Check the structure of opening hours; an all-closed week is allowed here."""
    if not isinstance(raw, dict):
        raise InvalidInput(N_("Opening hours must map weekdays to intervals."), field="opening_hours")
    for key in raw:
        if key not in DAYS:
            raise InvalidInput(
                N_("Unknown day %(day)s: use mon, tue, wed, thu, fri, sat or sun."),
                field="opening_hours",
                day=str(key),
            )
    return tuple(_parse_day(day, raw.get(day, [])) for day in DAYS)


def _to_dict(week: Week) -> dict[str, list[list[str]]]:
    return {
        day: [[_format_time(opens), _format_time(closes)] for opens, closes in intervals]
        for day, intervals in zip(DAYS, week, strict=True)
    }


def validate_hours(raw: object) -> dict[str, list[list[str]]]:
    """Return a normalised copy of ``raw`` opening hours, or raise ``InvalidInput``.

    The copy has all seven days in order (missing days become ``[]``), times as zero-padded ``"HH:MM"`` and each
    day's intervals sorted. Refused: unknown day keys, values that are not lists of ``[open, close]`` pairs, times that
    are not ``HH:MM`` between 00:00 and 24:00, an opening not before its closing, overlapping intervals and a week
    with no opening at all. Errors name the field ``opening_hours`` with the reason.
    """
    week = _parse_week(raw)
    if not any(week):
        raise InvalidInput(N_("The store must be open at least once a week."), field="opening_hours")
    return _to_dict(week)


# -- text form ----------------------------------------------------------------------------------------------------


def format_hours_text(hours: dict) -> str:
    """Render opening hours one line per day: ``mon 09:00-12:30, 14:00-19:00`` or ``sun closed``."""
    week = _parse_week(hours)
    lines = []
    for day, intervals in zip(DAYS, week, strict=True):
        text = ", ".join(f"{_format_time(opens)}-{_format_time(closes)}" for opens, closes in intervals)
        lines.append(f"{day} {text or 'closed'}")
    return "\n".join(lines)


def parse_hours_text(text: str) -> dict[str, list[list[str]]]:
    """Parse the form written by ``format_hours_text`` and return validated, normalised hours.

    Blank lines are ignored, day names are case-insensitive, a day without a line (or a line with only the day) is
    closed. Raises ``InvalidInput`` naming the line's day in ``fields`` (``opening_hours.<day>``).
    """
    raw: dict[str, list[list[str]]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        key, _, rest = line.partition(" ")
        day, rest = key.lower(), rest.strip()
        if day not in DAYS:
            raise InvalidInput(
                N_("Unknown day %(day)s: use mon, tue, wed, thu, fri, sat or sun."),
                field="opening_hours",
                day=key,
            )
        if day in raw:
            raise InvalidInput(N_("%(day)s appears more than once."), field=_field(day), day=day)
        intervals: list[list[str]] = []
        if rest.lower() not in ("", "closed"):
            for part in rest.split(","):
                match = _INTERVAL.fullmatch(part.strip())
                if not match:
                    raise InvalidInput(
                        N_("%(day)s: write intervals as 09:00-12:30, separated by commas, or closed."),
                        field=_field(day),
                        day=day,
                    )
                intervals.append([match[1], match[2]])
        raw[day] = intervals
    return validate_hours(raw)


# -- time arithmetic ----------------------------------------------------------------------------------------------


def _as_utc(moment: datetime) -> datetime:
    """An aware UTC datetime; a naive one is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _wall(moment: datetime) -> datetime:
    return moment.replace(tzinfo=None, fold=0)


def _local_to_utc(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """The UTC instant of local wall time ``day`` + ``minutes`` (up to 24:00, i.e. next midnight).

    A wall time skipped by a spring-forward change maps to the instant the clocks jump, which keeps the mapping
    monotonic; an ambiguous one maps to its first occurrence (``fold=0``).
    """
    day += timedelta(days=minutes // _MINUTES_PER_DAY)
    minutes %= _MINUTES_PER_DAY
    wall = datetime.combine(day, time(minutes // 60, minutes % 60), tzinfo=zone)
    utc = wall.astimezone(UTC)
    if _wall(utc.astimezone(zone)) == _wall(wall):
        return utc
    # Non-existent: the jump lies between the post-change reading (fold=1) and the pre-change one (fold=0).
    # Find the first instant whose local reading is past this wall time.
    other = wall.replace(fold=1).astimezone(UTC)
    low, span = min(other, utc), int(abs(other - utc).total_seconds())
    target = _wall(wall)
    below, above = 0, span  # zone offsets change on whole seconds
    while above - below > 1:
        middle = (below + above) // 2
        if _wall((low + timedelta(seconds=middle)).astimezone(zone)) > target:
            above = middle
        else:
            below = middle
    return low + timedelta(seconds=above)


def _utc_intervals(week: Week, zone: ZoneInfo, day: date) -> Iterator[tuple[datetime, datetime]]:
    """The opening intervals of local date ``day`` as ``(start, end)`` UTC instants, skipping empty ones."""
    for opens, closes in week[day.weekday()]:
        start, end = _local_to_utc(day, opens, zone), _local_to_utc(day, closes, zone)
        if end > start:
            yield start, end


def add_open_minutes(hours: dict, tz: str, start: datetime, minutes: int) -> datetime:
    """The UTC instant at which ``minutes`` of opening time have elapsed since ``start``.

    ``start`` is an aware datetime (naive is taken as UTC). Only time inside the opening intervals of ``hours``, read
    in the store's zone ``tz``, is counted; if ``start`` is outside them, counting begins at the next opening (so
    ``minutes=0`` gives the next moment the store is open). A deadline that falls exactly at a closing time is that
    closing time. Raises ``ValueError`` for negative minutes, or when ``hours`` has no opening at all or none within
    ``SEARCH_DAYS`` days of the point reached.
    """
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    week = _parse_week(hours)
    if not any(week):
        raise ValueError("the opening hours have no opening at all")
    zone = ZoneInfo(tz)
    cursor = _as_utc(start)
    remaining = timedelta(minutes=minutes)
    day = cursor.astimezone(zone).date() - timedelta(days=1)
    days_without_opening = 0
    while days_without_opening <= SEARCH_DAYS:
        opened = False
        for opens, closes in _utc_intervals(week, zone, day):
            if closes <= cursor:
                continue
            opened = True
            cursor = max(cursor, opens)
            if remaining <= closes - cursor:
                return cursor + remaining
            remaining -= closes - cursor
            cursor = closes
        days_without_opening = 0 if opened else days_without_opening + 1
        day += timedelta(days=1)
    raise ValueError(f"no opening within {SEARCH_DAYS} days")


def local_day_start(tz: str, moment: datetime) -> datetime:
    """The UTC instant of local midnight starting the store's calendar day that contains ``moment``.

    ``moment`` is aware (naive is taken as UTC). If midnight is skipped by a clock change, the day starts when the
    clocks jump.
    """
    zone = ZoneInfo(tz)
    return _local_to_utc(_as_utc(moment).astimezone(zone).date(), 0, zone)


def is_open(hours: dict, tz: str, moment: datetime) -> bool:
    """Whether the store is open at ``moment`` (aware, or naive taken as UTC); closing times are excluded."""
    zone = ZoneInfo(tz)
    moment = _as_utc(moment)
    day = moment.astimezone(zone).date()
    week = _parse_week(hours)
    return any(opens <= moment < closes for opens, closes in _utc_intervals(week, zone, day))
