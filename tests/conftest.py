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
from app.api import api
from app.extensions import availability_cache, db

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
    """Compile the catalogues so tests see the same translations as `make` builds.

    Written whole under a temporary name, then renamed, and only when changed: `make test` runs the SQLite and
    PostgreSQL passes side by side, and neither may read a catalogue the other is half-way through writing."""
    import io
    from pathlib import Path

    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    for po_path in Path(__file__).parent.parent.glob("app/translations/*/LC_MESSAGES/messages.po"):
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file)
        compiled = io.BytesIO()
        write_mo(compiled, catalog)
        mo_path = po_path.with_suffix(".mo")
        if not mo_path.exists() or mo_path.read_bytes() != compiled.getvalue():
            scratch = mo_path.with_name(f"{mo_path.name}.{os.getpid()}")
            scratch.write_bytes(compiled.getvalue())
            os.replace(scratch, mo_path)


# Checks whose outcome cannot depend on the database (the HTML the screens send, its accessibility) run in one
# pass of `make test`: the SQLite one, which also runs where PostgreSQL is missing. TEST_ENGINE_INDEPENDENT_ON
# names another engine, or "all" to run them on every engine.
ENGINE_INDEPENDENT_ON = os.environ.get("TEST_ENGINE_INDEPENDENT_ON", "sqlite")


def _runs_engine_independent_checks() -> bool:
    return ENGINE_INDEPENDENT_ON in {ENGINE, "all"}


def pytest_report_header(config):
    once = (
        "run in this pass" if _runs_engine_independent_checks() else f"skipped, run in the {ENGINE_INDEPENDENT_ON} pass"
    )
    return [f"comptoir test database: {ENGINE}", f"engine-independent checks (accessibility, HTML validity): {once}"]


def pytest_collection_modifyitems(config, items):
    if _runs_engine_independent_checks():
        return
    reason = (
        f"engine-independent (the HTML does not depend on the database): run once, in the {ENGINE_INDEPENDENT_ON} "
        "pass (TEST_ENGINE_INDEPENDENT_ON=all runs it on every engine)"
    )
    for item in items:
        if item.get_closest_marker("engine_independent"):
            item.add_marker(pytest.mark.skip(reason=reason))


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


# A table whose file is bigger than this is truncated rather than deleted from (PostgreSQL).
BIG_TABLE_BYTES = 1 << 20


def empty_database() -> None:
    """Delete every row and restart the ids, in one transaction.

    On PostgreSQL a TRUNCATE of the 35 tables recreates their files and costs about a second a test, where
    deleting the few rows a test wrote costs milliseconds; but deleted rows stay in the file until a vacuum,
    and a test that analyses a long history would then plan over the previous test's dead rows: the tables
    that grew past BIG_TABLE_BYTES are truncated."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]  # children first, for the foreign keys
    connection = db.session.connection()
    if connection.dialect.name == "postgresql":
        big = connection.exec_driver_sql(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relnamespace = 'public'::regnamespace"
            f" AND pg_relation_size(oid) > {BIG_TABLE_BYTES}"
        ).scalars()
        big = sorted(set(big) & set(tables))
        statements = ["TRUNCATE " + ", ".join(f'"{t}"' for t in big) + " CASCADE"] if big else []
        statements += [f'DELETE FROM "{t}"' for t in tables if t not in big]
        statements.append("SELECT setval(oid, 1, false) FROM pg_class WHERE relkind = 'S'")  # RESTART IDENTITY
        connection.exec_driver_sql("; ".join(statements))
    else:  # SQLite: no AUTOINCREMENT, so an emptied table numbers its rows from 1 again
        for name in tables:
            connection.exec_driver_sql(f'DELETE FROM "{name}"')
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


# Each request checks its token in the database (tests count statements); tests/api/test_api_auth_cache.py
# covers the one-second memory of busy clients that servers have by default.
# Passwords are hashed with a cheap method here (scrypt costs 0.1 s a hash or a check, and the suite signs people in
# by the thousand); tests/web/test_auth.py checks that an application built from the environment uses scrypt.
TEST_SETTINGS = {
    "TESTING": True,
    "RATELIMIT_ENABLED": False,
    "API_AUTH_CACHE_SECONDS": 0,
    "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
}


def _structure(app) -> tuple:
    """What a test could add to an application (routes, hooks, handlers, template globals), to notice it did."""
    hooks = (
        app.before_request_funcs,
        app.after_request_funcs,
        app.teardown_request_funcs,
        app.teardown_appcontext_funcs,
        app.url_value_preprocessors,
        app.url_default_functions,
        app.template_context_processors,
        app.error_handler_spec,
    )
    return (
        tuple((name, id(view)) for name, view in app.view_functions.items()),
        len(app.url_map._rules),
        tuple(app.blueprints),
        tuple(app.extensions),
        repr(hooks),
        tuple(app.jinja_env.globals),
        tuple(app.jinja_env.filters),
        app.test_client_class,
        app.json,
    )


class SharedApp:
    """One application for the tests of a run (building one costs a tenth of a second, and a new engine
    compiles every statement again); each test gets a fresh application context on it, an empty database,
    an empty availability cache and the settings it started with. A test that adds routes or hooks gets
    them on a new application from the next test on, so no test sees another's additions; so does the
    test after one that built its own application."""

    def __init__(self, database_url: str):
        self.database_url, self.app, self.built = database_url, None, None

    def get(self):
        if self.app is not None and api._app is not self.app:
            # Another application was built since (a test's own create_app): the extensions that keep their
            # settings on themselves (rate limiter, Talisman, the OpenAPI document) now serve that one.
            self.discard()
        if self.app is None:
            self.app = create_app({"SQLALCHEMY_DATABASE_URI": self.database_url, **TEST_SETTINGS})
            self.app.test_client_class = IsolatedClient
            self.built = _structure(self.app)
        self.app._got_first_request = False  # a test may still add routes or hooks (then see discard below)
        return self.app

    def discard(self) -> None:
        if self.app is not None:
            with self.app.app_context():
                db.engine.dispose()
            self.app = None


@pytest.fixture(scope="session")
def shared_app(database_url):
    shared = SharedApp(database_url)
    yield shared
    shared.discard()


@pytest.fixture
def app(shared_app):
    app = shared_app.get()
    config = app.config.copy()
    with app.app_context():
        empty_database()
        availability_cache.clear()
        yield app
        db.session.remove()
        if db.engine.pool.checkedout():  # a connection a test left open (a thread, a raw connection)
            db.engine.dispose()
    app.config.clear()
    app.config.update(config)
    if _structure(app) != shared_app.built:
        shared_app.discard()


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
