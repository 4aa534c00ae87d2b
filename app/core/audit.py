"""The audit trail: one row per state change, written in the same transaction."""

from sqlalchemy import insert

from app.core import batch
from app.core.actor import Actor
from app.core.models import AuditEvent
from app.extensions import db


def _row(actor: Actor, action: str, subject, before: dict | None, after: dict | None) -> dict:
    return {
        "actor_user_id": actor.user_id,
        "actor": actor.label,
        "action": action,
        "subject_type": type(subject).__tablename__,
        "subject_id": str(subject.id),
        "before": before,
        "after": after,
        "ip": actor.ip,
        "device": actor.device,
    }


def record(
    actor: Actor, action: str, subject, before: dict | None = None, after: dict | None = None
) -> AuditEvent | None:
    """Append who did what to which record (inside batch.rows_written_together(): written when it ends, None)."""
    row = _row(actor, action, subject, before, after)
    rows = batch.pending()
    if rows is not None:
        rows.add(AuditEvent, row)
        return None
    event = AuditEvent(**row)
    db.session.add(event)
    return event


def record_many(actor: Actor, action: str, changes) -> None:
    """Append the same action on many records in one INSERT (imports): changes = [(subject, before, after)]."""
    rows = [_row(actor, action, subject, before, after) for subject, before, after in changes]
    if rows:
        db.session.execute(insert(AuditEvent), rows)
