"""The unit of work: commit once at the boundary, roll back on any error."""

from contextlib import contextmanager

from app.extensions import db


@contextmanager
def unit_of_work():
    """Commit the session when the block ends normally; roll back when it raises."""
    try:
        yield db.session
        db.session.commit()
    except BaseException:
        db.session.rollback()
        raise
