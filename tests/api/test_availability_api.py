import random
import socket
import time
import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

from app import create_app
from app.config import ConfigError
from app.core.integration.api_clients import create_api_client
from app.core.inventory import availability as core
from app.core.inventory import stock
from app.core.models import ChannelBuffer, Location, Product, StockLevel
from app.core.ordering import orders
from app.core.ordering.sourcing import distance_km
from app.extensions import db
from tests.conftest import CI, IsolatedClient, loud
from tests.factories import ACTOR, make_location, make_product, random_ref, ship_draft, stocked


@pytest.fixture
def shop(app, client):
    paris = make_location(code="PAR01", city="Paris", latitude=Decimal("48.8700"), longitude=Decimal("2.3300"))
    versailles = make_location(
        code="VER01", city="Versailles", latitude=Decimal("48.8049"), longitude=Decimal("2.1204")
    )
    lyon = make_location(code="LYO01", city="Lyon", latitude=Decimal("45.7600"), longitude=Decimal("4.8400"))
    shirt = make_product(sku="TSH")
    make_product(sku="JEAN")
    for store in (paris, versailles, lyon):
        stocked(store, shirt, 10)
    stock.set_safety_stock(paris, shirt, 2, actor=ACTOR)
    order, _ = orders.create_order(ship_draft((shirt, 3)), actor=ACTOR)
    orders.assign_fulfilment(order, paris, {order.lines[0]: 3}, actor=ACTOR)
    db.session.add(ChannelBuffer(channel="marketplace", location_id=paris.id, units=4))
    _, token = create_api_client("shop", ["stock:read"], actor=ACTOR)
    db.session.commit()
    return lambda path, **q: client.get(path, query_string=q, headers={"Authorization": f"Bearer {token}"})


def test_availability_applies_reservations_safety_stock_and_channel_buffers(shop):
    web = shop("/api/v1/availability", skus="TSH,JEAN", locations="PAR01,LYO01", channel="web").json
    assert web == [
        {"sku": "JEAN", "location": "LYO01", "available": 0},
        {"sku": "TSH", "location": "LYO01", "available": 10},
        {"sku": "JEAN", "location": "PAR01", "available": 0},
        {"sku": "TSH", "location": "PAR01", "available": 5},
    ]
    marketplace = shop("/api/v1/availability", skus="TSH", locations="PAR01", channel="marketplace").json
    assert marketplace == [{"sku": "TSH", "location": "PAR01", "available": 1}]


def test_unknown_codes_are_named_in_a_422(shop):
    response = shop("/api/v1/availability", skus="TSH,NOPE", locations="XXX")
    assert response.status_code == 422
    assert set(response.json["fields"]) == {"sku:NOPE", "location:XXX"}


def test_nearby_lists_stores_with_stock_in_the_radius_nearest_first(shop):
    rows = shop("/api/v1/availability/nearby", sku="TSH", latitude=48.8566, longitude=2.3522, radius_km=30).json
    assert [(r["location"], r["available"]) for r in rows] == [("PAR01", 5), ("VER01", 10)]
    assert rows[0]["distance_km"] < rows[1]["distance_km"] < 30
    assert shop("/api/v1/availability/nearby", sku="JEAN", latitude=48.85, longitude=2.35).json == []
    bad = shop("/api/v1/availability/nearby", sku="TSH", latitude=123, longitude=2.35)
    assert bad.status_code == 422
    assert "latitude" in bad.json["fields"]


def test_recommendations_are_in_stock_at_the_same_store_same_category_first(app, client):
    store = make_location(code="MIL01")
    shirt = make_product(sku="TSH", category="Clothing")
    for sku, category, units in [
        ("POLO", "Clothing", 2),
        ("SOCK", "Clothing", 9),
        ("MUG", "Home", 20),
        ("GONE", "Clothing", 0),
    ]:
        product = make_product(sku=sku, category=category)
        if units:
            stocked(store, product, units)
    stocked(store, shirt, 1)
    _, token = create_api_client("shop2", ["stock:read"], actor=ACTOR)
    db.session.commit()
    headers = {"Authorization": f"Bearer {token}"}
    rows = client.get("/api/v1/recommendations", query_string={"sku": "TSH", "location": "MIL01"}, headers=headers).json
    assert [r["sku"] for r in rows] == ["SOCK", "POLO", "MUG"]
    bad = client.get("/api/v1/recommendations", query_string={"sku": "NOPE", "location": "MIL01"}, headers=headers)
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"sku"}


# --- the set-based path against the ORM computation, the cache and its staleness bound --------------------------

CHANNELS = [None, "web", "marketplace", "pos"]


def _token(scopes=("stock:read",)) -> str:
    _, token = create_api_client(random_ref("reader-"), list(scopes), actor=ACTOR)
    db.session.commit()
    return token


def _get(client, token, path, **query):
    return client.get(path, query_string=query, headers={"Authorization": f"Bearer {token}"})


def _random_chain(rng: random.Random):
    """Stores and a warehouse (one closed) and products with random stock, reservations, safety stock and buffers.
    Codes mix case and punctuation so that the order of the answer is tested, not only its content."""
    locations = [
        make_location(
            code=code,
            kind="warehouse" if code == "WH-1" else "store",
            latitude=Decimal(str(round(48.85 + rng.uniform(-0.6, 0.6), 6))) if code != "nowhere" else None,
            longitude=Decimal(str(round(2.35 + rng.uniform(-0.9, 0.9), 6))) if code != "nowhere" else None,
        )
        for code in ["PAR01", "par02", "LYO-1", "WH-1", "Z_9", "nowhere", "CLOSED"]
    ]
    products = [make_product(sku=sku) for sku in ["A-1", "a_2", "B.3", "b 4", "TSH-XS", "TSH-M", "Z9", "é-5", "EMPTY"]]
    for location in locations:
        for product in products[:-1]:
            if rng.random() < 0.75:
                stocked(location, product, rng.randint(1, 12))
    db.session.flush()
    for location in locations:
        for product in products[:-1]:
            level = db.session.scalar(
                select(StockLevel).where(StockLevel.location_id == location.id, StockLevel.product_id == product.id)
            )
            if level is None:
                continue
            if rng.random() < 0.5:
                order, _ = orders.create_order(ship_draft((product, rng.randint(1, level.on_hand))), actor=ACTOR)
                orders.assign_fulfilment(order, location, {order.lines[0]: order.lines[0].quantity}, actor=ACTOR)
            if rng.random() < 0.5:
                stock.set_safety_stock(location, product, rng.randint(0, 8), actor=ACTOR)
    for channel in CHANNELS[1:]:
        for location in locations:
            if rng.random() < 0.5:
                db.session.add(ChannelBuffer(channel=channel, location_id=location.id, units=rng.randint(0, 6)))
    locations[-1].active = False
    db.session.commit()
    return locations, products


def _orm_answer(products, locations, channel):
    """Today's computation: ORM objects through core.availability, rows as the endpoint always answered them."""
    units = core.availability(products, locations, channel)
    return [{"sku": sku, "location": loc, "available": n} for (loc, sku), n in sorted(units.items())]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_one_query_answers_like_the_orm_computation_on_random_stock(app, client, seed):
    app.config["AVAILABILITY_CACHE_SECONDS"] = 0
    rng = random.Random(seed)
    locations, products = _random_chain(rng)
    active = sorted((loc for loc in locations if loc.active), key=lambda loc: loc.code)
    token = _token()
    assert any(row["available"] == 0 for row in _orm_answer(products, active, None))  # clamps and gaps are tried
    assert any(row["available"] > 0 for row in _orm_answer(products, active, "web"))
    for _ in range(25):
        asked = rng.sample(products, rng.randint(1, len(products)))
        named = rng.sample(active, rng.randint(1, len(active))) if rng.random() < 0.6 else []
        channel = rng.choice(CHANNELS)
        query = {"skus": ",".join(p.sku for p in asked)}
        if named:
            query["locations"] = ",".join(loc.code for loc in named)
        if channel:
            query["channel"] = channel
        answer = _get(client, token, "/api/v1/availability", **query)
        assert answer.status_code == 200, answer.json
        expected = _orm_answer(asked, sorted(named or active, key=lambda loc: loc.code), channel)
        assert answer.json == expected, query
        assert answer.get_data() == app.json.response(expected).get_data()  # the same bytes as before
    # Unknown codes, the closed location included, are still a 422 naming each of them.
    bad = _get(client, token, "/api/v1/availability", skus="A-1,NOPE", locations=f"PAR01,{locations[-1].code},XX")
    assert bad.status_code == 422
    assert set(bad.json["fields"]) == {"sku:NOPE", f"location:{locations[-1].code}", "location:XX"}


@pytest.mark.parametrize("seed", [4, 5])
def test_nearby_in_one_query_answers_like_the_orm_computation_on_random_stock(app, client, seed):
    app.config["AVAILABILITY_CACHE_SECONDS"] = 0
    rng = random.Random(seed)
    locations, products = _random_chain(rng)
    token = _token()
    seen = 0
    for _ in range(25):
        product, channel = rng.choice(products), rng.choice(CHANNELS)
        lat, lon, radius = 48.85 + rng.uniform(-0.5, 0.5), 2.35 + rng.uniform(-0.5, 0.5), rng.uniform(1, 120)
        stores = [loc for loc in locations if loc.active and loc.kind == "store"]
        units = core.availability([product], stores, channel)
        expected = sorted(
            (distance_km(lat, lon, s.latitude, s.longitude), s.code, s.name, s.city, units[(s.code, product.sku)])
            for s in stores
            if units[(s.code, product.sku)] > 0 and s.latitude is not None
        )
        expected = [
            {"location": code, "name": name, "city": city, "distance_km": round(d, 1), "available": n}
            for d, code, name, city, n in expected
            if d <= radius
        ]
        query = {"sku": product.sku, "latitude": lat, "longitude": lon, "radius_km": radius}
        if channel:
            query["channel"] = channel
        answer = _get(client, token, "/api/v1/availability/nearby", **query)
        assert answer.status_code == 200, answer.json
        assert answer.json == expected, query
        seen += len(expected)
    assert seen  # some stores were in range
    assert (
        _get(client, token, "/api/v1/availability/nearby", sku="NOPE", latitude=48.8, longitude=2.3).status_code == 422
    )


def _receive(code: str, sku: str, units: int) -> None:
    location = db.session.scalar(select(Location).where(Location.code == code))
    product = db.session.scalar(select(Product).where(Product.sku == sku))
    stock.receive(location, product, units, actor=ACTOR, reference="test")
    db.session.commit()


def _watch_until_fresh(read, before, ttl: float):
    """Read after a change until the new figure shows; every answer that was still the old one must have been asked
    within `ttl` seconds of the answer that filled the cache (the time `before` was read)."""
    filled = time.monotonic()  # the cache was filled before this instant
    while True:
        asked = time.monotonic()
        if read() != before:
            return
        assert asked - filled < ttl, f"still the old answer {asked - filled:.2f} s after it was cached (ttl {ttl} s)"
        time.sleep(0.05)


def test_answers_are_cached_and_a_change_shows_once_the_cache_time_has_passed(app, client, shop):
    app.config["AVAILABILITY_CACHE_SECONDS"] = 2

    def available():
        return shop("/api/v1/availability", skus="TSH", locations="LYO01").json[0]["available"]

    def nearby():
        return shop("/api/v1/availability/nearby", sku="TSH", latitude=45.76, longitude=4.84).json

    start = time.monotonic()
    before, near_before = available(), nearby()
    assert before == 10 and near_before[0]["available"] == 10
    _receive("LYO01", "TSH", 5)
    if time.monotonic() - start < 1:  # the entry lives more than ttl - 1 s (whole-second expiry): surely cached
        assert available() == before
        assert nearby() == near_before
    _watch_until_fresh(available, before, ttl=2)
    assert available() == 15
    assert nearby()[0]["available"] == 15


def test_with_no_cache_time_a_change_shows_at_once(app, client, shop):
    app.config["AVAILABILITY_CACHE_SECONDS"] = 0
    assert shop("/api/v1/availability", skus="TSH", locations="LYO01").json[0]["available"] == 10
    _receive("LYO01", "TSH", 5)
    assert shop("/api/v1/availability", skus="TSH", locations="LYO01").json[0]["available"] == 15
    near = shop("/api/v1/availability/nearby", sku="TSH", latitude=45.76, longitude=4.84).json
    _receive("LYO01", "TSH", 1)
    assert shop("/api/v1/availability/nearby", sku="TSH", latitude=45.76, longitude=4.84).json[0]["available"] == (
        near[0]["available"] + 1
    )


def test_the_same_question_in_another_order_is_one_cache_entry_and_errors_are_never_cached(app, client, shop):
    app.config["AVAILABILITY_CACHE_SECONDS"] = 30
    first = shop("/api/v1/availability", skus="TSH,JEAN", locations="PAR01,LYO01")
    _receive("LYO01", "TSH", 5)
    again = shop("/api/v1/availability", skus="JEAN,TSH,TSH", locations="LYO01,PAR01")
    assert again.json == first.json  # the same question, answered from the cache
    assert shop("/api/v1/availability", skus="TSH", locations="LYO01").json[0]["available"] == 15  # another one
    assert shop("/api/v1/availability", skus="TSH", channel="web").json != first.json
    unknown = shop("/api/v1/availability", skus="TSH,NEW", locations="LYO01")
    assert unknown.status_code == 422 and set(unknown.json["fields"]) == {"sku:NEW"}
    make_product(sku="NEW")
    db.session.commit()
    known = shop("/api/v1/availability", skus="TSH,NEW", locations="LYO01")
    assert known.status_code == 200 and [r["sku"] for r in known.json] == ["NEW", "TSH"]


def test_the_cache_time_and_url_come_from_the_environment_and_are_checked(database_url, monkeypatch):
    def configured(**env):
        for name in ("AVAILABILITY_CACHE_SECONDS", "AVAILABILITY_CACHE_URL"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True}).config

    assert configured()["AVAILABILITY_CACHE_SECONDS"] == 1
    assert configured(AVAILABILITY_CACHE_SECONDS="0")["AVAILABILITY_CACHE_SECONDS"] == 0
    assert configured(AVAILABILITY_CACHE_SECONDS="5")["AVAILABILITY_CACHE_SECONDS"] == 5
    for wrong in ("-1", "0.5", "soon"):
        with pytest.raises(ConfigError, match="AVAILABILITY_CACHE_SECONDS"):
            configured(AVAILABILITY_CACHE_SECONDS=wrong)
    with pytest.raises(ConfigError, match="AVAILABILITY_CACHE_URL"):
        configured(AVAILABILITY_CACHE_URL="memcached://127.0.0.1:11211")


def test_the_staleness_is_in_the_openapi_document(client):
    spec = client.get("/api/v1/openapi.json").json
    for path in ("/api/v1/availability", "/api/v1/availability/nearby"):
        assert "AVAILABILITY_CACHE_SECONDS" in spec["paths"][path]["get"]["description"]


def _other_worker(database_url, **config):
    """Another process's application on the same database (its own cache unless it is shared)."""
    other = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_ENABLED": False, **config})
    other.test_client_class = IsolatedClient
    return other


def _close(other) -> None:
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def test_a_cache_that_fails_answers_from_the_database(app, shop, database_url, caplog):
    with socket.socket() as s:  # a port where nothing listens
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    other = _other_worker(database_url, AVAILABILITY_CACHE_URL=f"redis://127.0.0.1:{port}/0")
    try:
        token = _token()
        answer = _get(other.test_client(), token, "/api/v1/availability", skus="TSH", locations="LYO01")
    finally:
        _close(other)
    assert answer.status_code == 200 and answer.json[0]["available"] == 10
    assert "availability cache unavailable" in caplog.text


@pytest.fixture
def redis_url():
    """The Redis every machine runs (TESTING.md); CI=true makes a missing one a failure, elsewhere a loud skip."""
    import redis

    url = "redis://127.0.0.1:6379/0"

    client = redis.Redis.from_url(url, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError as error:
        message = f"Redis is not reachable at {url} ({error}): the shared availability cache test was not run"
        client.close()
        if CI:
            pytest.fail(message)
        loud("SKIPPED: " + message)
        pytest.skip(message)
    prefix = f"comptoir-test:{uuid.uuid4().hex}:"
    yield url, prefix, client
    keys = list(client.scan_iter(match=prefix + "*"))
    if keys:
        client.delete(*keys)
    client.close()


def test_workers_share_one_cache_in_redis_and_it_expires_on_time(app, shop, database_url, redis_url):
    url, prefix, redis_client = redis_url
    config = {"AVAILABILITY_CACHE_URL": url, "AVAILABILITY_CACHE_SECONDS": 2, "AVAILABILITY_CACHE_KEY_PREFIX": prefix}
    one, two = _other_worker(database_url, **config), _other_worker(database_url, **config)
    try:
        token = _token()

        def read(worker):
            answer = _get(worker.test_client(), token, "/api/v1/availability", skus="TSH", locations="LYO01")
            assert answer.status_code == 200
            return answer.json[0]["available"]

        start = time.monotonic()
        assert read(one) == 10
        keys = list(redis_client.scan_iter(match=prefix + "*"))
        assert len(keys) == 1 and 0 < redis_client.pttl(keys[0]) <= 2000  # in Redis, for at most the cache time
        _receive("LYO01", "TSH", 5)
        if time.monotonic() - start < 1:
            assert read(two) == 10  # the other worker answers from what the first one cached
        _watch_until_fresh(lambda: read(two), 10, ttl=2)
        assert read(one) == read(two) == 15
    finally:
        _close(one)
        _close(two)
