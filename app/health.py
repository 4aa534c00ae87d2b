"""Readiness: whether this process can serve now (`/readyz` for load balancers, `flask doctor` for a person).

/healthz says the process is alive; /readyz that it can do its work: the database answers, its schema is at the
migrations' head (an app server started before `flask db upgrade` finished, or an old one after it, is not sent
traffic), and each Redis the configuration names answers (the shared rate limits, the availability cache). It takes
no session, no authentication and no rate limit, and costs one short database connection and a ping per Redis.
"""

import functools
import time
from dataclasses import dataclass, field

from flask import Flask, current_app
from sqlalchemy import text

from app.extensions import db

REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
REDIS_TIMEOUT_SECONDS = 1.0


@dataclass
class Check:
    name: str
    ok: bool
    detail: str = ""
    data: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        return {"ok": self.ok, **({"detail": self.detail} if self.detail else {}), **self.data}


@functools.cache
def migration_heads(directory: str) -> tuple[str, ...]:
    """The head revision(s) of the migrations shipped with this code (read from disk once per process: the code
    does not change under a running process)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", directory)
    return tuple(sorted(ScriptDirectory.from_config(config).get_heads()))


def _short(error: BaseException) -> str:
    """An error's first line without its connection string details (no password, no host list)."""
    first = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {first}"[:300]


def check_database() -> tuple[Check, Check]:
    """The database answers, and its alembic_version is the code's head."""
    heads = migration_heads(current_app.extensions["migrate"].directory)
    started = time.perf_counter()
    try:
        with db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
            try:
                current = tuple(sorted(connection.execute(text("SELECT version_num FROM alembic_version")).scalars()))
            except Exception:  # no alembic_version table: never migrated
                current = ()
            connection.rollback()
    except Exception as error:
        database = Check("database", False, _short(error))
        return database, Check("migrations", False, "database unreachable", {"head": list(heads)})
    database = Check("database", True, data={"ms": round((time.perf_counter() - started) * 1000, 1)})
    at_head = current == heads
    migrations = Check(
        "migrations",
        at_head,
        "" if at_head else "the database is not at the code's migration head: run `flask db upgrade`",
        {"current": list(current), "head": list(heads)},
    )
    return database, migrations


def redis_urls(config) -> dict[str, str]:
    """{what: url} for every Redis the configuration names."""
    urls = {}
    for name, key in (("rate limits", "RATELIMIT_STORAGE_URI"), ("availability cache", "AVAILABILITY_CACHE_URL")):
        url = str(config.get(key) or "")
        if url.startswith(REDIS_SCHEMES):
            urls[name] = url
    return urls


_clients: dict = {}


def check_redis(name: str, url: str) -> Check:
    import redis

    client = _clients.get(url)
    if client is None:
        client = _clients[url] = redis.Redis.from_url(
            url, socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS
        )
    try:
        client.ping()
    except Exception as error:
        return Check(f"redis ({name})", False, _short(error))
    return Check(f"redis ({name})", True)


def checks() -> list[Check]:
    """Every readiness check of this process's configuration."""
    results = list(check_database())
    for name, url in redis_urls(current_app.config).items():
        results.append(check_redis(name, url))
    return results


def report() -> tuple[bool, dict]:
    results = checks()
    ready = all(c.ok for c in results)
    body = {"status": "ready" if ready else "not ready", "checks": {c.name: c.as_json() for c in results}}
    if not ready:
        body["failing"] = [c.name for c in results if not c.ok]
    return ready, body


def init_app(app: Flask) -> None:
    from app.extensions import talisman

    @app.get("/readyz")
    @talisman(force_https=False)  # a load balancer probes the app server over plain HTTP, even with FORCE_HTTPS
    def readyz():
        """Readiness probe: 200 when the database answers at the migrations' head and every configured Redis
        answers, 503 naming what fails otherwise."""
        ready, body = report()
        return body, 200 if ready else 503, {"Cache-Control": "no-store"}
