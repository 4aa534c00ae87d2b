"""Positions in commit order for append-only tables that clients follow with a cursor (the outbox, the ledger).

A row's id is taken when it is written, so a transaction that took a lower id can commit after one that took a
higher id; a client that had already read the higher id would never see the lower one. Positions are given after
commit instead, one run at a time: each run numbers the committed rows that have none, in id order, after the
highest position given so far, and commits. So the positions any reader can see are always 1..N with no gap that
a later commit could fill, and a client that asks for positions above the last one it read gets every row exactly
once, in commit order.
"""

from collections.abc import Callable

from sqlalchemy import Connection, Table, exists, func, select, text

from app.extensions import db


def number_committed(
    table: Table, lock_key: int, after_numbering: Callable[[Connection, int, int], None] | None = None
):
    """Give positions, in commit order, to the committed rows of `table` that have none; returns how many.

    Runs in a short transaction on a connection of its own and commits, whatever the caller's session is doing:
    a reader that starts a snapshot afterwards sees the new positions. Runs of one table take turns: on PostgreSQL
    behind pg_advisory_xact_lock(lock_key), after which a new statement (READ COMMITTED: a fresh snapshot) sees
    every row committed until then, including the positions the previous run gave; on SQLite behind the write lock
    (BEGIN IMMEDIATE). Rows of transactions still in flight are not visible yet, and get a higher position in a
    later run, once committed.

    after_numbering(connection, first, last) runs in the same transaction when the run numbered positions
    first..last: what it writes commits with the positions, or not at all.
    """
    engine = db.engine
    position = table.c.position
    with engine.connect() as connection:
        # Most calls find nothing to do: look first, without taking any lock (the position index holds NULLs).
        if not connection.scalar(select(exists().where(position.is_(None)))):
            connection.rollback()
            return 0
        connection.rollback()
        connection = connection.execution_options(sqlite_immediate=True)
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key})
            base = connection.scalar(select(func.coalesce(func.max(position), 0)))
            # One statement: what it numbers is what had committed when it started, nothing after.
            numbered = connection.execute(
                text(
                    f"""
                    UPDATE {table.name} SET position = :base + numbered.rn
                    FROM (
                        SELECT id, row_number() OVER (ORDER BY id) AS rn FROM {table.name} WHERE position IS NULL
                    ) AS numbered
                    WHERE {table.name}.id = numbered.id
                    """  # noqa: S608 - the table name comes from our own metadata, never from input
                ),
                {"base": base},
            ).rowcount
            if numbered and after_numbering is not None:
                after_numbering(connection, base + 1, base + numbered)
            return numbered
