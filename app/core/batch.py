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

On PostgreSQL the whole batch is one statement: each table's rows go in as one JSON parameter
(`INSERT ... SELECT FROM json_populate_recordset(...) WITH ORDINALITY ORDER BY ordinality`), every table an INSERT in
a CTE, and the webhook deliveries join the ids the outbox INSERT returns. Its text depends only on which tables and columns are
written, not on how many rows, so it is built once per shape and the server plans it once per connection: an order
capture sends one statement instead of one per table (and one execution per row) for these rows.

The rows an operation does read back (the order, its fulfilments and their lines) are written by `inserted` and
`inserted_with_lines` instead: Core INSERTs RETURNING every column, made ORM objects by `as_loaded` as the ORM's
loader would make them, at about half the Python of the ORM's own INSERT ... RETURNING.
"""

import json
from contextlib import contextmanager
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache

from sqlalchemy import bindparam, column, insert, inspect, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

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
        if not self.rows:
            return
        connection = db.session.connection()  # plain Core statements: the session's ORM execution adds nothing here
        runs = {table: list(_same_keys(rows)) for table, rows in self.rows.items()}
        if (
            connection.dialect.name == "postgresql"
            and all(len(r) == 1 for r in runs.values())
            and all(table.c[key].name == key for table, rows in self.rows.items() for key in rows[0])
        ):
            self._write_at_once(connection)
        else:
            self._write_per_table(connection)
        self.rows, self.deliveries = {}, []

    def _write_at_once(self, connection) -> None:
        """Every row in one statement (PostgreSQL): see the module's docstring."""
        tables = list(self.rows)
        events = None  # the outbox table, when its rows have webhook deliveries
        if self.deliveries:
            first = self.deliveries[0][0]
            events = next(i for i, t in enumerate(tables) if any(row is first for row in self.rows[t]))
        shape, params = [], {}
        for i, table in enumerate(tables):
            rows = _with_defaults(table, self.rows[table])
            shape.append((table, (*rows[0],)))
            params[f"t{i}"] = _json(rows)
        if events is not None:
            position = {id(row): n for n, row in enumerate(self.rows[tables[events]], start=1)}
            delivery = _delivery_defaults()
            params["deliveries"] = _json(
                [
                    {"event_id": position[id(row)], "subscription_id": sub, **delivery}
                    for row, subs in self.deliveries
                    for sub in subs
                ]
            )
        connection.execute(_statement(tuple(shape), events), params)

    def _write_per_table(self, connection) -> None:
        from app.core.models import WebhookDelivery

        ids: dict = {}
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


def _defaulted(table, row: dict) -> tuple:
    """The columns a row leaves to their Python-side default (an INSERT ... SELECT gets no defaults of its own)."""
    return tuple(c.key for c in table.c if c.default is not None and c.key not in row and not c.primary_key)


def _with_defaults(table, rows: list[dict], given: tuple = ()) -> list[dict]:
    """The rows with every column they (and `given`, columns filled in SQL) leave to a Python-side default set to
    it, each default taken once for all of them, as one INSERT would take it."""
    defaulted = _defaulted(table, {**dict.fromkeys(given), **rows[0]}) if rows else ()
    if not defaulted:
        return rows
    values = {key: _default(table.c[key]) for key in defaulted}
    return [{**row, **values} for row in rows]


def _default(column):
    default = column.default
    return default.arg(None) if default.is_callable else default.arg


def _delivery_defaults() -> dict:
    """A new webhook delivery's columns other than its event and subscription, as the model's defaults give them."""
    from app.core.models import WebhookDelivery

    table = WebhookDelivery.__table__
    return {key: _default(table.c[key]) for key in _defaulted(table, {"event_id": 0, "subscription_id": 0})}


def _json_value(value):
    if isinstance(value, datetime):
        if value.tzinfo is None:  # as UTCDateTime refuses them
            raise ValueError("naive datetime given; use timezone-aware UTC datetimes")
        return value.astimezone(UTC).isoformat()
    if isinstance(value, Decimal | date):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not written by a batch")


def _json(rows: list[dict]) -> str:
    return json.dumps(rows, default=_json_value, separators=(",", ":"))


@cache
def _statement(shape: tuple, events: int | None):
    """The one statement that writes a batch of this shape ((table, columns) in order) on PostgreSQL; `events`: the
    index of the outbox table whose rows have webhook deliveries (None: no deliveries).

    Each table's rows are one JSON parameter, read into rows of the table's own type by json_populate_recordset (so
    every value is converted to its column's type by PostgreSQL), inserted in the order given (WITH ORDINALITY)."""
    quote = db.engine.dialect.identifier_preparer.quote
    ctes = []
    for i, (table, keys) in enumerate(shape):
        columns = ", ".join(quote(key) for key in keys)
        name = quote(table.name)
        returning = " RETURNING id" if i == events else ""
        ctes.append(
            f"t{i} AS (INSERT INTO {name} ({columns}) SELECT {columns} "  # noqa: S608 (our tables' names, quoted)
            f"FROM json_populate_recordset(NULL::{name}, CAST(:t{i} AS json)) WITH ORDINALITY "
            f"ORDER BY ordinality{returning})"
        )
    if events is None:
        return text(f"WITH {', '.join(ctes)} SELECT 1")  # PostgreSQL runs every INSERT in WITH, read or not
    # The events' ids in ascending order are their rows in the order given (one INSERT ... ORDER BY ordinality): the
    # n-th smallest id is the n-th row, which each delivery names in its event_id until it is joined.
    from app.core.models import WebhookDelivery

    table = WebhookDelivery.__table__
    keys = ["event_id", "subscription_id", *_delivery_defaults()]
    columns = ", ".join(quote(key) for key in keys)
    values = ", ".join(["e.id"] + [f"d.{quote(key)}" for key in keys[1:]])
    return text(
        f"WITH {', '.join(ctes)} INSERT INTO {quote(table.name)} ({columns}) SELECT {values} "  # noqa: S608 (as above)
        f"FROM json_populate_recordset(NULL::{quote(table.name)}, CAST(:deliveries AS json)) WITH ORDINALITY AS d "
        f"JOIN (SELECT id, row_number() OVER (ORDER BY id) AS n FROM t{events}) AS e ON e.n = d.event_id "
        "ORDER BY d.ordinality"
    )


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


def inserted(model, rows: list[dict], *, skip_conflicts_on: tuple | None = None, flush: bool = True) -> list:
    """INSERT a model's rows (one Core statement RETURNING every column) and give them back as persistent ORM objects,
    in the order given, each attribute holding the value the database returned (column defaults applied by the
    INSERT, as the ORM's would be).

    Read back through the ORM (`insert(Model).returning(Model)`), the same rows cost twice the Python: its bulk
    persistence and entity loading machinery, about 0.5 ms a statement of an order's capture. As with the ORM's own
    bulk INSERT, no mapper event runs and relationships are left unloaded: the caller sets those it knows with
    set_committed_value (anything else read is loaded when first used, as for any object).

    skip_conflicts_on: index columns of a unique constraint; a row that conflicts is skipped (ON CONFLICT DO NOTHING)
    and left out of the result. flush: write the session's pending changes first, as the ORM's statement would."""
    if not rows:
        return []
    session = db.session()
    if flush:
        session.flush()
    statement = _returning_all(model, session.get_bind().dialect.name, skip_conflicts_on)
    return [as_loaded(session, model, row) for row in session.connection().execute(statement, rows).all()]


def inserted_with_lines(
    model,
    row: dict,
    line_model,
    lines: list[dict],
    *,
    parent_key: str,
    skip_conflicts_on: tuple | None = None,
    flush: bool = True,
) -> tuple:
    """A row and its lines (whose `parent_key` column names it), as `inserted` gives them: (object, [line objects])
    in the order given, or (None, []) when the row conflicts (skip_conflicts_on). The dicts' keys are column names.

    On PostgreSQL one statement writes both: the row's INSERT in a CTE, the lines inserted from its id and one JSON
    parameter (as `write` does), and every column of both read back. On SQLite, one `inserted` each."""
    session = db.session()
    if session.get_bind().dialect.name != "postgresql":
        found = inserted(model, [row], skip_conflicts_on=skip_conflicts_on, flush=flush)
        if not found:
            return None, []
        return found[0], inserted(line_model, [{**line, parent_key: found[0].id} for line in lines], flush=False)
    if flush:
        session.flush()
    table, line_table = model.__table__, line_model.__table__
    (row,) = _with_defaults(table, [row])
    lines = _with_defaults(line_table, lines, given=(parent_key,))
    line_keys = tuple(lines[0]) if lines else ()
    statement = _with_lines(model, line_model, tuple(row), line_keys, parent_key, skip_conflicts_on)
    params = {f"p_{key}": value for key, value in row.items()}
    params["lines"] = _json(lines)
    result = session.connection().execute(statement, params).all()
    if not result:
        return None, []
    width = len(table.c)
    parent = as_loaded(session, model, result[0][:width])
    return parent, [as_loaded(session, line_model, r[width:]) for r in result if r[width] is not None]


def as_loaded(session, model, values):
    """An object of `model` for a row just read (every column, in the table's order), persistent in the session as
    if the ORM had loaded it: nothing pending, nothing expired.

    The session may already hold an object of that identity: a row read before and locked now (stock.lock_levels),
    or a row written then undone (a savepoint rolled back) whose id the database gives again (SQLite reuses the
    highest rowid). That object is refreshed as a SELECT with populate_existing would: its columns take the values
    read (changes not flushed are lost, as there), its relationships are expired."""
    keys = _attribute_keys(model)
    existing = session.identity_map.get(session.identity_key(model, values[_primary_key_index(model)]))
    if existing is not None:
        session.expire(existing)
        for key, value in zip(keys, values, strict=True):
            set_committed_value(existing, key, value)
        return existing
    # As the ORM's loader makes an object from a row: no constructor, no attribute events (a third of the cost), the
    # values straight into its state as loaded ones; its key from its id, then attached to the session.
    obj = inspect(model).class_manager.new_instance()
    inspect(obj).dict.update(zip(keys, values, strict=True))
    make_transient_to_detached(obj)
    session.add(obj)
    return obj


@cache
def _primary_key_index(model) -> int:
    (key,) = model.__table__.primary_key.columns
    return list(model.__table__.c).index(key)


@cache
def _attribute_keys(model) -> list:
    """The attribute name of each column of the model's table, in the table's order."""
    mapper = inspect(model)
    return [mapper.get_property_by_column(column).key for column in model.__table__.c]


@cache
def _with_lines(model, line_model, keys: tuple, line_keys: tuple, parent_key: str, skip_conflicts_on):
    """The statement of `inserted_with_lines` on PostgreSQL for these columns: built once per shape."""
    quote = db.engine.dialect.identifier_preparer.quote
    table, line_table = model.__table__, line_model.__table__
    name, line_name = quote(table.name), quote(line_table.name)
    conflict = ""
    if skip_conflicts_on:
        conflict = f" ON CONFLICT ({', '.join(quote(c) for c in skip_conflicts_on)}) DO NOTHING"
    columns = ", ".join(quote(key) for key in (parent_key, *line_keys))
    picked = ", ".join(["p.id", *[f"l.{quote(key)}" for key in line_keys]])
    out = [f"p.{quote(c.name)} AS p{i}" for i, c in enumerate(table.c)]
    out += [f"l.{quote(c.name)} AS l{i}" for i, c in enumerate(line_table.c)]
    sql = (
        f"WITH p AS (INSERT INTO {name} ({', '.join(quote(key) for key in keys)}) "  # noqa: S608 (our names, quoted)
        f"VALUES ({', '.join(f':p_{key}' for key in keys)}){conflict} RETURNING *), "
        f"l AS (INSERT INTO {line_name} ({columns}) SELECT {picked} FROM p, "
        f"json_populate_recordset(NULL::{line_name}, CAST(:lines AS json)) WITH ORDINALITY AS l "
        "ORDER BY l.ordinality RETURNING *) "
        f"SELECT {', '.join(out)} FROM p LEFT JOIN l ON true ORDER BY l.id"
    )
    typed = [column(f"p{i}", c.type) for i, c in enumerate(table.c)]
    typed += [column(f"l{i}", c.type) for i, c in enumerate(line_table.c)]
    binds = [bindparam(f"p_{key}", type_=table.c[key].type) for key in keys]
    return text(sql).bindparams(*binds).columns(*typed)


@cache
def _returning_all(model, dialect: str, skip_conflicts_on: tuple | None):
    """The INSERT of `inserted`, RETURNING every column in the table's order: built once per model and shape."""
    table = model.__table__
    if skip_conflicts_on:
        insert_ = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert_(table).on_conflict_do_nothing(index_elements=list(skip_conflicts_on))
        return statement.returning(*table.c)
    return insert(table).returning(*table.c, sort_by_parameter_order=True)
