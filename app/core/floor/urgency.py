"""How urgent a piece of store work is: a countdown to its deadline, amber from 80% of the time allowed.

The deadline follows the stage: accept_by until accepted, ready_by while picking and packing, and once packed the
carrier's collection (app.core.floor.collection): a packed parcel is late only when it misses its van.
"""

from datetime import UTC, datetime

from app.core.models import FulfilmentStatus as S

SOON_PERCENT = 80  # amber once 80% of the allowed time has gone


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment


# Work counted against ready_by; once ready for pickup (or finished) the store has no deadline left to meet.
COUNTED = {S.ACCEPTED, S.PICKING, S.PICKED}


def deadline(fulfilment, collection: datetime | None = None) -> datetime | None:
    """accept_by while the work waits to be accepted, ready_by until it is packed, then the carrier's collection
    (`collection`, from app.core.floor.collection.collection_deadlines; None when no collection time is set); None
    afterwards."""
    if fulfilment.status == S.CREATED:
        return _aware(fulfilment.accept_by)
    if fulfilment.status == S.PACKED:
        return _aware(collection)
    return _aware(fulfilment.ready_by) if fulfilment.status in COUNTED else None


def urgency(fulfilment, now: datetime, collection: datetime | None = None) -> tuple[str, int | None]:
    """("ok" | "soon" | "late", seconds left; negative when late). No deadline: ("ok", None).

    The allowed time runs from the fulfilment's creation to its deadline; "soon" from 80% of it.
    """
    due = deadline(fulfilment, collection)
    if due is None:
        return "ok", None
    now = _aware(now)
    left = (due - now).total_seconds()
    if left < 0:
        return "late", int(left)
    start = _aware(fulfilment.created_at) or now
    allowed, elapsed = (due - start).total_seconds(), (now - start).total_seconds()
    if allowed <= 0 or elapsed * 100 >= allowed * SOON_PERCENT:
        return "soon", int(left)
    return "ok", int(left)
