"""Fixtures: one migrated database per run (SQLite or PostgreSQL), emptied before each test.

TEST_DATABASE=sqlite|postgresql picks the engine. With CI=true a missing PostgreSQL fails
the run; elsewhere the PostgreSQL pass is skipped with a loud message.
"""

import contextvars
import os
import re
import sys
import tempfile

import pytest
from flask.globals import _cv_app
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from app import create_app
from app.extensions import db

CI = os.environ.get("CI", "").lower() == "true"
ENGINE = os.environ.get("TEST_DATABASE", "sqlite")
POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/comptoir_test")


def loud(message: str) -> None:
    bar = "!" * 78
    sys.stderr.write(f"\n{bar}\n!! {message}\n{bar}\n")


def _prepare_postgres(url: str) -> str:
    """Create the test database if needed and drop everything in it."""
    base, name = url.rsplit("/", 1)
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if not conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}):
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return url


def _database_url() -> str:
    if ENGINE == "sqlite":
        return "sqlite:///" + os.path.join(tempfile.mkdtemp(prefix="comptoir-test-"), "test.sqlite3")
    try:
        return _prepare_postgres(POSTGRES_URL)
    except Exception as exc:
        message = f"PostgreSQL is not reachable at {POSTGRES_URL}: {exc}"
        if CI:
            pytest.exit(message + " (CI=true: this is a failure)", returncode=1)
        loud("SKIPPED THE WHOLE POSTGRESQL PASS. " + message)
        pytest.exit("PostgreSQL pass skipped", returncode=0)


def pytest_sessionstart(session):
    """Compile the catalogues so tests see the same translations as `make` builds."""
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in Path(__file__).parent.parent.glob("app/translations/*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        with po_path.with_suffix(".mo").open("wb") as mo_file:
            write_mo(mo_file, catalog)


def pytest_report_header(config):
    return f"comptoir test database: {ENGINE}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    url = _database_url()
    os.environ["DATABASE_URL"] = url  # for subprocesses (CLI, servers)
    os.environ.setdefault("SECRET_KEY", "test-" + "k" * 40)
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "TESTING": True})
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    return url


def empty_database() -> None:
    tables = [t.name for t in db.metadata.sorted_tables]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"))
    else:
        for name in reversed(tables):
            db.session.execute(text(f'DELETE FROM "{name}"'))
    db.session.commit()


class IsolatedClient(FlaskClient):
    """Each request gets its own application context, session and `g`, as under a real server,
    even though the test itself holds an application context for direct database access."""

    def open(self, *args, **kwargs):
        def run():
            _cv_app.set(None)
            return FlaskClient.open(self, *args, **kwargs)

        # The test's own session ends its transaction around each request: the request sees what
        # the test wrote, and the test then reads what the request committed (not an old snapshot).
        db.session.commit()
        response = contextvars.copy_context().run(run)
        db.session.commit()
        return response


@pytest.fixture
def app(database_url):
    # Each request checks its token in the database (tests count statements); tests/api/test_api_auth_cache.py
    # covers the one-second memory of busy clients that servers have by default.
    settings = {"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True, "RATELIMIT_ENABLED": False}
    app = create_app({**settings, "API_AUTH_CACHE_SECONDS": 0})
    app.test_client_class = IsolatedClient
    with app.app_context():
        empty_database()
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_from(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client, email: str, password: str):
    """Sign in through the real form, with its CSRF token; returns the response."""
    token = csrf_from(client.get("/login").get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def csrf_token(client, path: str = "/login") -> str:
    return csrf_from(client.get(path, follow_redirects=True).get_data(as_text=True))
