"""A busy client's token is looked up at most once a second per process; revoking it here refuses it at once."""

import time

from sqlalchemy import event

from app.core.integration import api_clients
from app.extensions import db
from tests.factories import ACTOR, random_ref


def _token_queries(app, calls):
    seen = []

    def count(conn, cursor, statement, *args):
        if "FROM api_client" in statement:
            seen.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        calls()
    finally:
        event.remove(db.engine, "before_cursor_execute", count)
    return len(seen)


def _client(app):
    client, token = api_clients.create_api_client(random_ref("cache-"), ["stock:read"], actor=ACTOR)
    db.session.commit()
    return client, token


def test_a_busy_client_is_looked_up_once_within_the_cache_time(app, client):
    app.config["API_AUTH_CACHE_SECONDS"] = 1
    _, token = _client(app)
    headers = {"Authorization": f"Bearer {token}"}
    statuses = []
    queries = _token_queries(
        app, lambda: statuses.extend(client.get("/api/v1/locations", headers=headers).status_code for _ in range(5))
    )
    assert queries == 1
    assert set(statuses) == {403}  # stock:read only: authenticated, and refused the settings scope


def test_without_a_cache_time_every_call_is_looked_up(app, client):
    app.config["API_AUTH_CACHE_SECONDS"] = 0
    _, token = _client(app)
    headers = {"Authorization": f"Bearer {token}"}
    assert _token_queries(app, lambda: [client.get("/api/v1/locations", headers=headers) for _ in range(3)]) == 3


def test_a_revoked_token_is_refused_at_once_in_this_process_and_after_the_cache_time_elsewhere(app, client):
    app.config["API_AUTH_CACHE_SECONDS"] = 0.5
    record, token = _client(app)
    url, headers = "/api/v1/availability?skus=NONE", {"Authorization": f"Bearer {token}"}
    assert client.get(url, headers=headers).status_code == 422  # known client, unknown SKU
    api_clients.revoke_api_client(record, actor=ACTOR)
    db.session.commit()
    assert client.get(url, headers=headers).status_code == 401
    other, other_token = _client(app)
    other_headers = {"Authorization": f"Bearer {other_token}"}
    assert client.get(url, headers=other_headers).status_code == 422
    other.active = False  # revoked by another process: this one does not know yet
    db.session.commit()
    assert client.get(url, headers=other_headers).status_code == 422
    time.sleep(0.6)
    assert client.get(url, headers=other_headers).status_code == 401
