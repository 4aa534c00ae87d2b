from datetime import datetime

from sqlalchemy import JSON, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


class OutboxEvent(db.Model):
    """A state change for the systems around the store, written in the same transaction as the change."""

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id", ondelete="SET NULL"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
