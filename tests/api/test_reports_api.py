"""GET /api/v1/reports/daily: one row per location and day from the rolled-up days, as JSON or CSV."""

import csv
import io
from datetime import date

import pytest

from app.core import reports
from app.core.integration.api_clients import create_api_client
from app.core.models import Location
from app.core.models.reports import LocationDay
from app.extensions import db
from tests.factories import ACTOR, make_location

DAILY = "/api/v1/reports/daily"


@pytest.fixture
def head_office(app, client):
    paris = make_location(code="PAR01", timezone="Europe/Paris")
    rome = make_location(code="ROM01", timezone="Europe/Rome")
    db.session.add(
        LocationDay(
            location_id=paris.id,
            day=date(2025, 6, 10),
            received=4,
            accepted=3,
            rejected=1,
            picked_units=9,
            short_units=1,
            shipped=2,
            collected=1,
            expired=1,
            ready=3,
            on_time_ready=2,
            late_ready=1,
            ready_minutes={"30": 2, "60": 1},
            rejected_reasons={"out_of_stock": 1},
        )
    )
    db.session.add(LocationDay(location_id=rome.id, day=date(2025, 6, 11), received=2, accepted=2))
    _, token = create_api_client("bi", ["reports:read"], actor=ACTOR)
    _, other = create_api_client("shop", ["orders:read"], actor=ACTOR)
    db.session.commit()

    def get(query, token=token, **headers):
        return client.get(f"{DAILY}?{query}", headers={"Authorization": f"Bearer {token}", **headers})

    get.other = other
    return get


def test_one_row_per_location_and_day_as_json(head_office):
    response = head_office("from=2025-06-10&to=2025-06-11")
    assert response.status_code == 200
    rows = response.get_json()
    assert [(r["location"], r["date"]) for r in rows] == [
        ("PAR01", "2025-06-10"),
        ("PAR01", "2025-06-11"),
        ("ROM01", "2025-06-10"),
        ("ROM01", "2025-06-11"),
    ]
    paris = rows[0]
    assert (paris["received"], paris["accepted"], paris["rejected"], paris["picked_units"]) == (4, 3, 1, 9)
    assert (paris["short_units"], paris["shipped"], paris["collected"], paris["expired"]) == (1, 2, 1, 1)
    assert (paris["on_time_ready"], paris["late_ready"], paris["fill_rate"]) == (2, 1, 0.9)
    assert (
        paris["median_minutes_to_ready"] == reports.median({"30": 2, "60": 1}) == 41.2
    )  # 1.5 of 3: three quarters into 30-45
    assert paris["rejected_reasons"] == {"out_of_stock": 1}
    assert rows[1]["received"] == 0 and rows[1]["median_minutes_to_ready"] is None
    only_rome = head_office("location=ROM01&from=2025-06-11&to=2025-06-11").get_json()
    assert [(r["location"], r["received"]) for r in only_rome] == [("ROM01", 2)]


def test_the_json_is_what_the_documented_schema_dumps(head_office):
    """The endpoint writes its rows without marshmallow (for speed): they are what DailyRowSchema would write,
    field for field, on days with figures and without."""
    from app.api.reports import DailyRowSchema
    from app.core.models import Location

    response = head_office("from=2025-06-09&to=2025-06-11")
    locations = db.session.scalars(db.select(Location).order_by(Location.code)).all()
    expected = DailyRowSchema(many=True).dump(reports.daily_rows(locations, date(2025, 6, 9), date(2025, 6, 11)))
    assert response.get_json() == expected
    assert set(expected[1]) == set(DailyRowSchema().fields)


def test_csv_in_english_and_in_french(head_office):
    response = head_office("location=PAR01&from=2025-06-10&to=2025-06-10&format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    assert response.data.startswith("\ufeff".encode())
    header, line = csv.reader(io.StringIO(response.data.decode("utf-8-sig")))
    assert header[:3] == ["date", "location", "received"] and "rejected_reasons" not in header
    values = dict(zip(header, line, strict=True))
    assert (values["date"], values["received"], values["fill_rate"]) == ("2025-06-10", "4", "0.9")
    response = head_office("location=PAR01&from=2025-06-10&to=2025-06-10&format=csv", **{"Accept-Language": "fr"})
    header, line = csv.reader(io.StringIO(response.data.decode("utf-8-sig")), delimiter=";")
    values = dict(zip(header, line, strict=True))
    assert values["fill_rate"] == "0,9" and values["median_minutes_to_ready"] == "41,2"


def test_the_scope_is_required(head_office):
    response = head_office("from=2025-06-10&to=2025-06-10", token=head_office.other)
    assert response.status_code == 403 and response.get_json()["error"] == "forbidden"


@pytest.mark.parametrize(
    "query",
    [
        "from=2025-06-11&to=2025-06-10",  # backwards
        "from=2024-01-01&to=2025-06-10",  # more than 366 days
        "from=10-06-2025",  # not ISO 8601
        "from=2025-02-30",  # no such day
        "to=1999-12-31",  # before reports can exist
        "format=xlsx",
    ],
)
def test_bad_dates_and_formats_are_422(head_office, query):
    response = head_office(query)
    assert response.status_code == 422
    assert response.get_json()["error"] == "invalid"


def test_an_unknown_location_is_404(head_office):
    assert head_office("location=NOPE&from=2025-06-10&to=2025-06-10").status_code == 404


def test_366_days_at_once_is_allowed(head_office):
    rows = head_office("location=PAR01&from=2024-06-11&to=2025-06-11").get_json()
    assert len(rows) == 366 and sum(r["received"] for r in rows) == 4


def test_a_day_rolled_up_again_changes_the_answer_and_an_unchanged_one_is_not_modified(head_office):
    """The answers are kept per process, keyed by the updated_at of the rows they are made of: a row written since
    (the worker's rollup) is read again, never served stale; a client that sends the ETag back gets 304."""
    query = "location=PAR01&from=2025-06-10&to=2025-06-10"
    first = head_office(query)
    assert first.get_json()[0]["received"] == 4
    etag = first.headers["ETag"]
    assert head_office(query).get_json() == first.get_json()
    assert head_office(query, **{"If-None-Match": etag}).status_code == 304

    row = db.session.get(
        LocationDay, (db.session.scalar(db.select(Location.id).filter_by(code="PAR01")), date(2025, 6, 10))
    )
    row.received = 5  # onupdate sets updated_at, as the rollup's upsert does
    db.session.commit()
    second = head_office(query)
    assert second.get_json()[0]["received"] == 5
    assert second.headers["ETag"] != etag
    assert head_office(query, **{"If-None-Match": etag}).status_code == 200


def test_csv_answers_are_kept_per_language(head_office):
    query = "location=PAR01&from=2025-06-10&to=2025-06-10&format=csv"
    english = head_office(query, **{"Accept-Language": "en"}).data.decode("utf-8-sig")
    french = head_office(query, **{"Accept-Language": "fr"}).data.decode("utf-8-sig")
    assert english.splitlines()[0].count(",") > 10
    assert french.splitlines()[0].count(";") > 10
    assert head_office(query, **{"Accept-Language": "en"}).data.decode("utf-8-sig") == english
