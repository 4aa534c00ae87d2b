"""The request boundary: a transaction the database aborts as a deadlock runs again; a stale version is a 409."""

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm.exc import StaleDataError

from app.core import uow
from app.core.errors import ConcurrentChange


class PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__(f"sqlstate {sqlstate}")
        self.sqlstate = sqlstate


def _aborted(sqlstate):
    return OperationalError("UPDATE stock_level ...", {}, PgError(sqlstate))


@pytest.fixture
def no_sleep(monkeypatch):
    monkeypatch.setattr(uow.time, "sleep", lambda seconds: None)


@pytest.mark.parametrize("sqlstate", ["40P01", "40001"])
def test_a_deadlock_or_serialisation_failure_runs_the_work_again(app, no_sleep, sqlstate):
    calls = []

    @uow.retrying
    def work():
        calls.append(1)
        if len(calls) < 3:
            raise _aborted(sqlstate)
        return "done"

    assert work() == "done"
    assert len(calls) == 3


def test_retries_are_bounded_and_the_last_error_is_raised(app, no_sleep):
    calls = []

    @uow.retrying
    def work():
        calls.append(1)
        raise _aborted("40P01")

    with pytest.raises(OperationalError):
        work()
    assert len(calls) == uow.ATTEMPTS


def test_other_database_errors_are_not_retried(app, no_sleep):
    calls = []

    @uow.retrying
    def work():
        calls.append(1)
        raise IntegrityError("INSERT ...", {}, PgError("23505"))

    with pytest.raises(IntegrityError):
        work()
    assert len(calls) == 1


def test_a_stale_version_becomes_a_conflict_not_a_crash(app):
    @uow.retrying
    def work():
        raise StaleDataError("UPDATE statement on table 'fulfilment' expected to update 1 row(s); 0 were matched.")

    with pytest.raises(ConcurrentChange) as refused:
        work()
    assert refused.value.http_status == 409


def test_every_route_runs_inside_the_retrying_boundary(app):
    unwrapped = [
        name for name, view in app.view_functions.items() if not getattr(view, "retries_aborted_transactions", False)
    ]
    assert unwrapped == []
