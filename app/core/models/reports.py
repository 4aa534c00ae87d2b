"""What managers and head office read: a store's day in figures, an associate's day, and the lateness predictions
the board made (kept to show how good they were).

Rolled up from the raw rows (fulfilments, audit events, scans, returns) by app.core.reports, for the store's local
day, and kept up to date by `flask worker` (today and yesterday), so the board and the reports never scan years of
history. A day is the store's calendar day in its own time zone.
"""

from datetime import date, datetime

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from app.core.models.base import UTCDateTime, utcnow
from app.extensions import db


def _count():
    return mapped_column(Integer, default=0, server_default="0")


class LocationDay(db.Model):
    """One store's day. Histograms ({minutes bucket: count}, see app.core.reports.BUCKETS) give medians and p90
    without keeping every order's time; {reason: count} and {sku: units} give the breakdowns."""

    __tablename__ = "location_day"

    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    received: Mapped[int] = _count()  # fulfilments given to the store that day
    accepted: Mapped[int] = _count()
    rejected: Mapped[int] = _count()
    rejected_reasons: Mapped[dict | None] = mapped_column(JSON)
    picked_lines: Mapped[int] = _count()
    picked_units: Mapped[int] = _count()
    short_units: Mapped[int] = _count()
    short_products: Mapped[dict | None] = mapped_column(JSON)
    ordered_units: Mapped[int] = _count()  # units of the fulfilments received (the fill rate's denominator)
    ready: Mapped[int] = _count()  # fulfilments that became ready (packed, or on the hold shelf) that day
    on_time_ready: Mapped[int] = _count()  # ... by their ready-by
    late_ready: Mapped[int] = _count()
    ready_minutes: Mapped[dict | None] = mapped_column(JSON)  # histogram: received -> ready
    promised: Mapped[int] = _count()  # orders with a promised date that left that day
    on_time_promised: Mapped[int] = _count()
    shipped: Mapped[int] = _count()
    collected: Mapped[int] = _count()
    expired: Mapped[int] = _count()  # click & collect no-shows
    collect_ready_minutes: Mapped[dict | None] = mapped_column(JSON)  # histogram: click & collect received -> ready
    collection_minutes: Mapped[dict | None] = mapped_column(JSON)  # histogram: ready -> collected
    returns: Mapped[int] = _count()  # returns received at the store that day
    returned_units: Mapped[int] = _count()
    return_reasons: Mapped[dict | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class AssociateDay(db.Model):
    """One associate's day at one store: what they did, for productivity and accuracy (shown per person only when
    the retailer allows it: RetailerSettings.individual_productivity)."""

    __tablename__ = "associate_day"
    __table_args__ = (Index("ix_associate_day_user_id_day", "user_id", "day"),)

    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id", ondelete="CASCADE"), primary_key=True)
    scans: Mapped[int] = _count()
    misscans: Mapped[int] = _count()  # scans refused (wrong item, unknown code...)
    picked_lines: Mapped[int] = _count()
    picked_units: Mapped[int] = _count()
    packed_units: Mapped[int] = _count()
    short_units: Mapped[int] = _count()
    rejections: Mapped[int] = _count()
    handovers: Mapped[int] = _count()  # click & collect orders handed to customers
    active_minutes: Mapped[int] = _count()  # minutes with at least one scan or action, by 5-minute slot
    hourly_units: Mapped[dict | None] = mapped_column(JSON)  # {local hour: units picked or packed}
    hourly_minutes: Mapped[dict | None] = mapped_column(JSON)  # {local hour: active minutes}
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class LatenessPrediction(db.Model):
    """When the board expected an open fulfilment to be ready, against its deadline; compared with when it really
    was once it is (actual_ready_at), to show how good the predictions are."""

    __tablename__ = "lateness_prediction"
    __table_args__ = (Index("ix_lateness_prediction_location_id_made_at", "location_id", "made_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    fulfilment_id: Mapped[int] = mapped_column(ForeignKey("fulfilment.id", ondelete="CASCADE"), index=True)
    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"))
    made_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    predicted_ready_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    late: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(300), default="")
    actual_ready_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class BoardSnapshot(db.Model):
    """What a store's live board shows, computed at `computed_at` (app.core.reports.board): open work by stage,
    today's capacity, pick lists in progress, who works now, the forecast with its reasons and the accuracy of past
    predictions, as language-neutral data (moments in ISO UTC, reasons as their parts); the board words and dates it
    in the reader's language on the store's clock. One row per store, replaced by `flask worker` each pass and by
    the board itself when the row is missing, older than BOARD_SNAPSHOT_MAX_AGE or the store's open work changed
    since (`fingerprint`)."""

    __tablename__ = "board_snapshot"

    location_id: Mapped[int] = mapped_column(ForeignKey("location.id", ondelete="CASCADE"), primary_key=True)
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # New at each write (uuid4 hex): what the board's rendered fragments are kept under (app.web.board).
    token: Mapped[str] = mapped_column(String(32))
    # The store's open work and last scan as they were when the computation started
    # (app.core.reports.board.fingerprint): another fingerprint now means the snapshot is out of date.
    fingerprint: Mapped[str] = mapped_column(String(200), default="", server_default="")
    payload: Mapped[dict] = mapped_column(JSON)
