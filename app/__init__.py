"""Comptoir: store fulfilment on a shared order and stock core."""

from flask import Flask, abort, request, session
from flask_babel import gettext
from flask_login import current_user
from sqlalchemy import event
from sqlalchemy.engine import Engine
from werkzeug.routing import IntegerConverter

from app.config import check_production, load_config
from app.core.models.base import MAX_ID
from app.extensions import babel, cache_long_statements, csrf, db, htmx, limiter, login_manager, migrate, talisman

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def select_locale() -> str:
    """The user's profile language, else the one chosen this session, else the browser's."""
    languages = ["en", "fr", "it"]
    if current_user and current_user.is_authenticated and current_user.language in languages:
        return current_user.language
    if session.get("language") in languages:
        return session["language"]
    return request.accept_languages.best_match(languages) or "en"


def _is_sqlite(dbapi_connection) -> bool:
    return type(dbapi_connection).__module__.startswith("sqlite3")


@event.listens_for(Engine, "connect")
def _sqlite_pragmas(dbapi_connection, _record):
    if _is_sqlite(dbapi_connection):
        # SQLAlchemy's pysqlite recipe: let SQLAlchemy emit BEGIN itself, so SAVEPOINTs nest
        # inside a real transaction instead of the driver committing on RELEASE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()


@event.listens_for(Engine, "begin")
def _sqlite_begin(connection):
    if connection.dialect.name == "sqlite":
        # A transaction that will write says so up front, so it waits for the lock (busy_timeout)
        # instead of failing when it tries to upgrade a stale read snapshot.
        immediate = connection.get_execution_options().get("sqlite_immediate")
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class DatabaseId(IntegerConverter):
    """An <int:...> URL part that fits the database's integer ids (up to MAX_ID)."""

    def __init__(self, url_map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(url_map, *args, **kwargs)


def create_app(test_config: dict | None = None) -> Flask:
    """Build the application from the environment, optionally overridden for tests."""
    app = Flask(__name__, instance_relative_config=True, template_folder="../templates", static_folder="../static")
    # <int:...> in URLs stops at the largest database id, so a huge number is a 404, never a database error.
    app.url_map.converters["int"] = DatabaseId
    app.config.update(load_config(app.instance_path))
    if test_config:
        app.config.update(test_config)
    check_production(app.config)

    if app.config["PROXY_COUNT"]:
        # Behind a reverse proxy, the client address (used by the login rate limit and the audit
        # trail) and the scheme come from X-Forwarded-* headers set by that many proxies.
        from werkzeug.middleware.proxy_fix import ProxyFix

        n = app.config["PROXY_COUNT"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=n, x_proto=n, x_host=n)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        cache_long_statements()
    from app import health, metrics, observability

    observability.init_app(app)  # first: its request id and timing cover every other hook
    metrics.init_app(app)
    health.init_app(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale, default_translation_directories="translations")
    talisman.init_app(
        app,
        force_https=app.config["FORCE_HTTPS"],
        session_cookie_secure=app.config["SESSION_COOKIE_SECURE"],
        content_security_policy={**CSP, "img-src": CSP["img-src"] + list(app.config["PRODUCT_IMAGE_SOURCES"])},
        strict_transport_security=app.config["FORCE_HTTPS"],
        frame_options="DENY",
        referrer_policy="same-origin",
    )

    @app.before_request
    def refuse_nul_characters():
        """PostgreSQL text cannot hold NUL: refuse such input up front instead of failing in the database."""
        texts = [request.path, *request.args.values(), *request.form.values()]
        body = request.get_data(cache=True) if request.is_json else b""
        if any("\x00" in t for t in texts) or b"\x00" in body or b"\\u0000" in body.lower():
            abort(400, description=gettext("Text must not contain NUL characters."))

    @app.before_request
    def writers_take_the_sqlite_write_lock_first():
        """On SQLite a state-changing request starts with BEGIN IMMEDIATE: concurrent writers then queue
        (busy_timeout) instead of failing on a stale read snapshot. PostgreSQL is unaffected."""
        writes = request.method not in {"GET", "HEAD", "OPTIONS"}
        if writes and db.engine.dialect.name == "sqlite" and not db.session().in_transaction():
            db.session.connection(execution_options={"sqlite_immediate": True})

    @app.after_request
    def call_the_payment_provider_after_commit(response):
        """Captures, voids and refunds the request wrote (and committed) go to the payment provider now, outside
        any transaction; one that fails or times out is left pending for `flask worker`."""
        from app.core import payments

        if db.session.info.get(payments.DUE_KEY):
            payments.run_committed()
        return response

    from app import cli
    from app.api import register_api
    from app.web import register_web

    register_web(app)
    register_api(app)
    cli.register(app)
    from app.core.uow import retrying

    # Every request is one unit of work: a transaction the database aborts as a deadlock runs again.
    app.view_functions.update({name: retrying(view) for name, view in app.view_functions.items()})
    return app
