"""The KPI pages (app.web.kpi) on hand-built LocationDay rows with known answers: rates, percentiles from merged
histograms, week and month grains in store time (across the spring DST change), who may see what, and the CSV files
read back with the csv module in English and French."""

import csv
import io
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from flask_babel import force_locale, gettext

from app.core.models.reports import LocationDay
from app.extensions import db
from app.web import reports_view as rv
from tests.conftest import login
from tests.factories import PASSWORD, make_location, make_product, make_user

# Europe/Paris moves its clocks forward on Sunday 29 March 2026: the week of Monday 23 March ends that day.
FRI, SUN_DST, MON, APR_1 = date(2026, 3, 27), date(2026, 3, 29), date(2026, 3, 30), date(2026, 4, 1)


def day_row(store, day, **values) -> LocationDay:
    row = LocationDay(location_id=store.id, day=day, **values)
    db.session.add(row)
    return row


@pytest.fixture
def history(app):
    """Two stores; Paris has four days with known figures, Milan one."""
    paris = make_location(code="PAR9", name="Paris Opéra", timezone="Europe/Paris")
    milan = make_location(code="MIL9", name="Milano Duomo", timezone="Europe/Rome")
    product = make_product(sku="SKU-SOCK", name="Chaussettes")
    day_row(
        paris,
        FRI,
        received=10,
        accepted=8,
        rejected=2,
        rejected_reasons={"out_of_stock": 2},
        picked_units=18,
        short_units=2,
        short_products={"SKU-SOCK": 2},
        ordered_units=20,
        ready=8,
        on_time_ready=6,
        late_ready=2,
        ready_minutes={"30": 4, "60": 3, "240": 1},
        promised=5,
        on_time_promised=4,
        shipped=5,
        collected=3,
        expired=1,
        collect_ready_minutes={"45": 2, "90": 1},
        collection_minutes={"120": 2, "1440": 1},
        returns=1,
        returned_units=1,
        return_reasons={"too_small": 1},
    )
    day_row(
        paris,
        SUN_DST,
        received=6,
        accepted=5,
        rejected=1,
        rejected_reasons={"damaged": 1},
        picked_units=9,
        short_units=1,
        short_products={"SKU-OTHER": 1},
        ordered_units=10,
        on_time_ready=4,
        late_ready=0,
        ready_minutes={"60": 2, "120": 2},
        shipped=3,
        collected=1,
        expired=1,
    )
    day_row(paris, MON, received=4, accepted=4, ordered_units=4, picked_units=4, on_time_ready=3, late_ready=1)
    day_row(paris, APR_1, received=2, accepted=1, rejected=1, rejected_reasons={"out_of_stock": 1})
    day_row(milan, MON, received=7, accepted=7, on_time_ready=7, ready_minutes={"15": 7}, shipped=7)
    manager = make_user(stores=[paris], role="manager", language="en")
    associate = make_user(stores=[paris], role="associate")
    milan_manager = make_user(stores=[milan], role="manager")
    admin = make_user(role="admin", language="en")
    db.session.commit()
    return {
        "paris": paris,
        "milan": milan,
        "product": product,
        "manager": manager,
        "associate": associate,
        "milan_manager": milan_manager,
        "admin": admin,
    }


# --------------------------------------------------------------------------- the figures


def test_percentiles_read_the_merged_histograms_as_the_rollup_writes_them():
    merged = rv.merge({"30": 4, "60": 3}, {"240": 1}, None)
    assert merged == {"30": 4, "60": 3, "240": 1}
    # 8 orders; keys are the buckets' lower edges (30-45, 60-90, 240-360 minutes), ranks interpolated within them.
    assert rv.percentile(merged, 50) == 45  # the 4th of 8: the end of the 30-45 bucket
    assert rv.percentile(merged, 75) == 80  # rank 6: 2 of the 3 in 60-90
    assert rv.percentile(merged, 100) == 360
    assert rv.percentile({"5": 1}, 90) == 9.5  # 0.9 of the way through 5-10
    assert rv.percentile({}, 50) is None
    assert rv.percentile({"10": 0}, 50) is None


def test_rates_over_a_period_add_the_days_then_divide(history):
    report = rv.report([history["paris"].id], FRI, APR_1, "day")
    total = report.total
    assert (total.received, total.accepted, total.rejected) == (22, 18, 4)
    assert total.acceptance_rate == pytest.approx(18 / 22)
    assert total.rejection_rate == pytest.approx(4 / 22)
    assert total.fill_rate == pytest.approx(31 / 34)  # picked 18+9+4 of 20+10+4 ordered
    assert total.short_rate == pytest.approx(3 / 34)  # 3 short of 31 picked + 3 short
    assert total.on_time_rate == pytest.approx(13 / 16)
    assert total.promised_rate == pytest.approx(4 / 5)
    assert total.no_show_rate == pytest.approx(2 / 6)  # expired 2, collected 4
    assert total.returns_rate == pytest.approx(1 / 12)  # 1 return, 8 shipped + 4 collected
    # ready minutes merged: 30x4, 60x5, 120x2, 240x1 (12 orders), interpolated within the buckets (30-45, 60-90,
    # 120-180...): p50 = rank 6 = 60 + 2/5 x 30 = 72; p90 = rank 10.8 = 120 + 1.8/2 x 60 = 174
    assert (total.ready_p50, total.ready_p90) == (72, 174)
    assert (total.collect_ready_p50, total.collect_ready_p90) == (56.2, 111)  # 45 + 1.5/2 x 15; 90 + 0.7 x 30
    assert (total.collection_p50, total.collection_p90) == (165, 2448)  # 120 + 1.5/2 x 60; 1440 + 0.7 x 1440
    assert total.ranked("rejected_reasons") == [("out_of_stock", 3, 0.75), ("damaged", 1, 0.25)]
    assert [key for key, _, _ in total.ranked("short_products")] == ["SKU-SOCK", "SKU-OTHER"]
    days = dict(report.series)
    assert len(days) == 6 and days[date(2026, 3, 28)].received == 0  # empty days are kept (gaps on the chart)
    assert days[date(2026, 3, 28)].fill_rate is None  # nothing to divide by


def test_weeks_start_on_monday_and_months_on_the_first_in_store_days(history):
    weeks = dict(rv.report([history["paris"].id], date(2026, 3, 23), date(2026, 4, 5), "week").series)
    assert list(weeks) == [date(2026, 3, 23), date(2026, 3, 30)]
    assert weeks[date(2026, 3, 23)].received == 16  # Friday and the DST Sunday
    assert weeks[date(2026, 3, 30)].received == 6  # Monday and 1 April
    assert weeks[date(2026, 3, 23)].ready_p90 == 174
    months = dict(rv.report([history["paris"].id], date(2026, 3, 1), date(2026, 4, 30), "month").series)
    assert list(months) == [date(2026, 3, 1), date(2026, 4, 1)]
    assert (months[date(2026, 3, 1)].received, months[date(2026, 4, 1)].received) == (20, 2)
    assert months[date(2026, 4, 1)].rejection_rate == pytest.approx(0.5)


def test_named_periods_end_on_the_stores_own_today(app, client):
    # At any instant these two stores are on different calendar days (UTC+14 and UTC-11).
    east = make_location(timezone="Pacific/Kiritimati")
    west = make_location(timezone="Pacific/Pago_Pago")
    admin = make_user(role="admin", language="en")
    for store in (east, west):
        today = datetime.now(ZoneInfo(store.timezone)).date()
        day_row(store, today, received=3)
        day_row(store, today - timedelta(days=6), received=5)
        day_row(store, today - timedelta(days=7), received=100)  # one day too old for the last 7 days
        day_row(store, today + timedelta(days=1), received=1000)  # not yet (cannot exist; shows the end is today)
    db.session.commit()
    login(client, admin.email, PASSWORD)
    for store in (east, west):
        body = client.get(f"/stores/{store.code}/reports?period=7d").get_data(as_text=True)
        tile = re.search(r"<dt>Orders received</dt><dd>([^<]+)</dd>", body).group(1)
        assert tile == "8", store.timezone
    assert rv.period_bounds("12w", date(2026, 4, 1)) == (date(2026, 1, 12), date(2026, 4, 1))
    assert rv.period_bounds("12m", date(2026, 4, 1)) == (date(2025, 5, 1), date(2026, 4, 1))


# --------------------------------------------------------------------------- the pages


def test_store_page_draws_its_charts_with_their_numbers_in_tables(history, client):
    login(client, history["manager"].email, PASSWORD)
    response = client.get("/stores/PAR9/reports?period=custom&from=2026-03-23&to=2026-04-05&grain=week")
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    for chart in ("chart-received", "chart-on-time", "chart-ready", "chart-reasons", "chart-shorts", "chart-returns"):
        svg = re.search(rf'<svg [^>]*id="{chart}"[^>]*>', body)
        assert svg and 'role="img"' in svg.group(0) and "aria-label=" in svg.group(0), chart
    assert "<script" not in body.split("<main", 1)[1]  # pygal's own script is taken out (the CSP refuses it)
    assert "<style" not in body and 'style="' not in body
    for table in ("orders", "collect", "reasons", "shorts", "returns"):
        assert f'id="table-{table}"' in body
    assert "Week of Mar 23, 2026" in body and "Week of Mar 30, 2026" in body
    assert "Chaussettes" in body  # the short product's name beside its SKU
    assert "Out of stock" in body and "Too small" in body  # reasons in words
    assert "81.2%" in body  # on time (ready-by): 13 of 16
    assert body.count("Download CSV") == 5
    css = client.get("/reports/charts.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and ".kpi-chart" in css.get_data(as_text=True)


def test_a_period_that_is_not_one_says_so(history, client):
    login(client, history["manager"].email, PASSWORD)
    response = client.get("/stores/PAR9/reports?period=custom&from=2026-04-05&to=2026-03-23")
    assert response.status_code == 422
    assert "The period must end on or after its first day." in response.get_data(as_text=True)


def test_chain_page_compares_every_store(history, client):
    login(client, history["admin"].email, PASSWORD)
    body = client.get("/reports?period=custom&from=2026-03-23&to=2026-04-05").get_data(as_text=True)
    for chart in ("chart-stores-on-time", "chart-stores-received", "chart-stores-ready"):
        assert f'id="{chart}"' in body
    table = body.split('id="table-stores"', 1)[1].split("</table>", 1)[0]
    assert "PAR9 Paris Opéra" in table and "MIL9 Milano Duomo" in table
    assert "All stores" in table


def test_who_may_see_the_reports(history, client):
    paris_url, milan_url = "/stores/PAR9/reports", "/stores/MIL9/reports"
    login(client, history["associate"].email, PASSWORD)
    assert client.get(paris_url).status_code == 403
    assert client.get(paris_url + ".csv?table=orders").status_code == 403
    assert client.get("/reports").status_code == 403
    client.post("/logout")
    login(client, history["manager"].email, PASSWORD)
    assert client.get(paris_url).status_code == 200
    refused = client.get(milan_url)
    assert refused.status_code == 403 and "Milano" not in refused.get_data(as_text=True)
    assert client.get(milan_url + ".csv?table=orders").status_code == 403
    assert client.get("/reports").status_code == 403
    assert client.get("/reports.csv?table=stores").status_code == 403
    queue = client.get("/stores/PAR9/queue").get_data(as_text=True)
    assert 'href="/stores/PAR9/reports"' in queue  # linked from the manager's queue
    client.post("/logout")
    login(client, history["admin"].email, PASSWORD)
    assert client.get(paris_url).status_code == 200
    assert client.get(milan_url).status_code == 200
    assert client.get("/reports").status_code == 200
    assert 'href="/reports"' in client.get("/admin/sourcing").get_data(as_text=True)  # in the admin navigation


# --------------------------------------------------------------------------- CSV


def read_csv(response, delimiter: str) -> list[list[str]]:
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    raw = response.get_data()
    assert raw.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM: Excel then reads the accents right
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline=""), delimiter=delimiter))


QUERY = "period=custom&from=2026-03-23&to=2026-04-05&grain=week"


def test_csv_in_english_uses_commas_and_points(history, client):
    login(client, history["manager"].email, PASSWORD)
    rows = read_csv(client.get(f"/stores/PAR9/reports.csv?table=orders&{QUERY}"), ",")
    header = rows[0]
    assert header[:4] == ["Period", "Received", "Accepted", "Rejected"]
    assert "On time (ready-by) (%)" in header and "Order to ready, median (min)" in header
    by_period = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    first = by_period["2026-03-23"]
    assert first["Received"] == "16"
    assert first["Rejection rate (%)"] == "18.8"  # 3 of 16 decided
    assert first["On time (ready-by) (%)"] == "83.3"  # 10 of 12
    assert first["Order to ready, 90th percentile (min)"] == "174"
    assert by_period["2026-03-30"]["Fill rate (%)"] == "100.0"
    assert by_period["2026-03-30"]["On time (promised date) (%)"] == ""  # nothing promised that week
    assert by_period["Whole period"]["Received"] == "22"
    shorts = read_csv(client.get(f"/stores/PAR9/reports.csv?table=shorts&{QUERY}"), ",")
    assert shorts[1] == ["SKU-SOCK", "Chaussettes", "2", "66.7"]


def french(msgid: str) -> str:
    """The French header the page writes (the French catalogue's, once app/translations has these msgids)."""
    with force_locale("fr"):
        return gettext(msgid)


def test_csv_in_french_uses_semicolons_decimal_commas_and_french_headers(history, client):
    login(client, history["manager"].email, PASSWORD)
    history["manager"].language = "fr"
    db.session.commit()
    rows = read_csv(client.get(f"/stores/PAR9/reports.csv?table=orders&{QUERY}"), ";")
    header = rows[0]
    assert header[:2] == [french("Period"), french("Received")]
    by_period = {row[0]: dict(zip(header, row, strict=True)) for row in rows[1:]}
    assert by_period["2026-03-23"][french("Rejection rate") + " (%)"] == "18,8"
    assert by_period[french("Whole period")][french("Received")] == "22"
    reasons = read_csv(client.get(f"/stores/PAR9/reports.csv?table=reasons&{QUERY}"), ";")
    assert reasons[0] == [french("Reason"), french("Rejections"), french("Share") + " (%)"]
    assert reasons[1] == [french("Out of stock"), "3", "75,0"]
    login_admin = history["admin"]
    login_admin.language = "fr"
    db.session.commit()
    client.post("/logout")
    login(client, login_admin.email, PASSWORD)
    stores = read_csv(client.get(f"/reports.csv?table=stores&{QUERY}"), ";")
    assert stores[0][0] == french("Store")
    assert [row[0] for row in stores[1:]] == ["MIL9 Milano Duomo", "PAR9 Paris Opéra", french("All stores")]
    assert stores[1][1] == "7"
