"""The audit trail: one row per state change, written in the same transaction."""

from app.core.actor import Actor
from app.core.models import AuditEvent
from app.extensions import db


def record(actor: Actor, action: str, subject, before: dict | None = None, after: dict | None = None) -> AuditEvent:
    """Append who did what to which record."""
    event = AuditEvent(
        actor_user_id=actor.user_id,
        actor=actor.label,
        action=action,
        subject_type=type(subject).__tablename__,
        subject_id=str(subject.id),
        before=before,
        after=after,
        ip=actor.ip,
        device=actor.device,
    )
    db.session.add(event)
    return event
