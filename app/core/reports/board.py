"""The store board's figures, kept per store (BoardSnapshot) so a poll of the board reads one row instead of
predicting the store's open work again.

- `compute(location, now)`: open work by stage with the oldest moment, fulfilments received today, pick lists in
  progress, who works now, the forecast (app.core.reports.prediction) with its reasons as data, the levers, and the
  accuracy of the last ACCURACY_DAYS days' predictions: a language-neutral payload (moments as ISO UTC strings,
  reasons as their parts), worded and dated in the reader's language when the board renders it.
- `fingerprint(location)`: the store's open work in a few figures (open fulfilments: how many, the sum of their
  row versions, the newest id; open and put-back pickups by state; the store's last scan id), each from an index
  over open work (or one step down ix_scan_location_id_id). Any change of a fulfilment (every update raises its
  version), a pickup's state or a new scan at the store gives another fingerprint.
- `save(location_id, computed_at, fingerprint, payload)`: upsert of the store's row under a new token (what the
  board's rendered fragments are kept under, app.web.board).
- `current(location, now, max_age)`: the store's snapshot if it is still good (computed less than `max_age` ago,
  and the store's fingerprint is the one it was computed with), else computed now and saved; the board's read.
- `refresh_from(location, now, fingerprint, forecast, accuracy)`: the worker's pass (prediction.refresh) saves the
  snapshot of each store it predicts, from the forecast and the accuracy it has just computed.

How live the board is: a change to the store's open work (a fulfilment's status, lines or pick list, a pickup's
state, any scan at the store) is shown at the next poll; what changes with time alone (who worked in the last 30
minutes, what has become overdue, the pace the worker rolls up, predictions learnt) at most `max_age` later
(config BOARD_SNAPSHOT_MAX_AGE, DEFAULT_MAX_AGE seconds). Ages on the board are counted from `computed_at`, which
the board shows ("Updated at 15:02").
"""

import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, func, or_, select
from sqlalchemy.exc import DBAPIError

from app.core.floor import dispatch, packing
from app.core.models import BoardSnapshot, Fulfilment, Order, PickList, PickListStatus, Pickup, Scan, User
from app.core.models import FulfilmentStatus as S
from app.core.models.orders import open_statuses_clause
from app.core.ordering.hours import local_day_start
from app.core.reports import prediction
from app.extensions import db

STAGES = ("accept", "pick", "pack", "stage", "waiting", "arrived", "put_back", "dispatch")
ACCURACY_DAYS = 7
DEFAULT_MAX_AGE = 60
"""Seconds a snapshot is shown without being computed again when nothing in the store's open work changed: what
changes with time alone (who worked in the last 30 minutes, what became overdue) shows at most this late."""
PICK_LISTS = 50


def _aware(moment):
    return prediction._aware(moment)


def _iso(moment: datetime | None) -> str | None:
    return _aware(moment).isoformat() if moment is not None else None


def moment(text: str | None) -> datetime | None:
    """A payload's moment back as an aware datetime."""
    return datetime.fromisoformat(text) if text else None


# --- what the board shows -----------------------------------------------------------------------------------------


def _stage_of(status: str, method: str, transfer: bool) -> str | None:
    if status == S.CREATED:
        return "accept"
    if status in (S.ACCEPTED, S.PICKING):
        return "pick"
    parcels = method == "ship" or transfer
    if status == S.PICKED:
        return "pack" if parcels else "stage"
    if status == S.PACKED:
        return "dispatch" if parcels else "stage"
    return None  # ready for pickup: counted from the hold shelf


def stages(store) -> dict[str, dict]:
    """{stage: {"count", "oldest"}}: open work at the store by stage, with when the oldest piece started waiting
    (the order's arrival; for the hold shelf, when it became ready, the customer arrived, the pickup ended)."""
    result = {key: {"count": 0, "oldest": None} for key in STAGES}

    def add(stage, count, oldest):
        if stage is None or not count:
            return
        row = result[stage]
        row["count"] += count
        oldest = _aware(oldest)
        if oldest is not None and (row["oldest"] is None or oldest < row["oldest"]):
            row["oldest"] = oldest

    transfer = packing.is_transfer_clause()
    rows = db.session.execute(
        select(Fulfilment.status, Order.delivery_method, transfer, func.count(), func.min(Fulfilment.created_at))
        .join(Order, Order.id == Fulfilment.order_id)
        .where(
            Fulfilment.location_id == store.id,
            open_statuses_clause(),
            Fulfilment.status != S.READY_FOR_PICKUP,
            ~dispatch.with_carrier_clause(),
        )
        .group_by(Fulfilment.status, Order.delivery_method, transfer)
    ).all()
    for status, method, is_transfer, count, oldest in rows:
        add(_stage_of(status, method, bool(is_transfer)), count, oldest)
    # The hold shelf, pickups received from another store and to put back: one pass over the store's open (or put
    # back) pickups, each figure its own filtered count and oldest moment.
    ready = Fulfilment.status == S.READY_FOR_PICKUP
    received = and_(Pickup.received_at.is_not(None), Fulfilment.location_id != store.id, Fulfilment.status == S.PACKED)
    arrived = and_(ready, Pickup.customer_arrived_at.is_not(None))
    shelf = db.session.execute(
        select(
            func.count().filter(Pickup.is_open, received),
            func.min(Pickup.received_at).filter(Pickup.is_open, received),
            func.count().filter(Pickup.is_open, ready),
            func.min(Pickup.ready_at).filter(Pickup.is_open, ready),
            func.count().filter(Pickup.is_open, arrived),
            func.min(Pickup.customer_arrived_at).filter(Pickup.is_open, arrived),
            func.count().filter(Pickup.put_back),
            func.min(Pickup.closed_at).filter(Pickup.put_back),
        )
        .join(Fulfilment, Fulfilment.id == Pickup.fulfilment_id)
        .where(Pickup.location_id == store.id, or_(Pickup.is_open, Pickup.put_back))
    ).one()
    add("stage", shelf[0], shelf[1])
    add("waiting", shelf[2], shelf[3])
    add("arrived", shelf[4], shelf[5])
    add("put_back", shelf[6], shelf[7])
    return result


def received_today(store, now: datetime) -> int:
    """Fulfilments given to the store since its local midnight."""
    start = local_day_start(store.timezone, now)
    return db.session.scalar(
        select(func.count())
        .select_from(Fulfilment)
        .where(Fulfilment.location_id == store.id, Fulfilment.created_at >= start)
    )


def active_picks(store) -> list[dict]:
    """Open pick lists with their picker, how many orders, and the last scan on them."""
    last_scan = (
        select(func.max(Scan.created_at)).where(Scan.pick_list_id == PickList.id).correlate(PickList).scalar_subquery()
    )
    orders = (
        select(func.count())
        .select_from(Fulfilment)
        .where(Fulfilment.pick_list_id == PickList.id)
        .correlate(PickList)
        .scalar_subquery()
    )
    lists = db.session.execute(
        select(PickList.id, User.name, last_scan, orders)
        .outerjoin(User, User.id == PickList.user_id)
        .where(PickList.location_id == store.id, PickList.status == PickListStatus.OPEN)
        .order_by(PickList.created_at, PickList.id)
        .limit(PICK_LISTS)
    ).all()
    return [
        {"id": list_id, "picker": name or "", "orders": count or 0, "last_scan": _aware(scanned)}
        for list_id, name, scanned, count in lists
    ]


def _reason(reason: prediction.Reason) -> dict:
    return {
        "kind": reason.kind,
        "staff": reason.staff,
        "pace": reason.pace,
        "count": reason.count,
        "finish": _iso(reason.finish),
        "due": _iso(reason.due),
    }


def reason_of(data: dict) -> prediction.Reason:
    """A payload's reason back as prediction.Reason, for prediction.reason_text."""
    return prediction.Reason(
        data["kind"], data["staff"], data["pace"], data["count"], moment(data["finish"]), moment(data["due"])
    )


def payload(location, now: datetime, forecast: prediction.Forecast, accuracy: prediction.Accuracy) -> dict:
    """The board's figures as JSON-ready data, from the forecast and the accuracy (and a few reads of its own)."""
    rows = [
        {
            "id": p.fulfilment.id,
            "reference": p.fulfilment.order.reference,
            "ready_by": _iso(p.ready_by),
            "cutoff": _iso(p.cutoff) if p.misses_cutoff else None,
            "predicted": _iso(p.ready_at),
            "overdue": p.overdue,
        }
        for p in forecast.flagged
    ]
    return {
        "stages": {
            key: {"count": row["count"], "oldest": _iso(row["oldest"])} for key, row in stages(location).items()
        },
        "received_today": received_today(location, now),
        "picks": [{**row, "last_scan": _iso(row["last_scan"])} for row in active_picks(location)],
        "staff": [{"name": worker.name, "last_seen": _iso(worker.last_seen)} for worker in forecast.staff],
        "pace_default": forecast.pace.default,
        "pace_now": forecast.pace_now,
        "rows": rows,
        "reasons": [_reason(reason) for reason in forecast.reasons],
        # Whether pausing ship-from-store would help is read from the store when the board is shown (a manager may
        # have paused it since); the others are kept.
        "levers": [lever for lever in forecast.levers if lever != "pause_ship"],
        "extra_people": forecast.extra_people,
        "at_risk": len(forecast.at_risk),
        "accuracy": {
            "judged": accuracy.judged,
            "right": accuracy.right,
            "mean_error_minutes": accuracy.mean_error_minutes,
        },
    }


def compute(location, now: datetime) -> dict:
    """The board's figures now, read fresh (a read only: the worker keeps the predictions)."""
    now = _aware(now)
    forecast = prediction.predict(location, now)
    accuracy = prediction.accuracy(location, now - timedelta(days=ACCURACY_DAYS))
    return payload(location, now, forecast, accuracy)


# --- the snapshot ---------------------------------------------------------------------------------------------------


def _fingerprint_columns(location_id):
    """Scalar subqueries over the store's open work, each from an index that holds only open work (or the store's
    last scan, one step down ix_scan_location_id_id)."""
    open_work = and_(Fulfilment.location_id == location_id, open_statuses_clause())

    def over_open(expression):
        return select(expression).where(open_work).scalar_subquery()

    def over_shelf(*conditions):
        return (
            select(func.count())
            .select_from(Pickup)
            .where(Pickup.location_id == location_id, or_(Pickup.is_open, Pickup.put_back), *conditions)
            .scalar_subquery()
        )

    return [
        over_open(func.count()),
        over_open(func.coalesce(func.sum(Fulfilment.version), 0)),
        over_open(func.coalesce(func.max(Fulfilment.id), 0)),
        over_shelf(Pickup.is_open),
        over_shelf(Pickup.put_back),
        over_shelf(Pickup.is_open, Pickup.customer_arrived_at.is_not(None)),
        over_shelf(Pickup.is_open, Pickup.received_at.is_not(None)),
        select(func.coalesce(func.max(Scan.id), 0)).where(Scan.location_id == location_id).scalar_subquery(),
    ]


def _as_text(values) -> str:
    return ":".join(str(int(value or 0)) for value in values)


def fingerprint(location) -> str:
    """The store's open work and last scan in a few figures (see the module's doc)."""
    return _as_text(db.session.execute(select(*_fingerprint_columns(location.id))).one())


def save(location_id: int, computed_at: datetime, print_: str, data: dict) -> str | None:
    """Keep the store's snapshot (insert or replace, under a new token) and return its token; the caller commits.
    A snapshot computed before the one already kept does not replace it (None)."""
    table = BoardSnapshot.__table__
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    statement = insert(table).values(
        location_id=location_id,
        computed_at=_aware(computed_at),
        token=uuid.uuid4().hex,
        fingerprint=print_,
        payload=data,
    )
    statement = statement.on_conflict_do_update(
        index_elements=[table.c.location_id],
        set_={
            "computed_at": statement.excluded.computed_at,
            "token": statement.excluded.token,
            "fingerprint": statement.excluded.fingerprint,
            "payload": statement.excluded.payload,
        },
        where=table.c.computed_at <= statement.excluded.computed_at,
    ).returning(table.c.token)
    return db.session.execute(statement).scalar_one_or_none()


class Snapshot:
    """The board's figures as kept: computed_at, token (new at each write: what the rendered fragment is keyed on;
    None for figures computed but not kept) and the payload, read only when asked for (`data`)."""

    def __init__(self, location_id: int, computed_at: datetime, token: str | None, data: dict | None = None):
        self.location_id = location_id
        self.computed_at = _aware(computed_at)
        self.token = token
        self._data = data

    @property
    def data(self) -> dict:
        """The payload, read with the token and moment it belongs to (the row may have been replaced since the
        fingerprint was checked: then the newer figures, under their own token)."""
        if self._data is None:
            row = db.session.execute(
                select(BoardSnapshot.payload, BoardSnapshot.token, BoardSnapshot.computed_at).where(
                    BoardSnapshot.location_id == self.location_id
                )
            ).one()
            self._data, self.token, self.computed_at = row[0] or {}, row[1], _aware(row[2])
        return self._data


def current(location, now: datetime, max_age: float = DEFAULT_MAX_AGE, *, keep: bool = True) -> Snapshot:
    """The store's board figures: its snapshot when it was computed less than `max_age` seconds ago from the open
    work the store has now (one statement reads the row and the fingerprint), else computed now and, with keep,
    saved for the next poll and the other processes (committed; if the write fails, as when another writer holds
    SQLite's lock, the figures are shown all the same)."""
    now = _aware(now)
    row = db.session.execute(
        select(
            BoardSnapshot.computed_at,
            BoardSnapshot.token,
            BoardSnapshot.fingerprint,
            *_fingerprint_columns(location.id),
        ).where(BoardSnapshot.location_id == location.id)
    ).one_or_none()
    if row is not None:
        computed_at, token, kept_print = _aware(row[0]), row[1], row[2]
        if kept_print == _as_text(row[3:]) and timedelta(0) <= now - computed_at < timedelta(seconds=max_age):
            return Snapshot(location.id, computed_at, token)
        print_ = _as_text(row[3:])
    else:
        print_ = fingerprint(location)
    # The fingerprint is read before the figures: a change committed while they are computed gives another
    # fingerprint at the next poll.
    data = compute(location, now)
    snapshot = Snapshot(location.id, now, None, data)
    if not keep:
        return snapshot
    from app.core.uow import unit_of_work

    location_id = location.id
    db.session.rollback()  # end the read transaction: the write starts its own (BEGIN IMMEDIATE on SQLite)
    try:
        with unit_of_work(writes=True):
            snapshot.token = save(location_id, now, print_, data)
    except DBAPIError:  # e.g. another writer holds SQLite's lock: the figures are shown all the same
        return snapshot
    return snapshot


def refresh_from(
    location,
    now: datetime,
    print_: str,
    forecast: prediction.Forecast,
    accuracy: prediction.Accuracy,
    max_age: float = DEFAULT_MAX_AGE,
) -> bool:
    """The worker's pass: keep the store's snapshot from the forecast and the accuracy it has just computed, with
    the fingerprint it read before them (the caller commits). A store whose open work has not changed since its
    snapshot, computed less than half `max_age` ago, keeps it: a pass every few seconds does not rewrite every
    store's row (and its JSON) each time. Returns whether it wrote."""
    kept = db.session.execute(
        select(BoardSnapshot.computed_at, BoardSnapshot.fingerprint).where(BoardSnapshot.location_id == location.id)
    ).one_or_none()
    if (
        kept is not None
        and kept[1] == print_
        and timedelta(0) <= _aware(now) - _aware(kept[0]) < timedelta(seconds=max_age / 2)
    ):
        return False
    return save(location.id, now, print_, payload(location, now, forecast, accuracy)) is not None
