"""Rows written together at the end of one operation, as one multi-row Core INSERT per table.

Order capture appends many rows that nothing reads back in the same operation: audit rows, outbox events (and
their webhook deliveries), ledger rows, reservations, the sourcing decision, the payment authorisation and the
messages to the customer. Through the ORM each costs an object, its instrumentation and the unit of work's
bookkeeping at flush time, more Python than the statements themselves. Inside `rows_written_together()`, the
functions that write them (audit.record, events.emit, stock's ledger and reservations, sourcing's decision,
payments.record_authorisation, customer_messages.send) hand plain rows to the batch instead, and the batch writes
them when the block ends: the same rows, in the same order (ids in the order they were appended), in the same
transaction, before the caller commits. Outside such a block they go through the session as always.

While a block is open those rows are not in the database yet: code inside it must not read them back (order
capture does not). The functions return None for a row written later instead of the ORM object.
"""

from contextlib import contextmanager

from sqlalchemy import insert

from app.extensions import db

_KEY = "rows_written_together"


class Batch:
    def __init__(self):
        self.rows: dict = {}  # Table -> [row dict], in the order appended (the first table first)
        self.deliveries: list = []  # (outbox row, [subscription id]): webhook deliveries, written after the events

    def add(self, model, row: dict) -> None:
        self.rows.setdefault(model.__table__, []).append(row)

    def deliver(self, model, row: dict, subscription_ids: list[int]) -> None:
        """An outbox event that subscriptions want: its deliveries are written once its id is known."""
        self.add(model, row)
        self.deliveries.append((row, subscription_ids))

    def write(self) -> None:
        from app.core.models import WebhookDelivery

        ids: dict = {}
        connection = db.session.connection()  # plain Core statements: the session's ORM execution adds nothing here
        wanted = {id(row) for row, _ in self.deliveries}
        for table, rows in self.rows.items():
            for group in _same_keys(rows):
                if any(id(row) in wanted for row in group):
                    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
                    for row, new_id in zip(group, connection.execute(stmt, group).scalars(), strict=True):
                        ids[id(row)] = new_id
                else:
                    connection.execute(insert(table), group)
        deliveries = [
            {"event_id": ids[id(row)], "subscription_id": subscription_id}
            for row, subscription_ids in self.deliveries
            for subscription_id in subscription_ids
        ]
        if deliveries:
            connection.execute(insert(WebhookDelivery.__table__), deliveries)
        self.rows, self.deliveries = {}, []


def _same_keys(rows: list[dict]):
    """Runs of consecutive rows with the same columns (one executemany each), in order."""
    run, keys = [], None
    for row in rows:
        if keys is not None and row.keys() != keys:
            yield run
            run = []
        run.append(row)
        keys = row.keys()
    if run:
        yield run


def pending() -> Batch | None:
    """The batch of the block under way, if any: writers append their rows to it instead of the session."""
    return db.session().info.get(_KEY)


@contextmanager
def rows_written_together():
    """Collect the rows the block's writers append, and write them, one INSERT per table, when it ends normally
    (what it raised leaves nothing written). A block inside another one adds to the outer batch."""
    session = db.session()
    if session.info.get(_KEY) is not None:
        yield session.info[_KEY]
        return
    batch = session.info[_KEY] = Batch()
    try:
        yield batch
        del session.info[_KEY]  # the writes below are not batched again
        batch.write()
    finally:
        session.info.pop(_KEY, None)
