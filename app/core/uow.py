"""The unit of work: commit once at the boundary, roll back on any error."""

from contextlib import contextmanager

from app.extensions import db


@contextmanager
def unit_of_work(*, writes: bool = False):
    """Commit the session when the block ends normally; roll back when it raises.

    writes=True takes the write lock at the start on SQLite (BEGIN IMMEDIATE), for jobs that read
    then write while other processes write too; PostgreSQL is unaffected.
    """
    try:
        if writes and not db.session().in_transaction():
            db.session.connection(execution_options={"sqlite_immediate": True})
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
