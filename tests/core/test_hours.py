"""Opening hours and deadlines counted in opening time (pure Python, no database)."""

import copy
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.errors import InvalidInput
from app.core.ordering import hours as h

PARIS = "Europe/Paris"
SPLIT = {day: [["09:00", "12:30"], ["14:00", "19:00"]] for day in h.DAYS[:6]}
ALWAYS = {day: [["00:00", "24:00"]] for day in h.DAYS}
EVERY_DAY = {day: [["09:00", "19:00"]] for day in h.DAYS}


def local(tz: str, *args: int) -> datetime:
    """An aware datetime at a wall time in ``tz`` (first occurrence if ambiguous)."""
    return datetime(*args, tzinfo=ZoneInfo(tz))


def deadline(hours: dict, tz: str, start: datetime, minutes: int) -> datetime:
    """``add_open_minutes`` read back on the store's wall clock, checking it answers in UTC."""
    result = h.add_open_minutes(hours, tz, start, minutes)
    assert result.utcoffset() == timedelta(0)
    return result.astimezone(ZoneInfo(tz))


def elapsed(start: datetime, end: datetime) -> timedelta:
    """Real time between two instants (subtracting with a shared tzinfo would compare wall clocks)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def wall(moment: datetime) -> tuple[int, ...]:
    return (moment.year, moment.month, moment.day, moment.hour, moment.minute)


# -- deadlines ----------------------------------------------------------------------------------------------------


def test_within_opening_hours_minutes_count_as_they_pass():
    result = deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 10, 0), 60)  # a Tuesday
    assert wall(result) == (2026, 6, 9, 11, 0)


def test_the_lunch_break_is_not_counted():
    assert wall(deadline(SPLIT, PARIS, local(PARIS, 2026, 6, 9, 12, 0), 60)) == (2026, 6, 9, 14, 30)


def test_after_closing_the_count_carries_over_to_the_next_opening():
    assert wall(deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 18, 30), 60)) == (2026, 6, 10, 9, 30)


def test_a_closed_sunday_is_skipped():
    assert wall(deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 13, 18, 30), 60)) == (2026, 6, 15, 9, 30)


def test_before_opening_the_count_starts_at_opening():
    assert wall(deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 7, 0), 15)) == (2026, 6, 9, 9, 15)


def test_a_deadline_at_closing_time_is_the_closing_time():
    assert wall(deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 18, 0), 60)) == (2026, 6, 9, 19, 0)


def test_zero_minutes_is_the_next_moment_the_store_is_open():
    assert wall(deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 10, 0), 0)) == (2026, 6, 9, 10, 0)
    assert wall(deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 19, 0), 0)) == (2026, 6, 10, 9, 0)


def test_long_counts_run_over_several_weeks():
    weekly_minutes = 6 * 10 * 60
    result = deadline(h.DEFAULT_HOURS, PARIS, local(PARIS, 2026, 6, 9, 10, 0), 3 * weekly_minutes)
    assert wall(result) == (2026, 6, 30, 10, 0)


def test_a_naive_start_is_taken_as_utc():
    aware = datetime(2026, 6, 9, 8, 0, tzinfo=UTC)
    naive = aware.replace(tzinfo=None)
    assert h.add_open_minutes(h.DEFAULT_HOURS, PARIS, naive, 60) == h.add_open_minutes(
        h.DEFAULT_HOURS, PARIS, aware, 60
    )
    assert h.add_open_minutes(h.DEFAULT_HOURS, PARIS, naive, 60) == datetime(2026, 6, 9, 9, 0, tzinfo=UTC)


def test_negative_minutes_and_hours_without_opening_are_refused():
    start = datetime(2026, 6, 9, 8, 0, tzinfo=UTC)
    with pytest.raises(ValueError, match="negative"):
        h.add_open_minutes(h.DEFAULT_HOURS, PARIS, start, -1)
    with pytest.raises(ValueError, match="no opening"):
        h.add_open_minutes({}, PARIS, start, 10)


# -- daylight saving ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("tz", ["Europe/Paris", "Europe/Rome"])
def test_spring_forward_counts_real_minutes(tz):
    start = local(tz, 2026, 3, 29, 1, 30)  # 02:00 becomes 03:00 that night
    result = deadline(ALWAYS, tz, start, 60)
    assert wall(result) == (2026, 3, 29, 3, 30)
    assert elapsed(start, result) == timedelta(minutes=60)


@pytest.mark.parametrize("tz", ["Europe/Paris", "Europe/Rome"])
def test_fall_back_counts_real_minutes(tz):
    start = local(tz, 2026, 10, 25, 1, 30)  # 03:00 becomes 02:00 that night
    result = deadline(ALWAYS, tz, start, 120)
    assert wall(result) == (2026, 10, 25, 2, 30)
    assert result.utcoffset() == timedelta(hours=1)
    assert elapsed(start, result) == timedelta(minutes=120)


def test_a_store_closed_overnight_reopens_at_its_local_time_after_the_october_change():
    start = local(PARIS, 2026, 10, 24, 18, 30)  # Saturday, summer time
    result = deadline(EVERY_DAY, PARIS, start, 60)
    assert wall(result) == (2026, 10, 25, 9, 30)
    assert result.utcoffset() == timedelta(hours=1)
    assert elapsed(start, result) == timedelta(hours=16)  # 15 hours on the wall clock, 16 real ones


def test_a_store_closed_overnight_reopens_at_its_local_time_after_the_march_change():
    start = local(PARIS, 2026, 3, 28, 18, 30)  # Saturday, winter time
    result = deadline(EVERY_DAY, PARIS, start, 60)
    assert wall(result) == (2026, 3, 29, 9, 30)
    assert elapsed(start, result) == timedelta(hours=14)


def test_opening_hours_inside_the_skipped_hour_start_when_the_clocks_jump():
    hours = {day: [["02:30", "03:15"]] for day in h.DAYS}  # 02:30-03:00 does not exist on 29 March
    start = local(PARIS, 2026, 3, 29, 0, 0)
    assert wall(deadline(hours, PARIS, start, 15)) == (2026, 3, 29, 3, 15)
    assert wall(deadline(hours, PARIS, start, 16)) == (2026, 3, 30, 2, 31)
    assert not h.is_open(hours, PARIS, local(PARIS, 2026, 3, 29, 1, 59))
    assert h.is_open(hours, PARIS, local(PARIS, 2026, 3, 29, 3, 0))


# -- time zones ---------------------------------------------------------------------------------------------------


def test_the_store_time_zone_is_used():
    start = datetime(2026, 6, 9, 16, 30, tzinfo=UTC)  # 18:30 in Paris and Rome, 20:30 on Réunion
    paris = h.add_open_minutes(h.DEFAULT_HOURS, "Europe/Paris", start, 60)
    rome = h.add_open_minutes(h.DEFAULT_HOURS, "Europe/Rome", start, 60)
    reunion = h.add_open_minutes(h.DEFAULT_HOURS, "Indian/Reunion", start, 60)
    assert paris == rome == datetime(2026, 6, 10, 7, 30, tzinfo=UTC)
    assert reunion == datetime(2026, 6, 10, 6, 0, tzinfo=UTC)  # opens at 09:00 UTC+4 = 05:00 UTC


def test_local_day_start_is_local_midnight_in_utc():
    assert h.local_day_start(PARIS, datetime(2026, 6, 10, 23, 30, tzinfo=UTC)) == datetime(
        2026, 6, 10, 22, 0, tzinfo=UTC
    )
    assert h.local_day_start(PARIS, datetime(2026, 6, 10, 21, 59)) == datetime(2026, 6, 9, 22, 0, tzinfo=UTC)
    assert h.local_day_start("Indian/Reunion", datetime(2026, 6, 10, 21, 0, tzinfo=UTC)) == datetime(
        2026, 6, 10, 20, 0, tzinfo=UTC
    )


def test_local_day_start_on_a_23_hour_day():
    start = h.local_day_start(PARIS, datetime(2026, 3, 29, 12, 0, tzinfo=UTC))
    end = h.local_day_start(PARIS, datetime(2026, 3, 30, 12, 0, tzinfo=UTC))
    assert start == datetime(2026, 3, 28, 23, 0, tzinfo=UTC)
    assert end - start == timedelta(hours=23)


def test_is_open_includes_opening_and_excludes_closing():
    assert h.is_open(SPLIT, PARIS, local(PARIS, 2026, 6, 9, 9, 0))
    assert h.is_open(SPLIT, PARIS, local(PARIS, 2026, 6, 9, 12, 29))
    assert not h.is_open(SPLIT, PARIS, local(PARIS, 2026, 6, 9, 12, 30))
    assert not h.is_open(SPLIT, PARIS, local(PARIS, 2026, 6, 9, 8, 59))
    assert not h.is_open(SPLIT, PARIS, local(PARIS, 2026, 6, 14, 10, 0))  # Sunday
    assert h.is_open(ALWAYS, PARIS, local(PARIS, 2026, 6, 14, 23, 59))
    assert h.is_open(h.DEFAULT_HOURS, PARIS, datetime(2026, 6, 9, 8, 0))  # naive = UTC = 10:00 in Paris


# -- validation and text form -------------------------------------------------------------------------------------


def test_validate_normalises_a_copy():
    raw = {"tue": [["14:00", "24:00"], ["9:00", "12:00"]], "sat": [("10:00", "12:00")]}
    before = copy.deepcopy(raw)
    assert h.validate_hours(raw) == {
        "mon": [],
        "tue": [["09:00", "12:00"], ["14:00", "24:00"]],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [["10:00", "12:00"]],
        "sun": [],
    }
    assert raw == before
    assert h.validate_hours(h.DEFAULT_HOURS) == h.DEFAULT_HOURS
    assert h.validate_hours(h.DEFAULT_HOURS) is not h.DEFAULT_HOURS


def test_touching_intervals_are_allowed():
    assert h.validate_hours({"mon": [["09:00", "12:00"], ["12:00", "13:00"]]})["mon"] == [
        ["09:00", "12:00"],
        ["12:00", "13:00"],
    ]


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"xyz": [["09:00", "10:00"]]}, "opening_hours"),
        ({"mon": "09:00-19:00"}, "opening_hours.mon"),
        ({"mon": [["09:00"]]}, "opening_hours.mon"),
        ({"mon": [["09:00", "19:00", "20:00"]]}, "opening_hours.mon"),
        ({"mon": [["9h", "19:00"]]}, "opening_hours.mon"),
        ({"tue": [["25:00", "26:00"]]}, "opening_hours.tue"),
        ({"tue": [["09:60", "10:00"]]}, "opening_hours.tue"),
        ({"tue": [[900, "19:00"]]}, "opening_hours.tue"),
        ({"wed": [["24:00", "24:00"]]}, "opening_hours.wed"),
        ({"wed": [["19:00", "09:00"]]}, "opening_hours.wed"),
        ({"wed": [["09:00", "09:00"]]}, "opening_hours.wed"),
        ({"fri": [["14:00", "19:00"], ["09:00", "14:30"]]}, "opening_hours.fri"),
        ({"mon": [], "sun": []}, "opening_hours"),
        ({}, "opening_hours"),
        ([["09:00", "19:00"]], "opening_hours"),
    ],
)
def test_validate_refuses_bad_hours(raw, field):
    with pytest.raises(InvalidInput) as error:
        h.validate_hours(raw)
    assert list(error.value.fields) == [field]


def test_default_hours_as_text():
    assert h.format_hours_text(h.DEFAULT_HOURS) == "\n".join(
        [f"{day} 09:00-19:00" for day in ("mon", "tue", "wed", "thu", "fri", "sat")] + ["sun closed"]
    )


def test_text_round_trip():
    text = h.format_hours_text(SPLIT | {"sun": [["10:00", "13:00"]], "sat": [["09:00", "24:00"]]})
    assert "mon 09:00-12:30, 14:00-19:00" in text.splitlines()
    assert "sat 09:00-24:00" in text.splitlines()
    assert h.format_hours_text(h.parse_hours_text(text)) == text
    assert h.parse_hours_text(h.format_hours_text(h.DEFAULT_HOURS)) == h.DEFAULT_HOURS


def test_parse_is_lenient_about_layout():
    text = "\n  MON 9:00 - 12:30 ,14:00-19:00  \n\nsun closed\nsat\ntue 10:00-11:00\n"
    assert h.parse_hours_text(text) == {
        "mon": [["09:00", "12:30"], ["14:00", "19:00"]],
        "tue": [["10:00", "11:00"]],
        "wed": [],
        "thu": [],
        "fri": [],
        "sat": [],
        "sun": [],
    }


@pytest.mark.parametrize(
    ("text", "field"),
    [
        ("mon 19:00-09:00", "opening_hours.mon"),
        ("tue 09:00-12:00, 11:00-13:00", "opening_hours.tue"),
        ("xyz 09:00-10:00", "opening_hours"),
        ("mon 25:00-26:00", "opening_hours.mon"),
        ("wed 09:00", "opening_hours.wed"),
        ("thu 09:00-10:00,", "opening_hours.thu"),
        ("fri 09:00-10:00\nfri 11:00-12:00", "opening_hours.fri"),
        ("\n".join(f"{day} closed" for day in h.DAYS), "opening_hours"),
        ("", "opening_hours"),
    ],
)
def test_parse_refuses_bad_lines_naming_the_day(text, field):
    with pytest.raises(InvalidInput) as error:
        h.parse_hours_text(text)
    assert list(error.value.fields) == [field]


def test_error_messages_name_the_day():
    with pytest.raises(InvalidInput, match=r"^mon: 19:00 must be before 09:00"):
        h.parse_hours_text("mon 19:00-09:00")
    with pytest.raises(InvalidInput, match="Unknown day xyz"):
        h.parse_hours_text("xyz 09:00-10:00")


# -- properties ---------------------------------------------------------------------------------------------------


def open_minutes_between(tz: str, start: datetime, end: datetime) -> int:
    """Brute force, independent of the module: minutes in [start, end) when DEFAULT_HOURS has the store open."""
    zone, count, moment = ZoneInfo(tz), 0, start
    while moment < end:
        wall_clock = moment.astimezone(zone)
        count += wall_clock.weekday() < 6 and 9 <= wall_clock.hour < 19
        moment += timedelta(minutes=1)
    return count


ZONES = st.sampled_from(["Europe/Paris", "Europe/Rome", "Indian/Reunion", "America/New_York"])
STARTS = st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31, 23, 59)).map(
    lambda moment: moment.replace(second=0, microsecond=0, tzinfo=UTC)
)


@settings(max_examples=200, deadline=None)
@given(tz=ZONES, start=STARTS, minutes=st.integers(min_value=1, max_value=600))
def test_deadlines_count_exactly_the_open_minutes(tz, start, minutes):
    result = h.add_open_minutes(h.DEFAULT_HOURS, tz, start, minutes)
    assert result >= start + timedelta(minutes=minutes)
    assert h.is_open(h.DEFAULT_HOURS, tz, result - timedelta(seconds=1))
    if minutes <= 300:
        assert open_minutes_between(tz, start, result) == minutes


@settings(max_examples=100, deadline=None)
@given(tz=ZONES, start=STARTS, first=st.integers(min_value=1, max_value=900), then=st.integers(1, 900))
def test_deadlines_add_up(tz, start, first, then):
    middle = h.add_open_minutes(SPLIT, tz, start, first)
    assert h.add_open_minutes(SPLIT, tz, middle, then) == h.add_open_minutes(SPLIT, tz, start, first + then)
