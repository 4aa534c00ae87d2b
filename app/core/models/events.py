from datetime import datetime
from enum import StrEnum

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class OutboxEvent(db.Model):
    """A state change for the systems around the store, written in the same transaction as the change.

    `id` is taken when the event is written, so ids do not follow commit order (a transaction that took a lower
    id may commit later). `position` is given after commit by the sequencer (app.core.integration.events.sequence), in
    commit order: the pull feed follows positions, so a client following its cursor never skips an event.
    """

    __tablename__ = "outbox_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    position: Mapped[int | None] = mapped_column(Integer, unique=True, index=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    # The request (or worker job) that wrote it: the worker's delivery sends it on as X-Request-ID and logs it.
    request_id: Mapped[str | None] = mapped_column(String(128))
    order_id: Mapped[int | None] = mapped_column(ForeignKey("customer_order.id", ondelete="SET NULL"), index=True)
    payload: Mapped[dict] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookSubscription(db.Model):
    """A URL that receives signed events (HMAC-SHA256 of the body with its secret)."""

    __tablename__ = "webhook_subscription"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(500))
    secret: Mapped[str] = mapped_column(String(128))
    event_types: Mapped[str] = mapped_column(String(500), default="*")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    def wants(self, event_type: str) -> bool:
        types = {t.strip() for t in self.event_types.split(",")}
        return "*" in types or event_type in types


class WebhookDelivery(db.Model):
    """One event to one subscriber: pending until delivered, retried with backoff, then dead-lettered."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        UniqueConstraint("event_id", "subscription_id", name="uq_webhook_delivery_event_subscription"),
        CheckConstraint("status IN ('pending', 'delivered', 'dead')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("outbox_event.id", ondelete="CASCADE"))
    subscription_id: Mapped[int] = mapped_column(ForeignKey("webhook_subscription.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    event = relationship("OutboxEvent")
    subscription = relationship("WebhookSubscription")
