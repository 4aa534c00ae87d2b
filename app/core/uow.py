"""The unit of work: commit once at the boundary, roll back on any error."""

from contextlib import contextmanager

from app.extensions import db


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
