"""API clients: tokens are shown once at creation; only their SHA-256 is stored."""

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, or_, select, text, update
from sqlalchemy.exc import OperationalError

from app.core import audit
from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.models import ApiClient
from app.core.models.base import utcnow
from app.extensions import db

log = logging.getLogger(__name__)
SCOPES = {
    "orders:read",
    "orders:write",
    "stock:read",
    "stock:write",
    "settings:read",
    "settings:write",
    "products:read",
    "products:write",
    # Store operations on fulfilments (accept, pick, stage, hand over, put back, holds): a POS or a WMS.
    "fulfilments:write",
    # Customer returns taken at a till or received by post, with their refunds to the original payment (read with
    # orders:read).
    "returns:write",
    # Customer service's actions on orders (notes, resent e-mails, cancelled lines, a new address or pickup store,
    # goodwill refunds, complaints flagged and resolved, re-routing, re-shipping, pickup holds): a CRM or a contact
    # centre tool (read with orders:read).
    "customer_service:write",
    # Reports: a store's days in figures (GET /api/v1/reports/daily), for head office's own tools.
    "reports:read",
    # Customers' personal data (docs/PRIVACY.md): a copy of what is held (read), its erasure on request (write).
    "customers:read",
    "customers:write",
}
PREFIX_LENGTH = 8
# last_used_at says "in use lately", not "this very second": it is written at most once a minute per client.
USE_RECORD_INTERVAL = timedelta(seconds=60)
# How long recording a use may wait for a lock before giving up (it is only bookkeeping).
USE_RECORD_LOCK_WAIT_MS = 200
_last_attempt: dict[int, datetime] = {}  # client id -> last time this process tried to record a use
_last_attempt_lock = threading.Lock()


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_api_client(name: str, scopes, *, actor: Actor) -> tuple[ApiClient, str]:
    """Register a system that may call the API; returns the client and its token (shown once)."""
    name = (name or "").strip()
    scopes = {s.strip() for s in scopes if s.strip()}
    if not name:
        raise InvalidInput(N_("A name is required."), field="name")
    if not scopes or scopes - SCOPES:
        raise InvalidInput(
            N_("Unknown scope: %(scopes)s"),
            field="scopes",
            scopes=", ".join(sorted(scopes - SCOPES)) or "-",
        )
    if db.session.scalar(select(ApiClient).where(ApiClient.name == name)):
        raise InvalidInput(N_("This name is already used."), field="name")
    token = "cpt_" + secrets.token_urlsafe(32)
    client = ApiClient(
        name=name, token_prefix=token[:PREFIX_LENGTH], token_hash=_hash(token), scopes=",".join(sorted(scopes))
    )
    db.session.add(client)
    db.session.flush()
    audit.record(actor, "api_client.create", client, None, {"name": name, "scopes": sorted(scopes)})
    return client, token


@dataclass(frozen=True)
class Caller:
    """What a request needs of its API client, detached from any session so a process may keep it a moment."""

    id: int
    name: str
    scopes: str
    last_used_at: datetime | None

    @property
    def scope_set(self) -> set[str]:
        return {s for s in self.scopes.split(",") if s}


_known: dict[str, tuple[float, Caller]] = {}  # token hash -> (monotonic expiry, caller)
KNOWN_MAX = 10_000


def authenticate(token: str, cache_seconds: float = 0) -> Caller | None:
    """The active client holding this token, or None. Reads only: see use_due / record_use for last_used_at.

    cache_seconds > 0 lets this process answer again from memory for that long (a revoked token is refused on
    every process within that time; this process at once), which saves a query on every call of a busy client.
    """
    if not token or not token.startswith("cpt_"):
        return None
    digest, now = _hash(token), time.monotonic()
    known = _known.get(digest)
    if cache_seconds > 0 and known is not None and known[0] > now:
        return known[1]
    row = db.session.execute(
        select(ApiClient.id, ApiClient.name, ApiClient.scopes, ApiClient.last_used_at).where(
            ApiClient.token_hash == digest, ApiClient.active
        )
    ).first()
    if row is None:
        _known.pop(digest, None)
        return None
    caller = Caller(*row)
    if cache_seconds > 0:
        if len(_known) >= KNOWN_MAX:
            _known.clear()
        _known[digest] = (now + cache_seconds, caller)
    return caller


def use_due(client, now: datetime | None = None) -> bool:
    """Whether the client's last_used_at is older than a minute and this process has not tried to update it
    within the minute; when it answers True the attempt is counted, so concurrent requests schedule one write."""
    now = now or utcnow()
    if client.last_used_at is not None and now - client.last_used_at < USE_RECORD_INTERVAL:
        return False
    with _last_attempt_lock:
        attempted = _last_attempt.get(client.id)
        if attempted is not None and now - attempted < USE_RECORD_INTERVAL:
            return False
        _last_attempt[client.id] = now
    return True


def record_use(engine: Engine, client_id: int, now: datetime | None = None) -> bool:
    """Set the client's last_used_at, at most once a minute, in a short transaction of its own.

    Never part of a request's transaction (so a client's requests do not queue on its row), never raises: if the
    row or the SQLite database is busy beyond a short wait, the use is simply not recorded this time. Returns
    whether the row was updated."""
    now = now or utcnow()
    table = ApiClient.__table__
    statement = (
        update(table)
        .where(
            table.c.id == client_id,
            or_(table.c.last_used_at.is_(None), table.c.last_used_at < now - USE_RECORD_INTERVAL),
        )
        # updated_at tells when the client's settings changed, not when it last called.
        .values(last_used_at=now, updated_at=table.c.updated_at)
    )
    try:
        with engine.connect() as connection:
            raw = connection.connection.driver_connection if connection.dialect.name == "sqlite" else None
            previous_wait = None
            if raw is not None:  # the app's 30 s busy_timeout is for real work; this waits briefly, then gives up
                previous_wait = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute(f"PRAGMA busy_timeout={USE_RECORD_LOCK_WAIT_MS}")
            try:
                writer = connection.execution_options(sqlite_immediate=True)
                with writer.begin():
                    if writer.dialect.name == "postgresql":
                        writer.execute(text(f"SET LOCAL lock_timeout = '{USE_RECORD_LOCK_WAIT_MS}ms'"))
                    updated = writer.execute(statement).rowcount
            finally:
                if previous_wait is not None:
                    raw.execute(f"PRAGMA busy_timeout={int(previous_wait)}")
        return bool(updated)
    except OperationalError as error:  # busy beyond the short wait: as designed, recorded another time
        busy = "locked" in str(error) or "lock timeout" in str(error)
        log.log(
            logging.INFO if busy else logging.WARNING,
            "api client %s: last_used_at not recorded (%s)",
            client_id,
            "the database was busy" if busy else error,
        )
        return False
    except Exception as error:  # bookkeeping must never fail the call it describes
        log.warning("api client %s: last_used_at not recorded (%s)", client_id, error)
        return False


def revoke_api_client(client: ApiClient, *, actor: Actor) -> ApiClient:
    """Refuse the client's token from now on; revoking twice changes nothing."""
    _known.pop(client.token_hash, None)
    if client.active:
        client.active = False
        audit.record(actor, "api_client.revoke", client, {"active": True}, {"active": False})
        db.session.flush()
    return client
