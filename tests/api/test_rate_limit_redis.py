"""The per-client API limit kept in Redis, so that every gunicorn worker counts against the same budget."""

import shutil
import socket
import subprocess
import time

import pytest

from app import create_app
from app.core.api_clients import create_api_client
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


def test_the_api_limit_is_counted_in_redis_and_answers_429_as_json(database_url, redis_url):
    import redis

    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "TESTING": True,
            "RATELIMIT_STORAGE_URI": redis_url,
            "API_RATE_LIMIT": "3 per minute",
        }
    )
    with app.app_context():
        _, token = create_api_client(random_ref("limited-"), ["orders:read"], actor=ACTOR)
        db.session.commit()
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        answers = [client.get("/api/v1/orders?limit=1", headers=headers) for _ in range(4)]
        other = client.get("/api/v1/orders?limit=1", headers={"Authorization": "Bearer cpt_someone-else"})
        db.session.remove()
        db.engine.dispose()
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json["error"] == "rate_limited"
    assert other.status_code == 401  # another token has its own budget
    keys = redis.Redis.from_url(redis_url).keys("*")
    assert any(token[-16:].encode() in key for key in keys), keys  # the count lives in Redis, per token
