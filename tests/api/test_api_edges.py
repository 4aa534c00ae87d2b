"""Edges of the API: reads that do not write, bad input that is never a 500, limits and their configuration."""

import json
import logging
import time
from datetime import timedelta

import pytest
from sqlalchemy import event, select, text, update

from app.api.schemas import MAX_DELTA, MAX_ID, MAX_ON_HAND
from app.config import MAX_CONTENT_LENGTH, load_config
from app.core.integration import api_clients
from app.core.integration.api_clients import create_api_client
from app.core.models import ApiClient
from app.core.models.base import utcnow
from app.extensions import db
from tests.factories import ACTOR, make_location, make_product

ALL_SCOPES = ["orders:read", "orders:write", "stock:read", "stock:write", "settings:read", "settings:write"]
ERROR_KEYS = {"error", "message", "fields"}


@pytest.fixture
def api(app, client):
    make_location(code="PAR01")
    make_product(sku="TSH-001-M")
    created, token = create_api_client("webshop", ALL_SCOPES, actor=ACTOR)
    db.session.commit()
    api_clients._last_attempt.clear()

    def call(method, path, key=None, headers=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}", **({"Idempotency-Key": key} if key else {}), **(headers or {})}
        return client.open(path, method=method, headers=headers, **kwargs)

    call.client_id = created.id
    return call


def _is_error_body(response) -> bool:
    return response.is_json and set(response.json) == ERROR_KEYS


def _last_used(client_id):
    db.session.commit()  # a fresh snapshot
    return db.session.scalar(select(ApiClient.last_used_at).where(ApiClient.id == client_id))


class Writes:
    """Every INSERT/UPDATE/DELETE the engine runs while it is on."""

    def __init__(self, engine):
        self.engine, self.statements = engine, []

    def _seen(self, conn, cursor, statement, *args):
        if statement.lstrip().split(" ", 1)[0].upper() in {"INSERT", "UPDATE", "DELETE"}:
            self.statements.append(statement)

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._seen)
        return self.statements

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._seen)


# --------------------------------------------------------------------------- reads that do not write


def test_a_request_never_writes_its_client_row_and_last_used_at_is_recorded_after_it_at_most_once_a_minute(api):
    assert _last_used(api.client_id) is None
    with Writes(db.engine) as writes:
        response = api("GET", "/api/v1/orders")
        assert response.status_code == 200
        assert writes == []  # the request itself wrote nothing, not even last_used_at
        response.close()  # the answer has been sent: the use is recorded now, in a transaction of its own
        assert len(writes) == 1 and "api_client" in writes[0]
    first = _last_used(api.client_id)
    assert first is not None and utcnow() - first < timedelta(seconds=30)

    with Writes(db.engine) as writes:  # within the minute: no write at all, whatever the method
        for method, path in [("GET", "/api/v1/orders"), ("PATCH", "/api/v1/sourcing/rules")]:
            response = api(method, path, json={"max_splits": 2} if method == "PATCH" else None)
            assert response.status_code == 200
            response.close()
        assert not [s for s in writes if "api_client" in s]
    assert _last_used(api.client_id) == first

    # A minute later (another process may have tried meanwhile: the UPDATE's guard decides), it is recorded again.
    db.session.execute(update(ApiClient).values(last_used_at=utcnow() - timedelta(minutes=2)))
    db.session.commit()
    api_clients._last_attempt.clear()
    api("GET", "/api/v1/orders").close()
    assert utcnow() - _last_used(api.client_id) < timedelta(seconds=30)


def test_recording_a_use_is_guarded_so_concurrent_processes_write_once(api):
    now = utcnow()
    assert api_clients.record_use(db.engine, api.client_id, now) is True
    assert api_clients.record_use(db.engine, api.client_id, now + timedelta(seconds=30)) is False
    assert api_clients.record_use(db.engine, api.client_id, now + timedelta(seconds=61)) is True


def test_a_busy_database_never_fails_the_request_the_use_is_just_not_recorded(api, caplog):
    """Another transaction holds the lock recording needs (SQLite: the database write lock; PostgreSQL: the client's
    row): the GET still answers 200 at once and recording gives up quickly with a log line."""
    engine = db.engine
    holder = engine.connect().execution_options(sqlite_immediate=True)  # BEGIN IMMEDIATE: the write lock
    try:
        holder.begin()
        if engine.dialect.name == "postgresql":
            holder.execute(text("SELECT id FROM api_client WHERE id = :id FOR UPDATE"), {"id": api.client_id})
        caplog.set_level(logging.INFO, logger="app.core.integration.api_clients")  # busy: as designed, not a warning
        started = time.monotonic()
        response = api("GET", "/api/v1/orders")
        assert response.status_code == 200
        response.close()
        assert time.monotonic() - started < 5  # the recording waited briefly (200 ms), not the 30 s busy timeout
        assert "last_used_at not recorded (the database was busy)" in caplog.text
    finally:
        holder.rollback()
        holder.close()
    assert _last_used(api.client_id) is None
    if engine.dialect.name == "sqlite":  # the connection went back to the pool with the app's own busy timeout
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_sqlite_connections_use_wal_and_wait_for_locks(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30000


def test_a_get_waits_for_nothing_while_another_transaction_writes(api):
    """On SQLite, WAL lets a read run beside a writer that holds the write lock (it used to be 'database is locked'
    as soon as the GET tried to write last_used_at); on PostgreSQL, reads never wait for writers."""
    holder = db.engine.connect().execution_options(sqlite_immediate=True)
    try:
        holder.begin()
        holder.execute(text("UPDATE location SET name = name"))
        started = time.monotonic()
        assert api("GET", "/api/v1/stock/PAR01/TSH-001-M").status_code == 200
        assert api("GET", "/api/v1/orders").status_code == 200
        assert time.monotonic() - started < 5  # did not sit in the 30 s busy timeout either
    finally:
        holder.rollback()
        holder.close()


# --------------------------------------------------------------------------- JSON errors under /api/v1


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("GET", "/api/v1/nothing-here", 404),
        ("GET", "/api/v1/orders/2147483648", 404),  # beyond the database ids
        ("POST", "/api/v1/nothing/here", 404),
        ("DELETE", "/api/v1/orders", 405),
        ("PUT", "/api/v1/availability", 405),
        ("TRACE", "/api/v1/orders", 405),
        ("TRACE", "/api/v1/nowhere", 404),
        ("GET", "/api/v1", 404),
    ],
)
def test_unknown_addresses_and_wrong_methods_answer_the_json_error_body(api, method, path, status):
    response = api(method, path)
    assert response.status_code == status
    assert _is_error_body(response), response.get_data(as_text=True)[:200]
    assert response.json["error"] == {404: "not_found", 405: "method_not_allowed"}[status]
    assert response.json["message"]
    if status == 405:
        assert "GET" in response.headers["Allow"]
        assert "GET" in response.json["message"]


def test_web_pages_keep_their_html_errors(client):
    for method, path in [("GET", "/no-such-page"), ("TRACE", "/login"), ("GET", "/api/v2/orders")]:
        response = client.open(path, method=method)
        assert response.status_code in {404, 405}
        assert response.mimetype == "text/html"


def test_api_error_messages_are_translated(api):
    answers = {
        "fr": api("GET", "/api/v1/nothing", headers={"Accept-Language": "fr"}),
        "it": api("GET", "/api/v1/nothing", headers={"Accept-Language": "it"}),
    }
    assert "API" in answers["fr"].json["message"] and "adresse" in answers["fr"].json["message"]
    assert "indirizzo" in answers["it"].json["message"]
    deep = api(
        "PATCH",
        "/api/v1/sourcing/rules",
        data='{"a":' * 5000,
        content_type="application/json",
        headers={"Accept-Language": "fr"},
    )
    assert "imbriqué" in deep.json["message"]


def test_a_body_too_large_is_413_and_the_largest_movement_batch_still_fits(api):
    huge = b'{"movements": [' + b"0," * (MAX_CONTENT_LENGTH // 2) + b"0]}"
    response = api("POST", "/api/v1/stock/movements", key="too-big", data=huge, content_type="application/json")
    assert response.status_code == 413
    assert _is_error_body(response)
    assert "MiB" in response.json["message"]
    # Also on an address that does not exist, and on a PATCH.
    assert _is_error_body(api("POST", "/api/v1/nowhere", data=huge, content_type="application/json"))
    assert api("PATCH", "/api/v1/sourcing/rules", data=huge, content_type="application/json").status_code == 413

    row = {"location": "W" * 16, "sku": "S" * 64, "delta": -MAX_DELTA, "reason": "r" * 200, "reference": "f" * 120}
    largest = json.dumps({"movements": [row] * 10_000}, indent=2).encode()
    assert len(largest) < MAX_CONTENT_LENGTH
    response = api("POST", "/api/v1/stock/movements", key="largest", data=largest, content_type="application/json")
    assert response.status_code in {404, 422}, response.status_code  # read and checked, refused for its content
    assert _is_error_body(response)


@pytest.mark.parametrize(
    ("method", "path", "key"),
    [
        ("POST", "/api/v1/orders", None),
        ("POST", "/api/v1/stock/movements", "deep-1"),
        ("PUT", "/api/v1/stock/PAR01/TSH-001-M", "deep-2"),
        ("PATCH", "/api/v1/sourcing/rules", None),
        ("PATCH", "/api/v1/locations/PAR01", None),
    ],
)
def test_deeply_nested_or_malformed_json_is_400_never_500(api, method, path, key):
    deep = api(method, path, key=key, data='{"a":' * 5000, content_type="application/json")
    assert deep.status_code == 400, deep.get_data(as_text=True)[:300]
    assert _is_error_body(deep)
    assert "nested" in deep.json["message"]
    broken = api(method, path, key=key and key + "b", data='{"on_hand": 3,', content_type="application/json")
    assert broken.status_code == 400
    assert _is_error_body(broken)
    assert "not valid JSON" in broken.json["message"]


# --------------------------------------------------------------------------- numeric bounds


def test_stock_figures_are_bounded_by_the_schema_so_the_database_never_overflows(api):
    path = "/api/v1/stock/PAR01/TSH-001-M"
    for key, on_hand in [("c1", MAX_ID), ("c2", MAX_ON_HAND + 1), ("c3", -1)]:
        response = api("PUT", path, key=key, json={"on_hand": on_hand})
        assert response.status_code == 422, on_hand
        assert "on_hand" in response.json["fields"]
    assert api("PUT", path, key="c4", json={"on_hand": MAX_ON_HAND}).status_code == 200

    def move(key, delta):
        return api(
            "POST",
            "/api/v1/stock/movements",
            key=key,
            json={"movements": [{"location": "PAR01", "sku": "TSH-001-M", "delta": delta}]},
        )

    too_much = move("m1", MAX_DELTA + 1)
    assert too_much.status_code == 422
    assert "movements.0.delta" in too_much.json["fields"]
    assert move("m2", MAX_DELTA).status_code == 200  # the largest count plus the largest movement still fits
    assert api("GET", path).json["on_hand"] == MAX_ON_HAND + MAX_DELTA


def test_money_beyond_the_database_column_is_refused(api):
    def order(price):
        body = {
            "channel": "web",
            "external_ref": f"P-{price}",
            "customer": {"name": "Anne"},
            "delivery": {"method": "collect", "pickup_location": "PAR01"},
            "lines": [{"sku": "TSH-001-M", "quantity": 1, "unit_price": price}],
        }
        return api("POST", "/api/v1/orders", json=body)

    refused = order("999999999.99")  # NUMERIC(10, 2) holds 99,999,999.99 at most
    assert refused.status_code == 422
    assert "lines.0.unit_price" in refused.json["fields"]
    assert order("99999999.99").status_code < 500


def _resolve(spec, schema):
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _numbers(spec, schema, path, seen):
    """(path, schema) of every integer/number a request can carry, following refs, arrays and objects."""
    schema = _resolve(spec, schema)
    if schema.get("type") in {"integer", "number"}:
        yield path, schema
    for name, prop in schema.get("properties", {}).items():
        if not prop.get("readOnly"):
            yield from _numbers(spec, prop, f"{path}.{name}", seen)
    if "items" in schema:
        yield from _numbers(spec, schema["items"], f"{path}[]", seen)
    if isinstance(schema.get("additionalProperties"), dict):
        yield from _numbers(spec, schema["additionalProperties"], f"{path}{{}}", seen)


def test_every_number_a_request_can_send_is_bounded_in_the_schema(client):
    spec = client.get("/api/v1/openapi.json").json
    checked = []
    for url, operations in spec["paths"].items():
        for method, operation in operations.items():
            if method == "parameters":
                continue
            sources = [
                (f"{method.upper()} {url} ?{p['name']}", p.get("schema", {})) for p in operation.get("parameters", [])
            ]
            for content in operation.get("requestBody", {}).get("content", {}).values():
                sources.append((f"{method.upper()} {url} body", content["schema"]))
            for where, schema in sources:
                for path, number in _numbers(spec, schema, where, set()):
                    checked.append(path)
                    assert "minimum" in number and "maximum" in number, f"{path} is not bounded: {number}"
                    assert -MAX_ID <= number["minimum"] and number["maximum"] <= MAX_ID, path
    assert any("on_hand" in path for path in checked)
    assert any("delta" in path for path in checked)


# --------------------------------------------------------------------------- an empty PATCH


@pytest.mark.parametrize("path", ["/api/v1/sourcing/rules", "/api/v1/locations/PAR01"])
def test_a_patch_that_changes_nothing_is_422(api, path):
    for kwargs in [{}, {"json": {}}, {"data": "{}", "content_type": "application/json"}]:
        response = api("PATCH", path, **kwargs)
        assert response.status_code == 422, kwargs
        assert _is_error_body(response)
        assert response.json["message"] == "Give at least one value to change."
    field = {"max_splits": 2} if "rules" in path else {"daily_capacity": 40}
    assert api("PATCH", path, json=field).status_code == 200


# --------------------------------------------------------------------------- configuration


def test_reads_and_writes_have_their_own_limits_and_the_legacy_api_rate_limit_still_counts(monkeypatch, tmp_path):
    for name in ("API_RATE_LIMIT", "API_READ_RATE_LIMIT", "API_WRITE_RATE_LIMIT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    defaults = load_config(str(tmp_path))
    assert (defaults["API_READ_RATE_LIMIT"], defaults["API_WRITE_RATE_LIMIT"]) == ("300 per second", "50 per second")
    assert defaults["MAX_CONTENT_LENGTH"] == 6 * 2**20

    monkeypatch.setenv("API_RATE_LIMIT", "1200 per minute")  # an operator's setting from before: the write limit
    legacy = load_config(str(tmp_path))
    assert (legacy["API_READ_RATE_LIMIT"], legacy["API_WRITE_RATE_LIMIT"]) == ("300 per second", "1200 per minute")

    monkeypatch.setenv("API_READ_RATE_LIMIT", "500 per second")
    monkeypatch.setenv("API_WRITE_RATE_LIMIT", "20 per second")
    explicit = load_config(str(tmp_path))
    assert (explicit["API_READ_RATE_LIMIT"], explicit["API_WRITE_RATE_LIMIT"]) == ("500 per second", "20 per second")
