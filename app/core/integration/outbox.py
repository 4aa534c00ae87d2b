"""Sending what customers are told (OutboundEmail, OutboundSms): one loop for every outbox table.

Each row is sent inside its own short transaction that holds it (FOR UPDATE SKIP LOCKED on PostgreSQL, the write
lock on SQLite), so two workers never send the same one. A failed attempt is recorded with its error text; the
row stays pending for the next pass, unless the failure is permanent (a refused recipient) or it was the last
attempt, when it is marked failed.
"""

from collections.abc import Callable

from sqlalchemy import select

from app.core.models.base import utcnow
from app.core.uow import unit_of_work
from app.extensions import db


def drain(
    model,
    deliver: Callable,
    *,
    limit: int,
    max_attempts: int,
    permanent: Callable[[Exception], bool],
    now=None,
) -> int:
    """Send up to `limit` pending rows of an outbox table with deliver(row); returns how many were sent (commits).

    Whatever deliver raises is a failed attempt of that row only: the next row goes on."""
    sent, skipped = 0, set()
    for _ in range(limit):
        with unit_of_work(writes=True):
            row = db.session.scalar(
                select(model)
                .where(model.status == "pending", model.id.not_in(skipped or {0}))
                .order_by(model.id)
                .limit(1)
                .with_for_update(skip_locked=True)
            )
            if row is None:
                break
            row.attempts += 1
            try:
                deliver(row)
            except Exception as exc:
                row.last_error = f"{type(exc).__name__}: {exc}"[:500]
                if permanent(exc) or row.attempts >= max_attempts:
                    row.status = "failed"
                skipped.add(row.id)  # tried in this pass: the next pass tries it again
            else:
                row.status, row.sent_at, row.last_error = "sent", now or utcnow(), ""
                sent += 1
    return sent
