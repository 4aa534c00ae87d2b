"""KPI pages: a store's figures for its managers (/stores/<code>/reports) and the chain's, store beside store, for
head office (/reports, admins). Each table is also a CSV file (UTF-8 with a BOM for Excel; `;` and a decimal comma
in French and Italian, `,` in English), and each chart has its numbers in a table.

Figures come from the LocationDay rows (app.web.reports_view), never from the raw orders."""

from dataclasses import dataclass, field
from datetime import date, datetime

from babel import dates as babel_dates
from babel import numbers as babel_numbers
from flask import Blueprint, Response, abort, request, url_for
from flask_babel import get_locale, gettext, lazy_gettext
from flask_login import login_required
from sqlalchemy import select

from app import formatting
from app.core.models import Location, Product
from app.core.reports import csv_export
from app.extensions import db
from app.web import charts
from app.web import reports_view as rv
from app.web.helpers import admin_required, manager_required, render, store_route
from app.web.queue import reason_label
from app.web.returns import reason_label as return_reason_label

bp = Blueprint("kpi", __name__)

PERIOD_LABELS = {
    "7d": lazy_gettext("Last 7 days"),
    "30d": lazy_gettext("Last 30 days"),
    "12w": lazy_gettext("Last 12 weeks"),
    "12m": lazy_gettext("Last 12 months"),
    "custom": lazy_gettext("Chosen dates"),
}
GRAIN_LABELS = {"day": lazy_gettext("By day"), "week": lazy_gettext("By week"), "month": lazy_gettext("By month")}
TOP = 15  # products and reasons drawn on a chart (the table and the CSV have them all)


# --------------------------------------------------------------------------- the period asked for


@dataclass
class Choice:
    period: str
    start: date
    end: date
    grain: str
    error: str = ""

    def args(self) -> dict:
        values = {"period": self.period, "grain": self.grain}
        if self.period == "custom":
            values.update({"from": self.start.isoformat(), "to": self.end.isoformat()})
        return values


def choice(today: date) -> Choice:
    """The period and grain from the query string; a custom period that is not one falls back to the default and
    says why."""
    period = request.args.get("period", rv.DEFAULT_PERIOD)
    error = ""
    if period == "custom":
        try:
            start, end = date.fromisoformat(request.args["from"]), date.fromisoformat(request.args["to"])
        except (KeyError, ValueError):
            start = end = None
            error = gettext("Enter both dates of the period.")
        if start and end and start > end:
            error = gettext("The period must end on or after its first day.")
        elif start and end and (end - start).days >= rv.MAX_DAYS:
            error = gettext("Choose a period of at most three years.")
        if not error:
            grain = request.args.get("grain")
            return Choice(period, start, end, grain if grain in rv.GRAINS else rv.DEFAULT_GRAIN[period])
    if period not in rv.PERIODS:
        period = rv.DEFAULT_PERIOD
    start, end = rv.period_bounds(period, today)
    grain = request.args.get("grain")
    return Choice(period, start, end, grain if grain in rv.GRAINS else rv.DEFAULT_GRAIN[period], error)


def today_at(store) -> date:
    return datetime.now(formatting.store_zone(store)).date()


# --------------------------------------------------------------------------- tables: one definition for HTML and CSV


@dataclass
class Column:
    header: str
    kind: str = "int"  # text, period, date, int, rate, minutes


@dataclass
class Table:
    name: str
    caption: str
    columns: list[Column]
    rows: list[list] = field(default_factory=list)
    foot: list | None = None
    grain: str = "day"


def _locale() -> str:
    return str(get_locale() or "en")


def period_label(day: date, grain: str) -> str:
    if grain == "month":
        return babel_dates.format_skeleton("yMMMM", day, locale=_locale())
    if grain == "week":
        return gettext("Week of %(day)s", day=babel_dates.format_date(day, "medium", locale=_locale()))
    return babel_dates.format_date(day, "medium", locale=_locale())


def short_period_label(day: date, grain: str) -> str:
    """On a chart's axis: "3 Mar" for a day or a week's Monday, "Mar 2026" for a month."""
    if grain == "month":
        return babel_dates.format_skeleton("yMMM", day, locale=_locale())
    return babel_dates.format_skeleton("MMMd", day, locale=_locale())


def percent(value: float | None) -> str:
    return "—" if value is None else babel_numbers.format_percent(value, "#,##0.#%", locale=_locale())


def minutes(value: float | None) -> str:
    return "—" if value is None else gettext("%(n)s min", n=formatting.number(round(value)))


def cell(value, kind: str, grain: str) -> str:
    """A value as the page shows it."""
    if kind == "period":
        return period_label(value, grain)
    if kind == "rate":
        return percent(value)
    if kind == "minutes":
        return minutes(value)
    if kind == "int":
        return formatting.number(value)
    return "" if value is None else str(value)


def csv_cell(value, kind: str) -> str:
    """A value in a CSV file: ISO dates, rates in percent and minutes with the reader's decimal separator, no
    grouping (a spreadsheet reads "1234,5", not "1 234,5"); empty when there is nothing to divide by."""
    if value is None:
        return ""
    if kind in ("period", "date"):
        return value.isoformat()
    if kind == "rate":
        return babel_numbers.format_decimal(value * 100, "0.0", locale=_locale())
    if kind == "minutes":
        return babel_numbers.format_decimal(value, "0.#", locale=_locale())
    if kind == "int":
        return str(int(value))
    return str(value)


def csv_header(column: Column) -> str:
    if column.kind == "rate":
        return f"{column.header} (%)"
    if column.kind == "minutes":
        return f"{column.header} (min)"
    return column.header


def orders_table(report: rv.Report) -> Table:
    columns = [
        Column(gettext("Period"), "period"),
        Column(gettext("Received")),
        Column(gettext("Accepted")),
        Column(gettext("Rejected")),
        Column(gettext("Rejection rate"), "rate"),
        Column(gettext("Fill rate"), "rate"),
        Column(gettext("Short-pick rate"), "rate"),
        Column(gettext("On time (ready-by)"), "rate"),
        Column(gettext("On time (promised date)"), "rate"),
        Column(gettext("Order to ready, median"), "minutes"),
        Column(gettext("Order to ready, 90th percentile"), "minutes"),
    ]

    def values(f: rv.Figures) -> list:
        return [
            f.received,
            f.accepted,
            f.rejected,
            f.rejection_rate,
            f.fill_rate,
            f.short_rate,
            f.on_time_rate,
            f.promised_rate,
            f.ready_p50,
            f.ready_p90,
        ]

    return Table(
        "orders",
        gettext("Orders"),
        columns,
        [[day, *values(f)] for day, f in report.series],
        [gettext("Whole period"), *values(report.total)],
        report.grain,
    )


def collect_table(report: rv.Report) -> Table:
    columns = [
        Column(gettext("Period"), "period"),
        Column(gettext("Ready, median"), "minutes"),
        Column(gettext("Ready, 90th percentile"), "minutes"),
        Column(gettext("Collected after, median"), "minutes"),
        Column(gettext("Collected after, 90th percentile"), "minutes"),
        Column(gettext("Collected")),
        Column(gettext("Not collected")),
        Column(gettext("No-show rate"), "rate"),
        Column(gettext("Shipped")),
        Column(gettext("Returns")),
        Column(gettext("Returns rate"), "rate"),
    ]

    def values(f: rv.Figures) -> list:
        return [
            f.collect_ready_p50,
            f.collect_ready_p90,
            f.collection_p50,
            f.collection_p90,
            f.collected,
            f.expired,
            f.no_show_rate,
            f.shipped,
            f.returns,
            f.returns_rate,
        ]

    return Table(
        "collect",
        gettext("Click & collect and returns"),
        columns,
        [[day, *values(f)] for day, f in report.series],
        [gettext("Whole period"), *values(report.total)],
        report.grain,
    )


def breakdown_table(name: str, caption: str, header: str, count_header: str, rows: list) -> Table:
    columns = [Column(header, "text"), Column(count_header), Column(gettext("Share"), "rate")]
    return Table(name, caption, columns, [list(row) for row in rows])


def reasons_table(report: rv.Report) -> Table:
    rows = [(reason_label(key), n, share) for key, n, share in report.total.ranked("rejected_reasons")]
    return breakdown_table("reasons", gettext("Rejections by reason"), gettext("Reason"), gettext("Rejections"), rows)


def returns_table(report: rv.Report) -> Table:
    rows = [(return_reason_label(key), n, share) for key, n, share in report.total.ranked("return_reasons")]
    return breakdown_table("returns", gettext("Returns by reason"), gettext("Reason"), gettext("Returns"), rows)


def shorts_table(report: rv.Report) -> Table:
    ranked = report.total.ranked("short_products")
    products = {}
    if ranked:
        skus = [key for key, _, _ in ranked]
        products = {p.sku: p for p in db.session.scalars(select(Product).where(Product.sku.in_(skus)))}
    columns = [
        Column(gettext("SKU"), "text"),
        Column(gettext("Product"), "text"),
        Column(gettext("Units short")),
        Column(gettext("Share of units short"), "rate"),
    ]
    rows = [
        [sku, formatting.product_name(products[sku]) if sku in products else "", n, share] for sku, n, share in ranked
    ]
    return Table("shorts", gettext("Short picks by product"), columns, rows)


def stores_table(report: rv.Report, stores: list[Location]) -> Table:
    columns = [
        Column(gettext("Store"), "text"),
        Column(gettext("Received")),
        Column(gettext("Acceptance rate"), "rate"),
        Column(gettext("Fill rate"), "rate"),
        Column(gettext("Short-pick rate"), "rate"),
        Column(gettext("On time (ready-by)"), "rate"),
        Column(gettext("On time (promised date)"), "rate"),
        Column(gettext("Order to ready, median"), "minutes"),
        Column(gettext("Order to ready, 90th percentile"), "minutes"),
        Column(gettext("No-show rate"), "rate"),
        Column(gettext("Returns rate"), "rate"),
    ]

    def values(f: rv.Figures) -> list:
        return [
            f.received,
            f.acceptance_rate,
            f.fill_rate,
            f.short_rate,
            f.on_time_rate,
            f.promised_rate,
            f.ready_p50,
            f.ready_p90,
            f.no_show_rate,
            f.returns_rate,
        ]

    rows = [[f"{store.code} {store.name}", *values(report.by_location[store.id])] for store in stores]
    return Table(
        "stores", gettext("Stores side by side"), columns, rows, [gettext("All stores"), *values(report.total)]
    )


# --------------------------------------------------------------------------- charts


def _pct(values):
    return [None if v is None else round(v * 100, 1) for v in values]


def _percent_formatter(value):
    return "" if value is None else babel_numbers.format_decimal(value, "0.#", locale=_locale()) + " %"


def _minutes_formatter(value):
    return "" if value is None else formatting.number(round(value))


def trend_charts(report: rv.Report) -> list[dict]:
    labels = [short_period_label(day, report.grain) for day, _ in report.series]
    figures = [f for _, f in report.series]
    no_data = gettext("No figures for this period")
    received = gettext("Orders received")
    on_time = gettext("On-time rate, in %")
    ready = gettext("Order to ready, in minutes")
    full, dashed = gettext("full line"), gettext("dashed line")
    ready_by = gettext("Ready-by (%(line)s)", line=full)
    promised = gettext("Promised date (%(line)s)", line=dashed)
    median = gettext("Median (%(line)s)", line=full)
    p90 = gettext("90th percentile (%(line)s)", line=dashed)
    return [
        {
            "id": "chart-received",
            "title": received,
            "svg": charts.bars("chart-received", received, labels, [f.received for f in figures], no_data),
        },
        {
            "id": "chart-on-time",
            "title": on_time,
            "legend": [ready_by, promised],
            "svg": charts.lines(
                "chart-on-time",
                on_time,
                labels,
                [(ready_by, _pct(f.on_time_rate for f in figures)), (promised, _pct(f.promised_rate for f in figures))],
                no_data,
                range=(0, 100),
                formatter=_percent_formatter,
            ),
        },
        {
            "id": "chart-ready",
            "title": ready,
            "legend": [median, p90],
            "svg": charts.lines(
                "chart-ready",
                ready,
                labels,
                [(median, [f.ready_p50 for f in figures]), (p90, [f.ready_p90 for f in figures])],
                no_data,
                formatter=_minutes_formatter,
            ),
        },
    ]


def breakdown_chart(chart_id: str, title: str, table: Table, label_column: int, count_column: int) -> dict:
    rows = table.rows[:TOP]
    svg = charts.horizontal_bars(
        chart_id,
        title,
        [str(row[label_column]) for row in rows],
        [row[count_column] for row in rows],
        gettext("Nothing in this period"),
    )
    return {"id": chart_id, "title": title, "svg": svg}


def store_charts(report: rv.Report, stores: list[Location]) -> list[dict]:
    labels = [store.code for store in stores]
    figures = [report.by_location[store.id] for store in stores]
    no_data = gettext("No figures for this period")
    on_time = gettext("On-time rate (ready-by) by store, in %")
    received = gettext("Orders received by store")
    ready = gettext("Order to ready, median, by store, in minutes")
    return [
        {
            "id": "chart-stores-on-time",
            "title": on_time,
            "svg": charts.horizontal_bars(
                "chart-stores-on-time",
                on_time,
                labels,
                _pct(f.on_time_rate for f in figures),
                no_data,
                formatter=_percent_formatter,
            ),
        },
        {
            "id": "chart-stores-received",
            "title": received,
            "svg": charts.horizontal_bars(
                "chart-stores-received", received, labels, [f.received for f in figures], no_data
            ),
        },
        {
            "id": "chart-stores-ready",
            "title": ready,
            "svg": charts.horizontal_bars(
                "chart-stores-ready",
                ready,
                labels,
                [f.ready_p50 for f in figures],
                no_data,
                formatter=_minutes_formatter,
            ),
        },
    ]


# --------------------------------------------------------------------------- CSV


def csv_response(table: Table, filename: str) -> Response:
    """The table as a CSV file Excel opens as it is (app.core.reports.csv_export: UTF-8 with a BOM, `;` for a
    reader whose decimal separator is a comma)."""
    lines = [
        [csv_cell(value, column.kind) for value, column in zip(row, table.columns, strict=True)] for row in table.rows
    ]
    if table.foot:
        lines.append(
            [table.foot[0], *(csv_cell(v, c.kind) for v, c in zip(table.foot[1:], table.columns[1:], strict=True))]
        )
    header = [csv_header(column) for column in table.columns]
    return csv_export.download(csv_export.lines_to_csv(header, lines, str(_locale())), filename)


def _filename(scope: str, table: Table, picked: Choice) -> str:
    return f"{scope}-{table.name}-{picked.start.isoformat()}-{picked.end.isoformat()}-{picked.grain}.csv"


# --------------------------------------------------------------------------- pages


def store_tables(report: rv.Report) -> dict[str, Table]:
    tables = [orders_table(report), collect_table(report), reasons_table(report), shorts_table(report)]
    tables.append(returns_table(report))
    return {table.name: table for table in tables}


def _context(picked: Choice, report: rv.Report) -> dict:
    return {
        "picked": picked,
        "report": report,
        "total": report.total,
        "periods": PERIOD_LABELS,
        "grains": GRAIN_LABELS,
        "cell": cell,
        "percent": percent,
        "minutes": minutes,
        "trend_charts": trend_charts(report),
        "chart_css": url_for("kpi.chart_css"),
        "day_label": lambda day: babel_dates.format_date(day, "long", locale=_locale()),
    }


@bp.get("/stores/<store_code>/reports")
@store_route
@manager_required
def store_reports(store):
    """A store's KPIs for its managers (and head office)."""
    picked = choice(today_at(store))
    report = rv.report([store.id], picked.start, picked.end, picked.grain)
    tables = store_tables(report)
    breakdowns = [
        breakdown_chart("chart-reasons", gettext("Rejections by reason"), tables["reasons"], 0, 1),
        breakdown_chart("chart-shorts", gettext("Units short by product"), tables["shorts"], 0, 2),
        breakdown_chart("chart-returns", gettext("Returns by reason"), tables["returns"], 0, 1),
    ]
    csv_urls = {name: url_for("kpi.store_csv", store_code=store.code, table=name, **picked.args()) for name in tables}
    return render(
        "reports/store.html",
        store=store,
        tables=tables,
        breakdowns=breakdowns,
        csv_urls=csv_urls,
        action=url_for("kpi.store_reports", store_code=store.code),
        status=422 if picked.error else 200,
        **_context(picked, report),
    )


@bp.get("/stores/<store_code>/reports.csv")
@store_route
@manager_required
def store_csv(store):
    """One of the store page's tables as CSV (?table=orders|collect|reasons|shorts|returns and the page's period)."""
    table = request.args.get("table", "")
    picked = choice(today_at(store))
    if picked.error:
        abort(422)
    tables = store_tables(rv.report([store.id], picked.start, picked.end, picked.grain))
    if table not in tables:
        abort(404)
    return csv_response(tables[table], _filename(store.code, tables[table], picked))


def chain_stores() -> list[Location]:
    return list(db.session.scalars(select(Location).order_by(Location.code)))


def chain_tables(report: rv.Report, stores: list[Location]) -> dict[str, Table]:
    tables = [stores_table(report, stores), orders_table(report), collect_table(report), reasons_table(report)]
    return {table.name: table for table in tables}


@bp.get("/reports")
@login_required
@admin_required
def chain_reports():
    """The chain's KPIs, store beside store, for head office."""
    picked = choice(today_at(None))
    stores = chain_stores()
    report = rv.report([s.id for s in stores], picked.start, picked.end, picked.grain)
    tables = chain_tables(report, stores)
    csv_urls = {name: url_for("kpi.chain_csv", table=name, **picked.args()) for name in tables}
    return render(
        "reports/chain.html",
        tables=tables,
        store_charts=store_charts(report, stores),
        breakdowns=[breakdown_chart("chart-reasons", gettext("Rejections by reason"), tables["reasons"], 0, 1)],
        csv_urls=csv_urls,
        stores=stores,
        action=url_for("kpi.chain_reports"),
        status=422 if picked.error else 200,
        **_context(picked, report),
    )


@bp.get("/reports.csv")
@login_required
@admin_required
def chain_csv():
    """One of the chain page's tables as CSV (?table=stores|orders|collect|reasons and the page's period)."""
    table = request.args.get("table", "")
    picked = choice(today_at(None))
    if picked.error:
        abort(422)
    stores = chain_stores()
    tables = chain_tables(rv.report([s.id for s in stores], picked.start, picked.end, picked.grain), stores)
    if table not in tables:
        abort(404)
    return csv_response(tables[table], _filename("chain", tables[table], picked))


@bp.get("/reports/charts.css")
def chart_css():
    """pygal's chart style for our charts (app.web.charts): a stylesheet, since the CSP refuses inline styles."""
    response = Response(charts.chart_css(), mimetype="text/css")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response
