"""Availability for the web shop: what each location can promise, and stores nearby.

Both reads answer from one SQL query with JSON built directly, and keep what they read for a short time (see
init_cache; availability per product, nearby stores per question): a web shop polls the same products over and over, and a second-old figure is good enough to show,
because orders reserve on the stock rows themselves, under a lock, never on these figures.
"""

import hashlib
import json
import logging
import os

from flask import Response, current_app
from flask.views import MethodView
from sqlalchemy import select

from app.api import api_blueprint, require_scope
from app.api.schemas import (
    ApiErrorSchema,
    AvailabilityQuerySchema,
    AvailabilityRowSchema,
    NearbyQuerySchema,
    NearbyRowSchema,
    RecommendationQuerySchema,
    RecommendationSchema,
)
from app.config import ConfigError
from app.core.errors import N_, InvalidInput
from app.core.inventory import availability as core
from app.core.models import Location, Product
from app.extensions import availability_cache, db

log = logging.getLogger(__name__)
blp = api_blueprint("api_availability", "/api/v1/availability", "Availability to promise")
MAX_CODES = 200
# Entries one process keeps at most without Redis: one per product asked in the last AVAILABILITY_CACHE_SECONDS
# (per channel and set of locations), at most some 15 KB each on a chain of 200 locations. Past it every write
# prunes (a scan, then a sort): kept well above what a busy shop asks in a second.
CACHE_THRESHOLD = 10_000


def init_cache(state) -> None:
    """Set up the availability cache for the application the API is registered on (once per application).

    AVAILABILITY_CACHE_SECONDS (default 1, whole seconds; 0 turns the cache off) bounds how old an answer may be;
    AVAILABILITY_CACHE_URL (redis://...) shares the cache between processes, otherwise each process keeps its own.
    Both are read from the application config, else the environment."""
    app = state.app
    for name, default in (("AVAILABILITY_CACHE_SECONDS", "1"), ("AVAILABILITY_CACHE_URL", "")):
        app.config.setdefault(name, os.environ.get(name, default))
    seconds = app.config["AVAILABILITY_CACHE_SECONDS"]
    if isinstance(seconds, bool) or not str(seconds).strip().isdigit():
        raise ConfigError("AVAILABILITY_CACHE_SECONDS must be a whole number of seconds, 0 or more")
    seconds = app.config["AVAILABILITY_CACHE_SECONDS"] = int(str(seconds).strip())
    url = app.config["AVAILABILITY_CACHE_URL"]
    config = {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": CACHE_THRESHOLD, "CACHE_DEFAULT_TIMEOUT": max(seconds, 1)}
    if url:
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise ConfigError("AVAILABILITY_CACHE_URL must be a Redis URL (redis://, rediss:// or unix://)")
        # A Redis that does not answer slows reads by at most these timeouts; they are then served from the database.
        options = {"socket_timeout": 0.25, "socket_connect_timeout": 0.25}
        config.update(CACHE_TYPE="RedisCache", CACHE_REDIS_URL=url, CACHE_OPTIONS=options)
    config["CACHE_KEY_PREFIX"] = app.config.setdefault("AVAILABILITY_CACHE_KEY_PREFIX", "comptoir:availability:")
    availability_cache.init_app(app, config=config)


blp.record_once(init_cache)


def _json(rows: list[dict]):
    """The answer as jsonify would write it (same bytes), without a marshmallow pass over every row."""
    return current_app.json.dumps(rows, separators=(",", ":")) + "\n"


def _cached(question: tuple, answer) -> Response:
    """The JSON answer to `question`, from the cache when it was answered less than AVAILABILITY_CACHE_SECONDS ago.

    `answer()` builds the JSON text; what it raises (unknown codes) is never cached. A cache that fails (Redis
    down) is logged and the answer comes from the database."""
    seconds = current_app.config["AVAILABILITY_CACHE_SECONDS"]
    body = None
    if seconds:
        key = hashlib.blake2b(json.dumps(question).encode(), digest_size=16).hexdigest()
        try:
            body = availability_cache.get(key)
        except Exception:  # the cache only saves work; it must never fail a read
            log.warning("availability cache unavailable, answering from the database", exc_info=True)
    if body is None:
        body = answer()
        if seconds:
            try:
                availability_cache.set(key, body, timeout=seconds)
            except Exception:
                log.warning("availability cache unavailable, answer not kept", exc_info=True)
    return current_app.response_class(body, mimetype=current_app.json.mimetype)


def _codes(text: str | None) -> list[str]:
    codes = [c.strip() for c in (text or "").split(",") if c.strip()]
    if len(codes) > MAX_CODES:
        raise InvalidInput(N_("Too many codes in one request."), fields={"skus": "too_many"})
    return codes


@blp.route("")
class Availability(MethodView):
    @require_scope("stock:read")
    @blp.arguments(AvailabilityQuerySchema(), location="query")
    @blp.response(200, AvailabilityRowSchema(many=True))
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Units each location can promise for each SKU, after reservations, safety stock and channel buffer.

        One row per SKU and location (every active location when none is named), sorted by location then SKU;
        0 where the location has none. Unknown SKUs or locations answer 422, each named in `fields`.

        Answers may be up to 1 second old by default (the server's `AVAILABILITY_CACHE_SECONDS`; 0: always fresh):
        a product asked again within that time (same channel, same locations) gets the same figures, whatever else
        is asked with it. Orders never rely on these figures: they reserve on the stock rows themselves, under a
        lock, so a stale answer cannot oversell.
        """
        body = _availability(_codes(query["skus"]), _codes(query.get("locations")), query.get("channel") or None)
        return current_app.response_class(body, mimetype=current_app.json.mimetype)


def _availability(skus: list[str], codes: list[str], channel: str | None) -> str:
    """The JSON answer of GET /api/v1/availability: rows sorted by location then SKU.

    Cached per product, not per question: a web shop asks for random sets of products, which an answer-wide key
    would almost never meet again, while each product is asked over and over. One entry per SKU for the question's
    scope (the channel and the named locations, or every active location) holds the product's JSON rows at each
    location of that scope; the products the cache does not hold are read in one query and kept (so at most
    AVAILABILITY_CACHE_SECONDS old). An entry exists only for codes that were all known, so an unknown SKU or
    location is always looked up, and answers its 422 naming each code; errors are never cached."""
    wanted, named = sorted(set(skus)), sorted(set(codes))
    seconds = current_app.config["AVAILABILITY_CACHE_SECONDS"]
    if not seconds or not wanted:
        return _rows_json(*_promise(wanted, named, channel))
    scope = hashlib.blake2b(json.dumps([channel, named]).encode(), digest_size=12).hexdigest()
    keys = [f"{scope}:{sku}" for sku in wanted]
    try:
        entries = availability_cache.get_many(*keys)
    except Exception:  # the cache only saves work; it must never fail a read
        log.warning("availability cache unavailable, answering from the database", exc_info=True)
        entries = [None] * len(keys)
    missing = [sku for sku, entry in zip(wanted, entries, strict=True) if entry is None]
    if missing:
        locations, fresh = _promise(missing, named, channel)
        try:
            availability_cache.set_many(
                {f"{scope}:{sku}": (locations, rows) for sku, rows in fresh.items()}, timeout=seconds
            )
        except Exception:
            log.warning("availability cache unavailable, answer not kept", exc_info=True)
        fresh = iter(fresh.values())
        entries = [(locations, next(fresh)) if entry is None else entry for entry in entries]
    locations = entries[0][0] if entries else ()
    if any(entry[0] != locations for entry in entries):
        # The active locations changed while these entries were cached (within the cache time): read all again.
        return _rows_json(*_promise(wanted, named, channel))
    return _rows_json(locations, {sku: entry[1] for sku, entry in zip(wanted, entries, strict=True)})


def _promise(skus: list[str], named: list[str], channel: str | None) -> tuple[tuple[str, ...], dict[str, str]]:
    """(the location codes in order, {sku: its JSON rows at each of them, one a line}) for SKUs sorted, read in one
    query; InvalidInput naming every unknown code."""
    promise = core.promise_by_product(skus, named, channel)
    if promise.unknown:
        fields = {f"{kind}:{code}": "unknown" for code, kind in promise.unknown.items()}
        raise InvalidInput(N_("Unknown codes."), fields=fields)
    dumps = current_app.json.dumps
    locations = [dumps(code) for code in promise.locations]
    rows = {}
    for sku in skus:
        sku_json = dumps(sku)
        # The bytes jsonify writes for {"available": n, "location": code, "sku": sku} (sorted keys, compact).
        rows[sku] = "\n".join(
            f'{{"available":{n},"location":{code},"sku":{sku_json}}}'
            for code, n in zip(locations, promise.units[sku], strict=True)
        )
    return tuple(promise.locations), rows


def _rows_json(locations: tuple[str, ...], rows: dict[str, str]) -> str:
    """The answer from each SKU's rows (in SKU order, one per location): sorted by location, then SKU. JSON text
    holds no raw newline, so a newline parts a product's rows."""
    if not locations or not rows:
        return "[]\n"
    per_product = [text.split("\n") for text in rows.values()]
    return "[" + ",".join([row for at_location in zip(*per_product, strict=True) for row in at_location]) + "]\n"


@blp.route("/nearby")
class Nearby(MethodView):
    @require_scope("stock:read")
    @blp.arguments(NearbyQuerySchema, location="query")
    @blp.response(200, NearbyRowSchema(many=True))
    @blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Stores within a radius that have the product, nearest first.

        Only active stores with coordinates that can promise at least one unit; `distance_km` is rounded to 0.1 km.
        Like `GET /api/v1/availability`, answers may be up to 1 second old (`AVAILABILITY_CACHE_SECONDS`).
        """
        sku, lat, lon, radius = query["sku"], query["latitude"], query["longitude"], query["radius_km"]
        channel = query.get("channel")

        def answer():
            rows = core.nearby_stores(sku, lat, lon, radius, channel)
            if rows is None:
                raise InvalidInput(N_("Unknown product code."), fields={"sku": "unknown"})
            return _json(
                [
                    {"available": n, "city": city, "distance_km": round(d, 1), "location": code, "name": name}
                    for d, code, name, city, n in rows
                ]
            )

        return _cached(("nearby", sku, lat, lon, radius, channel), answer)


recommendations_blp = api_blueprint("api_recommendations", "/api/v1/recommendations", "Products to suggest together")


@recommendations_blp.route("")
class Recommendations(MethodView):
    @require_scope("stock:read")
    @recommendations_blp.arguments(RecommendationQuerySchema, location="query")
    @recommendations_blp.response(200, RecommendationSchema(many=True))
    @recommendations_blp.alt_response(422, schema=ApiErrorSchema)
    def get(self, query):
        """Products in stock at the same location (same category first), to ship or collect together."""
        product = db.session.scalar(select(Product).where(Product.sku == query["sku"]))
        location = db.session.scalar(select(Location).where(Location.code == query["location"], Location.active))
        fields = {**({} if product else {"sku": "unknown"}), **({} if location else {"location": "unknown"})}
        if fields:
            raise InvalidInput(N_("Unknown codes."), fields=fields)
        rows = core.recommendations(product, location, query["limit"], query.get("channel"))
        return [{"sku": p.sku, "name": p.name, "category": p.category, "available": n} for p, n in rows]
