"""The availability cache keeps each product's figures, not whole answers: random sets of products asked by a web
shop are served from what earlier questions read, and only the products it does not hold are read, in one query."""

import random
from contextlib import contextmanager

import pytest
from sqlalchemy import event

from app.extensions import availability_cache, db
from tests.api.test_availability_api import (
    CHANNELS,
    _get,
    _orm_answer,
    _random_chain,
    _receive,
    _token,
    _watch_until_fresh,
    shop,  # noqa: F401 (fixture)
)
from tests.factories import make_product


@contextmanager
def statements():
    """The availability queries run meanwhile (those reading stock rows), as (text, parameters)."""
    seen = []

    def record(_conn, _cursor, statement, parameters, _context, _many):
        if "stock_level" in statement:
            seen.append((statement, parameters))

    engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _asks(statement) -> str:
    """The parameters of a statement, as text, to see which codes it asked for."""
    return repr(statement[1])


def test_a_product_asked_again_comes_from_the_cache_whatever_else_is_asked(app, shop):  # noqa: F811
    app.config["AVAILABILITY_CACHE_SECONDS"] = 30
    first = shop("/api/v1/availability", skus="TSH", locations="PAR01,LYO01")
    assert [r["available"] for r in first.json] == [10, 5]
    _receive("LYO01", "TSH", 5)
    _receive("LYO01", "JEAN", 3)
    with statements() as seen:
        again = shop("/api/v1/availability", skus="TSH", locations="LYO01,PAR01")
    assert again.json == first.json and not seen  # a hit asks the database nothing
    with statements() as seen:
        both = shop("/api/v1/availability", skus="JEAN,TSH", locations="PAR01,LYO01")
    assert both.status_code == 200
    # One query, for the product the cache did not hold: JEAN is fresh, TSH is still the cached figure.
    assert len(seen) == 1 and "JEAN" in _asks(seen[0]) and "TSH" not in _asks(seen[0])
    assert both.json == [
        {"available": 3, "location": "LYO01", "sku": "JEAN"},
        {"available": 10, "location": "LYO01", "sku": "TSH"},
        {"available": 0, "location": "PAR01", "sku": "JEAN"},
        {"available": 5, "location": "PAR01", "sku": "TSH"},
    ]
    with statements() as seen:
        assert shop("/api/v1/availability", skus="TSH,JEAN", locations="LYO01,PAR01").json == both.json
    assert not seen
    # Another set of locations is another scope: read afresh.
    assert shop("/api/v1/availability", skus="TSH", locations="LYO01").json[0]["available"] == 15


def test_every_location_answers_are_cached_per_product(app, shop):  # noqa: F811
    app.config["AVAILABILITY_CACHE_SECONDS"] = 30
    everywhere = shop("/api/v1/availability", skus="TSH").json
    assert [r["location"] for r in everywhere] == ["LYO01", "PAR01", "VER01"]
    with statements() as seen:
        both = shop("/api/v1/availability", skus="TSH,JEAN")
    assert len(seen) == 1 and "TSH" not in _asks(seen[0])
    assert [(r["location"], r["sku"]) for r in both.json] == [
        (code, sku) for code in ("LYO01", "PAR01", "VER01") for sku in ("JEAN", "TSH")
    ]


def test_the_channel_is_part_of_the_key(app, shop):  # noqa: F811
    app.config["AVAILABILITY_CACHE_SECONDS"] = 30
    assert shop("/api/v1/availability", skus="TSH", locations="PAR01").json[0]["available"] == 5
    assert shop("/api/v1/availability", skus="TSH", locations="PAR01", channel="marketplace").json[0]["available"] == 1
    assert shop("/api/v1/availability", skus="TSH", locations="PAR01", channel="web").json[0]["available"] == 5
    assert shop("/api/v1/availability", skus="TSH", locations="PAR01", channel="marketplace").json[0]["available"] == 1


def test_unknown_codes_are_never_cached_and_all_are_named(app, shop):  # noqa: F811
    app.config["AVAILABILITY_CACHE_SECONDS"] = 30
    assert shop("/api/v1/availability", skus="TSH", locations="PAR01,LYO01").status_code == 200
    unknown = shop("/api/v1/availability", skus="TSH,NEW,OTHER", locations="PAR01,LYO01")  # TSH is cached
    assert unknown.status_code == 422
    assert set(unknown.json["fields"]) == {"sku:NEW", "sku:OTHER"}
    both = shop("/api/v1/availability", skus="TSH,NEW", locations="PAR01,XX")
    assert both.status_code == 422 and set(both.json["fields"]) == {"sku:NEW", "location:XX"}
    everywhere = shop("/api/v1/availability", skus="TSH")
    assert shop("/api/v1/availability", skus="TSH,NEW").json["fields"] == {"sku:NEW": "unknown"}
    make_product(sku="NEW")
    db.session.commit()
    known = shop("/api/v1/availability", skus="TSH,NEW", locations="PAR01,LYO01")
    assert known.status_code == 200 and [r["sku"] for r in known.json] == ["NEW", "TSH", "NEW", "TSH"]
    assert [r["sku"] for r in shop("/api/v1/availability", skus="NEW,TSH").json] == ["NEW", "TSH"] * 3
    assert everywhere.status_code == 200


def test_a_cached_product_shows_a_change_once_the_cache_time_has_passed(app, shop):  # noqa: F811
    app.config["AVAILABILITY_CACHE_SECONDS"] = 2

    def tsh_at_lyon():
        # Each time with another product read fresh beside it (a partial hit).
        other = random.choice(["JEAN", ""])
        rows = shop("/api/v1/availability", skus=f"TSH,{other}".strip(","), locations="LYO01").json
        return next(r["available"] for r in rows if r["sku"] == "TSH")

    before = tsh_at_lyon()
    assert before == 10
    _receive("LYO01", "TSH", 5)
    _watch_until_fresh(tsh_at_lyon, before, ttl=2)
    assert tsh_at_lyon() == 15


def test_a_failing_cache_answers_from_the_database_and_says_so(app, shop, monkeypatch, caplog):  # noqa: F811
    app.config["AVAILABILITY_CACHE_SECONDS"] = 30

    def broken(*_args, **_kwargs):
        raise ConnectionError("cache down")

    monkeypatch.setattr(availability_cache, "get_many", broken)
    monkeypatch.setattr(availability_cache, "set_many", broken)
    answer = shop("/api/v1/availability", skus="TSH,JEAN", locations="LYO01")
    assert answer.status_code == 200
    assert [(r["sku"], r["available"]) for r in answer.json] == [("JEAN", 0), ("TSH", 10)]
    assert "availability cache unavailable, answering from the database" in caplog.text
    assert "availability cache unavailable, answer not kept" in caplog.text
    assert shop("/api/v1/availability", skus="TSH,NOPE").status_code == 422


@pytest.mark.parametrize("seed", [6, 7])
def test_answers_pieced_from_the_cache_are_the_computed_answers_byte_for_byte(app, client, seed):
    app.config["AVAILABILITY_CACHE_SECONDS"] = 60  # nothing changes meanwhile: every answer must be exact
    rng = random.Random(seed)
    locations, products = _random_chain(rng)
    active = sorted((loc for loc in locations if loc.active), key=lambda loc: loc.code)
    scopes = [[], active[:3], active[1:]]
    token = _token()
    hits = 0
    for _ in range(40):
        asked = rng.sample(products, rng.randint(1, 4))
        named, channel = rng.choice(scopes), rng.choice(CHANNELS)
        query = {"skus": ",".join(p.sku for p in asked)}
        if named:
            query["locations"] = ",".join(loc.code for loc in reversed(named))
        if channel:
            query["channel"] = channel
        with statements() as seen:
            answer = _get(client, token, "/api/v1/availability", **query)
        hits += not seen
        assert answer.status_code == 200, answer.json
        expected = _orm_answer(asked, named or active, channel)
        assert answer.get_data() == app.json.response(expected).get_data(), query
    assert hits  # some answers came whole from the cache
