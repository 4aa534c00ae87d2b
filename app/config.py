"""Configuration read from the environment; production refuses an insecure setup."""

import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from limits import parse


class ConfigError(RuntimeError):
    """The environment does not describe a configuration we are willing to run."""


def _secret_key(instance_path: Path) -> str:
    """Return SECRET_KEY from the environment, else one generated once into instance/."""
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    key_file = instance_path / "secret_key"
    if not key_file.exists():
        instance_path.mkdir(parents=True, exist_ok=True)
        fd = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return key_file.read_text().strip()


def _database_url(instance_path: Path) -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        instance_path.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{instance_path / 'comptoir.sqlite3'}"
    if url.startswith("postgres://"):
        url = "postgresql+psycopg://" + url[len("postgres://") :]
    elif url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def _flag(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _rate(name: str, default: str) -> str:
    """A rate such as "5 per 5 minutes" from the environment, refused at start-up when it is not one."""
    value = os.environ.get(name) or default
    try:
        parse(value)
    except ValueError:
        raise ConfigError(f"{name} must be a rate such as '5 per 5 minutes', not {value!r}") from None
    return value


DEFAULT_PUBLIC_URL = "http://127.0.0.1:8000"
# How customer text messages leave (app.core.integration.sms): "log" writes a line per message in the log and sends
# nothing, "test" keeps them in memory for the tests, "none" leaves them pending; "package.module:factory" names a
# provider's sender (see SmsSender there).
SMS_SENDERS = ("log", "test", "none")


def _public_url() -> str:
    """The address customers reach the app at (links in e-mails and text messages, built outside any request):
    scheme and host, optionally a path prefix, never a query or credentials; the trailing slash dropped."""
    value = (os.environ.get("PUBLIC_URL") or DEFAULT_PUBLIC_URL).strip()
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - a port that is not a number raises here
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in {"http", "https"}
        or not parts.hostname
        or parts.username is not None
        or parts.query
        or parts.fragment
        or any(c.isspace() for c in value)
    ):
        raise ConfigError(f"PUBLIC_URL must be an http(s) address such as https://comptoir.example.com, not {value!r}")
    return value.rstrip("/")


def _sms_sender() -> str:
    value = (os.environ.get("SMS_SENDER") or "log").strip()
    if value not in SMS_SENDERS and ":" not in value:
        raise ConfigError(f"SMS_SENDER must be log, test, none or package.module:factory, not {value!r}")
    return value


def _payment_providers() -> dict:
    """PAYMENT_PROVIDERS="name=package.module:Adapter,other=...": the PSP adapters beside the built-in `test` one
    (app.core.payments.providers says what an adapter does); an order's payment.provider picks one by name."""
    providers = {}
    for item in (os.environ.get("PAYMENT_PROVIDERS") or "").split(","):
        if not item.strip():
            continue
        name, _, path = item.partition("=")
        if not name.strip() or ":" not in path:
            raise ConfigError(f"PAYMENT_PROVIDERS takes name=package.module:Adapter items, not {item.strip()!r}")
        providers[name.strip()] = path.strip()
    return providers


# The largest body any request may send. The biggest the API schemas allow is a batch of 10,000 stock movements:
# 1.2 MB with everyday codes, 4.7 MB (5.1 MB indented) with every text at its longest; an order of 200 lines is
# under 100 KB. 6 MiB takes all of that and stops a client from making a worker read and parse more.
MAX_CONTENT_LENGTH = 6 * 2**20
# Per API client token. Reads: a web shop shows availability on every product and basket page, hundreds a second
# at peak; the availability endpoint serves well over a thousand a second on two cores, so one client may use a
# good share of a node but not all of it. Writes (orders, counts, movement batches of up to 10,000 rows): 50 a
# second is 180,000 an hour, far above a retailer's peak orders or POS sales, while one runaway client cannot take
# more than about half of what a node captures. API_RATE_LIMIT, the single limit of earlier versions, still
# works: it is the write limit when API_WRITE_RATE_LIMIT is not set.
API_READ_RATE_LIMIT = "300 per second"
API_WRITE_RATE_LIMIT = "50 per second"
# Wrong passwords: five in a row lock that account at that address for up to five minutes.
LOGIN_RATE_LIMIT = "5 per 5 minutes"
LOGIN_ADDRESS_RATE_LIMIT = "50 per 5 minutes"


def _metrics_allow() -> str:
    import ipaddress

    value = os.environ.get("METRICS_ALLOW", "")
    for item in value.replace(",", " ").split():
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            raise ConfigError(f"METRICS_ALLOW takes addresses or networks such as 10.0.0.0/8, not {item!r}") from None
    return value


def _several_processes() -> bool:
    """Whether more than one process serves: gunicorn's GUNICORN_WORKERS (unset: gunicorn.conf.py's default, which
    is several), or COMPTOIR_MULTI_PROCESS=true (several app servers)."""
    workers = (os.environ.get("GUNICORN_WORKERS") or "").strip()
    return _flag("COMPTOIR_MULTI_PROCESS", False) or workers != "1"


def load_config(instance_path: str) -> dict:
    """Build the Flask config from environment variables."""
    path = Path(instance_path)
    env = os.environ.get("COMPTOIR_ENV", "development")
    if env not in {"development", "production"}:
        raise ConfigError(f"COMPTOIR_ENV must be 'development' or 'production', not {env!r}")
    production = env == "production"
    url = _database_url(path)
    # hide_parameters: a database error's text (logged by the worker, the retries) names the statement, never the
    # values bound to it (customers' names, e-mails, addresses: docs/PRIVACY.md).
    engine_options = {"pool_pre_ping": True, "hide_parameters": True}
    if url.startswith("postgresql"):
        # A database that does not answer (a network partition) fails a connection after this, instead of holding
        # a request (and /readyz) for the operating system's minutes.
        engine_options["connect_args"] = {"connect_timeout": int(os.environ.get("DATABASE_CONNECT_TIMEOUT", "10"))}
    if url.startswith("sqlite"):
        engine_options = {"connect_args": {"timeout": 30}, "hide_parameters": True}
    return {
        "COMPTOIR_ENV": env,
        "SECRET_KEY": _secret_key(path),
        "SQLALCHEMY_DATABASE_URI": url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "SESSION_COOKIE_HTTPONLY": True,
        # Shared tablets: a sign-in lasts one working day, not the Flask default of a month.
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=int(os.environ.get("SESSION_HOURS", "12"))),
        # A shared device's shift: from its full-password sign-in, badge and PIN switches for this long.
        "SHIFT_LENGTH": timedelta(hours=int(os.environ.get("SHIFT_HOURS", "12"))),
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "REMEMBER_COOKIE_SECURE": _flag("SESSION_COOKIE_SECURE", production),
        "FORCE_HTTPS": _flag("FORCE_HTTPS", False),
        "PROXY_COUNT": int(os.environ.get("PROXY_COUNT", "0") or 0),
        "WTF_CSRF_TIME_LIMIT": None,
        "WTF_CSRF_HEADERS": ["X-CSRFToken"],
        "RATELIMIT_STORAGE_URI": os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        # Wrong passwords per client address and account (a mistyping associate does not lock the store's other
        # tablets behind the same address), and a much higher ceiling per address against spraying many accounts.
        # Counted in RATELIMIT_STORAGE_URI when it is shared (redis://), else in the database: every worker alike.
        "LOGIN_RATE_LIMIT": _rate("LOGIN_RATE_LIMIT", LOGIN_RATE_LIMIT),
        "LOGIN_ADDRESS_RATE_LIMIT": _rate("LOGIN_ADDRESS_RATE_LIMIT", LOGIN_ADDRESS_RATE_LIMIT),
        "RATELIMIT_ENABLED": _flag("RATELIMIT_ENABLED", True),
        "API_READ_RATE_LIMIT": os.environ.get("API_READ_RATE_LIMIT") or API_READ_RATE_LIMIT,
        "API_WRITE_RATE_LIMIT": (
            os.environ.get("API_WRITE_RATE_LIMIT") or os.environ.get("API_RATE_LIMIT") or API_WRITE_RATE_LIMIT
        ),
        # A busy client's token is checked against the database at most once a second per process (0: every call).
        "API_AUTH_CACHE_SECONDS": float(os.environ.get("API_AUTH_CACHE_SECONDS", "1") or 0),
        # The store board (app.web.board): its snapshot is computed again when older than this many seconds even if
        # the store's open work did not change (what changes with time alone: who works now, what became overdue).
        "BOARD_SNAPSHOT_MAX_AGE": float(os.environ.get("BOARD_SNAPSHOT_MAX_AGE", "60") or 0),
        # Rendered live parts of the board kept per process (one per store, language and snapshot; 0: none).
        "BOARD_FRAGMENT_CACHE_SIZE": int(os.environ.get("BOARD_FRAGMENT_CACHE_SIZE", "32") or 0),
        "MAX_CONTENT_LENGTH": MAX_CONTENT_LENGTH,
        # Where the product images of the catalogue (image_url) may be loaded from by the screens, as CSP img-src
        # sources: "https:" (any HTTPS address, the PIM's CDN) unless narrowed, e.g. "https://cdn.example.com".
        "PRODUCT_IMAGE_SOURCES": (os.environ.get("PRODUCT_IMAGE_SOURCES") or "https:").split(),
        "SMTP_HOST": os.environ.get("SMTP_HOST", ""),
        "SMTP_PORT": int(os.environ.get("SMTP_PORT", "25")),
        "SMTP_USER": os.environ.get("SMTP_USER", ""),
        "SMTP_PASSWORD": os.environ.get("SMTP_PASSWORD", ""),
        "SMTP_FROM": os.environ.get("SMTP_FROM", "comptoir@localhost"),
        "SMTP_STARTTLS": _flag("SMTP_STARTTLS", False),
        "PUBLIC_URL": _public_url(),
        "SMS_SENDER": _sms_sender(),
        "PAYMENT_PROVIDERS": _payment_providers(),
        # /metrics (app.metrics): on unless METRICS_ENABLED=false; a scraper shows the bearer token METRICS_TOKEN or
        # comes from an address of METRICS_ALLOW (addresses or networks, e.g. "10.0.0.0/8 127.0.0.1").
        "METRICS_ENABLED": _flag("METRICS_ENABLED", True),
        "METRICS_TOKEN": os.environ.get("METRICS_TOKEN", ""),
        "METRICS_ALLOW": _metrics_allow(),
        "BABEL_DEFAULT_LOCALE": "en",
        "BABEL_DEFAULT_TIMEZONE": "UTC",
        "LANGUAGES": {"en": "English", "fr": "Français", "it": "Italiano"},
    }


def check_production(config: dict) -> None:
    """Refuse to start in production with a configuration that is not safe, saying why."""
    if config.get("COMPTOIR_ENV") != "production":
        return
    problems = []
    if not os.environ.get("SECRET_KEY") or len(os.environ["SECRET_KEY"]) < 32:
        problems.append("SECRET_KEY must be set in the environment, at least 32 characters")
    if not os.environ.get("DATABASE_URL"):
        problems.append("DATABASE_URL must be set explicitly")
    if not config.get("SESSION_COOKIE_SECURE"):
        problems.append("SESSION_COOKIE_SECURE must stay on (serve over HTTPS)")
    if config.get("DEBUG") or _flag("FLASK_DEBUG", False):
        problems.append("DEBUG must be off (FLASK_DEBUG too)")
    several = _several_processes()
    if str(config.get("SQLALCHEMY_DATABASE_URI", "")).startswith("sqlite") and several:
        problems.append("SQLite serves one process only: use PostgreSQL, or set GUNICORN_WORKERS=1")
    if config.get("METRICS_ENABLED", True):
        token = config.get("METRICS_TOKEN") or ""
        if token and len(token) < 32:
            problems.append("METRICS_TOKEN must be at least 32 characters")
        elif not token and not config.get("METRICS_ALLOW"):
            problems.append("/metrics needs METRICS_TOKEN or METRICS_ALLOW (or METRICS_ENABLED=false)")
    public_url = urlsplit(config.get("PUBLIC_URL") or "")
    if not os.environ.get("PUBLIC_URL"):
        problems.append("PUBLIC_URL must be set (the https address customers open the links of their e-mails at)")
    elif public_url.scheme != "https" or public_url.hostname in {"localhost", "127.0.0.1", "::1"}:
        problems.append("PUBLIC_URL must be the public https address of the app, not a local or http one")
    if config.get("SMS_SENDER") == "test":
        problems.append("SMS_SENDER=test keeps text messages in memory: choose log, none or a provider")
    if config.get("RATELIMIT_STORAGE_URI", "").startswith("memory://") and several:
        problems.append(
            "RATELIMIT_STORAGE_URI must point to a shared store (redis://) with several processes "
            "(GUNICORN_WORKERS other than 1, or COMPTOIR_MULTI_PROCESS=true)"
        )
    if problems:
        raise ConfigError("Refusing to start in production: " + "; ".join(problems))
