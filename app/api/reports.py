"""Reports through the API: a store's days in figures, as JSON or CSV (scope reports:read).

The answer is read from the rolled-up days (app.core.reports: LocationDay), which `flask worker` keeps up to date
(today's row at most about a minute behind the floor); nothing is recomputed from the raw rows per request, so a
year of a chain costs the same whatever its history. `updated_at`-fresh rows for a past range can be rebuilt with
`flask reports rollup`.
"""

import hashlib
import threading
from collections import OrderedDict
from datetime import UTC, date, datetime, timedelta

from flask import current_app, jsonify, request
from flask.views import MethodView
from flask_babel import get_locale, gettext, ngettext
from marshmallow import Schema, ValidationError, fields, validate, validates_schema
from sqlalchemy import select

from app.api import api_blueprint, require_scope
from app.api.schemas import ApiErrorSchema
from app.core import reports
from app.core.errors import N_, NotFound
from app.core.models import Location
from app.core.models.reports import LocationDay
from app.core.reports.csv_export import csv_response
from app.extensions import db

blp = api_blueprint("api_reports", "/api/v1/reports", "Reports: a store's days in figures")
MAX_DAYS = 366
EARLIEST, LATEST = date(2000, 1, 1), date(2100, 12, 31)
DEFAULT_DAYS = 7


class DailyQuerySchema(Schema):
    location = fields.String(
        validate=validate.Length(min=1, max=16),
        metadata={"description": "A location's code; every location when left out"},
    )
    from_ = fields.Date(
        data_key="from",
        validate=validate.Range(min=EARLIEST, max=LATEST),
        metadata={"description": "First day (the store's local calendar day), ISO 8601; `to` - 6 days by default"},
    )
    to = fields.Date(
        validate=validate.Range(min=EARLIEST, max=LATEST),
        metadata={"description": "Last day, included; `from` + 6 days, or else today (UTC), by default"},
    )
    format = fields.String(
        load_default="json",
        validate=validate.OneOf(["json", "csv"]),
        metadata={
            "description": "json, or csv: UTF-8 with a byte order mark, machine column names; `;` and a decimal "
            "comma when the request's Accept-Language is French or Italian, `,` and a point otherwise"
        },
    )

    @validates_schema
    def _range(self, data, **kwargs):
        first, last = data.get("from_"), data.get("to")
        if first and last and first > last:
            raise ValidationError({"from": [gettext("Must be on or before to.")]})
        if first and last and (last - first).days + 1 > MAX_DAYS:
            raise ValidationError(
                {"to": [ngettext("At most %(num)d day at once.", "At most %(num)d days at once.", MAX_DAYS)]}
            )


_COUNT = fields.Integer
_RATE = {"allow_none": True, "metadata": {"description": "A fraction from 0 to 1; null when nothing to divide by"}}
_MINUTES = {"allow_none": True, "metadata": {"description": "Minutes, from the day's histogram (null: none)"}}
_BREAKDOWN = {"keys": fields.String(), "values": fields.Integer()}


class DailyRowSchema(Schema):
    date = fields.Date(metadata={"description": "The store's local calendar day"})
    location = fields.String()
    received = _COUNT(metadata={"description": "Fulfilments given to the store that day"})
    ordered_units = _COUNT()
    accepted = _COUNT()
    rejected = _COUNT()
    acceptance_rate = fields.Float(**_RATE)
    rejection_rate = fields.Float(**_RATE)
    picked_lines = _COUNT()
    picked_units = _COUNT()
    short_units = _COUNT()
    fill_rate = fields.Float(**_RATE)
    short_pick_rate = fields.Float(**_RATE)
    ready = _COUNT(metadata={"description": "Packed (ship) or on the hold shelf (click & collect) that day"})
    on_time_ready = _COUNT(metadata={"description": "Ready at or before the fulfilment's ready-by"})
    late_ready = _COUNT()
    on_time_rate = fields.Float(**_RATE)
    median_minutes_to_ready = fields.Float(**_MINUTES)
    p90_minutes_to_ready = fields.Float(**_MINUTES)
    promised = _COUNT(metadata={"description": "Orders with a promised date that left the store that day"})
    on_time_promised = _COUNT()
    promised_on_time_rate = fields.Float(**_RATE)
    shipped = _COUNT()
    collected = _COUNT()
    expired = _COUNT(metadata={"description": "Click & collect holds that ran out (no-shows)"})
    no_show_rate = fields.Float(**_RATE)
    median_minutes_collect_to_ready = fields.Float(**_MINUTES)
    p90_minutes_collect_to_ready = fields.Float(**_MINUTES)
    median_minutes_to_collection = fields.Float(**_MINUTES)
    p90_minutes_to_collection = fields.Float(**_MINUTES)
    returns = _COUNT()
    returned_units = _COUNT()
    returns_rate = fields.Float(**_RATE)
    rejected_reasons = fields.Dict(**_BREAKDOWN, metadata={"description": "{reason: fulfilments}"})
    short_products = fields.Dict(**_BREAKDOWN, metadata={"description": "{sku: units short}"})
    return_reasons = fields.Dict(**_BREAKDOWN, metadata={"description": "{reason: units}"})


CSV_CONTENT = {"text/csv": {"schema": {"type": "string"}}}


def _converter(field):
    if isinstance(field, fields.Date):
        return lambda value: value.isoformat()
    if isinstance(field, fields.Float):
        return float
    if isinstance(field, fields.Integer):
        return int
    if isinstance(field, fields.Dict):
        return lambda value: {str(k): int(v) for k, v in value.items()}
    return str


# (key, converter) of every field of DailyRowSchema, in its order.
_ROW_FIELDS = [(field.data_key or name, name, _converter(field)) for name, field in DailyRowSchema().fields.items()]


def dump_rows(rows: list[dict]) -> list[dict]:
    """The rows as DailyRowSchema(many=True).dump writes them (the test checks they are the same), without
    marshmallow's per-field machinery: a year of a store is 366 rows x 36 fields, a third of the request's time."""
    return [
        {key: (None if row.get(name) is None else convert(row[name])) for key, name, convert in _ROW_FIELDS}
        for row in rows
    ]


CACHE_SIZE = 16
"""Answers kept per process (config DAILY_REPORT_CACHE_SIZE; 0: none): a year of a store is about 330 kB."""


class AnswerCache:
    """The last few answers, keyed by what was asked and by the `updated_at` of every LocationDay row in the range:
    the worker's rollup (and `flask reports rollup`) sets updated_at on each row it writes, so a row written since
    changes the key and the answer is computed again; nothing stale is served. Thread-safe (gthread workers)."""

    def __init__(self, size: int):
        self.size = size
        self._answers: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key):
        with self._lock:
            answer = self._answers.get(key)
            if answer is not None:
                self._answers.move_to_end(key)
            return answer

    def put(self, key, answer) -> None:
        with self._lock:
            self._answers[key] = answer
            self._answers.move_to_end(key)
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)


def _cache() -> AnswerCache | None:
    size = current_app.config.get("DAILY_REPORT_CACHE_SIZE", CACHE_SIZE)
    if not size:
        return None
    cache = current_app.extensions.get("daily_report_cache")
    if cache is None or cache.size != size:
        cache = current_app.extensions["daily_report_cache"] = AnswerCache(size)
    return cache


def _versions(locations, first: date, last: date) -> tuple:
    """(location id, day, updated_at) of every rolled-up row of the range: what the answer is made of."""
    return tuple(
        tuple(row)
        for row in db.session.execute(
            select(LocationDay.location_id, LocationDay.day, LocationDay.updated_at)
            .where(
                LocationDay.location_id.in_([location.id for location in locations]),
                LocationDay.day >= first,
                LocationDay.day <= last,
            )
            .order_by(LocationDay.location_id, LocationDay.day)
        ).all()
    )


def _answer(locations, first: date, last: date, form: str):
    rows = reports.daily_rows(locations, first, last, histograms=False)
    if form == "csv":
        language = str(get_locale() or "en") if request else "en"
        return csv_response(rows, list(reports.CSV_FIELDS), f"daily-{first}-{last}.csv", language)
    return jsonify(dump_rows(rows))  # a Response: flask-smorest sends it as is (the schema documents it)


@blp.route("/daily")
class Daily(MethodView):
    @require_scope("reports:read")
    @blp.arguments(DailyQuerySchema, location="query")
    @blp.response(200, DailyRowSchema(many=True))
    @blp.doc(responses={200: {"content": CSV_CONTENT}})
    @blp.alt_response(404, schema=ApiErrorSchema)
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """One row per location and day (the store's local calendar day), from `from` to `to` included.

        At most 366 days at once. Counts of a day without activity are 0 and its rates and minutes null. Figures
        come from the rolled-up days, which the worker keeps up to date (today's at most about a minute behind).
        `format=csv` answers the same rows as text/csv (the breakdowns `rejected_reasons`, `short_products` and
        `return_reasons` are left out: JSON only).
        """
        week = timedelta(days=DEFAULT_DAYS - 1)
        first, last = query.get("from_"), query.get("to")
        if last is None:
            last = first + week if first is not None else _today()
        if first is None:
            first = last - week
        statement = select(Location).order_by(Location.code)
        if query.get("location"):
            statement = statement.where(Location.code == query["location"])
        locations = db.session.scalars(statement).all()
        if query.get("location") and not locations:
            raise NotFound(N_("Unknown location."))
        form = query["format"]
        cache = _cache()
        if cache is None:
            return _answer(locations, first, last, form)
        language = (str(get_locale() or "en") if request else "en") if form == "csv" else ""
        asked = (tuple((location.id, location.code) for location in locations), first, last, form, language)
        key = (asked, _versions(locations, first, last))
        kept = cache.get(key)
        if kept is None:
            response = _answer(locations, first, last, form)
            etag = hashlib.sha256(repr(key).encode()).hexdigest()[:32]  # the same in every worker
            kept = (response.get_data(), list(response.headers.items()), etag)
            cache.put(key, kept)
        body, headers, etag = kept
        response = current_app.response_class(body, headers=headers)
        response.set_etag(etag)
        return response.make_conditional(request)


def _today() -> date:
    return datetime.now(UTC).date()
