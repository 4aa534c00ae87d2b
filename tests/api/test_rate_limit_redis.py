"""The per-client API limit kept in Redis, so that every gunicorn worker counts against the same budget."""

import shutil
import socket
import subprocess
import time

import pytest

from app import create_app
from app.core.integration.api_clients import create_api_client
from app.extensions import db
from tests.conftest import CI, loud
from tests.factories import ACTOR, random_ref


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def redis_url(tmp_path):
    server = shutil.which("redis-server")
    if not server:
        message = "redis-server is missing (apt-get install -y redis-server): Redis rate-limit test not run"
        if CI:
            pytest.fail(message)
        loud("SKIPPED: " + message)
        pytest.skip(message)
    port = _free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}"
    process.terminate()
    process.wait(timeout=10)


def test_reads_and_writes_are_limited_apart_per_client_across_endpoints_counted_in_redis(database_url, redis_url):
    import redis

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "RATELIMIT_STORAGE_URI": redis_url,
            "API_READ_RATE_LIMIT": "3 per minute",
            "API_WRITE_RATE_LIMIT": "2 per minute",
        }
    )
    with app.app_context():
        _, token = create_api_client(
            random_ref("limited-"), ["orders:read", "settings:read", "settings:write"], actor=ACTOR
        )
        _, other_token = create_api_client(random_ref("other-"), ["orders:read"], actor=ACTOR)
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        # Reads on two blueprints share one read budget.
        reads = [
            client.get("/api/v1/orders?limit=1", headers=headers),
            client.get("/api/v1/sourcing/rules", headers=headers),
            client.get("/api/v1/orders?limit=1", headers=headers),
            client.get("/api/v1/sourcing/rules", headers=headers),
        ]
        # The read budget is spent: writes still have their own.
        writes = [client.patch("/api/v1/sourcing/rules", json={"max_splits": 2}, headers=headers) for _ in range(3)]
        other = client.get("/api/v1/orders?limit=1", headers={"Authorization": f"Bearer {other_token}"})
        for response in [*reads, *writes, other]:
            response.close()
        db.session.remove()
        db.engine.dispose()
    assert [a.status_code for a in reads] == [200, 200, 200, 429]
    assert reads[3].json["error"] == "rate_limited"
    assert set(reads[3].json) == {"error", "message", "fields"}
    assert [w.status_code for w in writes] == [200, 200, 429]
    assert writes[2].json["error"] == "rate_limited"
    assert other.status_code == 200  # another token has its own budgets
    keys = [key.decode() for key in redis.Redis.from_url(redis_url).keys("*")]
    mine = [key for key in keys if token[-16:] in key]
    assert any("api-read" in key for key in mine) and any("api-write" in key for key in mine), keys


def test_the_legacy_api_rate_limit_is_the_write_limit(database_url, redis_url, monkeypatch):
    """An operator who set API_RATE_LIMIT before reads and writes were apart keeps it, for writes."""
    monkeypatch.setenv("API_RATE_LIMIT", "1 per minute")
    monkeypatch.delenv("API_WRITE_RATE_LIMIT", raising=False)
    monkeypatch.delenv("API_READ_RATE_LIMIT", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_STORAGE_URI": redis_url})
    with app.app_context():
        _, token = create_api_client(random_ref("legacy-"), ["settings:read", "settings:write"], actor=ACTOR)
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        writes = [client.patch("/api/v1/sourcing/rules", json={"max_splits": 3}, headers=headers) for _ in range(2)]
        reads = [client.get("/api/v1/sourcing/rules", headers=headers) for _ in range(5)]
        db.session.remove()
        db.engine.dispose()
    assert [w.status_code for w in writes] == [200, 429]
    assert {r.status_code for r in reads} == {200}  # reads: the default of 300 per second
