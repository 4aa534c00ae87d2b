"""The unit of work: commit once at the boundary, roll back on any error, retry what the database aborted."""

import logging
import random
import time
from contextlib import contextmanager
from functools import wraps

from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm.exc import StaleDataError

from app.core.errors import ConcurrentChange
from app.extensions import db

log = logging.getLogger(__name__)
# PostgreSQL aborts one of two transactions that wait on each other (deadlock_detected) or that cannot both be
# serialised (serialization_failure): the aborted one did nothing and may simply run again.
RETRYABLE_SQLSTATES = {"40P01", "40001"}
ATTEMPTS = 5


@contextmanager
def unit_of_work(*, writes: bool = False, keep_loaded: bool = False):
    """Commit the session when the block ends normally; roll back when it raises.

    writes=True takes the write lock at the start on SQLite (BEGIN IMMEDIATE), for jobs that read
    then write while other processes write too; PostgreSQL is unaffected.
    keep_loaded=True keeps what the block loaded and wrote usable after the commit without reloading
    it (for hot paths such as scans, whose answer shows exactly what was just written).
    """
    session = db.session()
    try:
        if writes and not session.in_transaction():
            db.session.connection(execution_options={"sqlite_immediate": True})
        yield db.session
        if keep_loaded:
            session.expire_on_commit = False
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
    finally:
        session.expire_on_commit = True


def begin_for_writes() -> None:
    """Start the next transaction as a writer (BEGIN IMMEDIATE on SQLite) when none is under way: for a request that
    committed part of its work and writes again (its Idempotency-Key's record), so that it waits for the write lock
    instead of failing at once on a stale read snapshot ("database is locked"). PostgreSQL is unaffected."""
    if db.engine.dialect.name == "sqlite" and not db.session().in_transaction():
        db.session.connection(execution_options={"sqlite_immediate": True})


def transaction_cache(name: str) -> dict:
    """A dict that lives as long as the current transaction (or savepoint): what it holds is true until then."""
    session = db.session()
    session.connection()  # begins the transaction if none is under way, so the key below is never None
    transaction = session.get_nested_transaction() or session.get_transaction()
    held = session.info.get(name)
    if held is None or held[0] is not transaction:
        held = (transaction, {})
        session.info[name] = held
    return held[1]


def is_retryable(error: DBAPIError) -> bool:
    """Whether the database aborted the transaction only because of another one (deadlock, serialisation, busy)."""
    orig = getattr(error, "orig", None)
    if getattr(orig, "sqlstate", None) in RETRYABLE_SQLSTATES:
        return True
    return type(orig).__module__.startswith("sqlite3") and "database is locked" in str(orig)


def retrying(work, attempts: int = ATTEMPTS):
    """Run a request (or job) again, from scratch, when the database aborted its transaction as a deadlock or a
    serialisation failure, a bounded number of times with random backoff; a concurrent change of a versioned
    row (StaleDataError) becomes the domain's ConcurrentChange (409), never a crash."""

    @wraps(work)
    def wrapped(*args, **kwargs):
        for attempt in range(1, attempts + 1):
            try:
                return work(*args, **kwargs)
            except DBAPIError as error:
                db.session.rollback()
                if attempt == attempts or not is_retryable(error):
                    raise
                log.warning("transaction aborted (%s), attempt %s of %s: retrying", error.orig, attempt, attempts)
                time.sleep(random.uniform(0.005, 0.02 * 2**attempt))
            except StaleDataError as error:
                db.session.rollback()
                raise ConcurrentChange() from error
        raise AssertionError("unreachable")

    wrapped.retries_aborted_transactions = True
    return wrapped
