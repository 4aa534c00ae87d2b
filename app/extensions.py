"""Flask extensions, created unbound and initialised in create_app."""

from flask_babel import Babel
from flask_caching import Cache
from flask_htmx import HTMX
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from flask_talisman import Talisman
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData

# Named constraints so Alembic migrations are stable on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING))
migrate = Migrate()
login_manager = LoginManager()
csrf = CSRFProtect()
babel = Babel()
htmx = HTMX()
limiter = Limiter(key_func=get_remote_address, default_limits=[])
talisman = Talisman()
# Availability answers kept AVAILABILITY_CACHE_SECONDS; initialised with the availability API (init_cache).
availability_cache = Cache()


def cache_long_statements(limit: int = 16384) -> None:
    """Let psycopg keep its conversion of statements up to `limit` characters (its default: 4,096).

    psycopg converts each statement's `%(name)s` placeholders to PostgreSQL's `$n` with a regular expression and
    keeps the result (an LRU of 128) only for statements under 4,096 characters, a guard against ORM-generated text
    that varies with its number of rows. Ours are built once per shape and keep the same text: sourcing's first look
    (app.core.ordering.sourcing._first_look_statement) is 5,800-7,400 characters and was converted again for every
    order, about 1 ms of Python an order on the large chain. Only the threshold changes: a statement longer than this,
    or with more than 50 parameters, is still converted every time."""
    try:
        from psycopg import _queries
    except ImportError:  # no psycopg (SQLite alone), or a psycopg whose internals moved: the default stays
        return
    if getattr(_queries, "MAX_CACHED_STATEMENT_LENGTH", limit) < limit:
        _queries.MAX_CACHED_STATEMENT_LENGTH = limit
