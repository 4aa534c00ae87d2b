"""Past days' figures (LocationDay rows) for the demo stores, so the KPI pages have something to draw in the browser
tests: the demo loads today's orders only, and the worker rolls up today and yesterday. Days two to ninety days back
are written (replaced if there), never today or yesterday, which the worker owns."""

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

REASONS = ("out_of_stock", "damaged", "cannot_find", "too_busy")


def _row(location_id: int, day: date, n: int) -> dict:
    received = 20 + (n * 7) % 13
    rejected = n % 4
    short = n % 3
    return {
        "location_id": location_id,
        "day": day,
        "received": received,
        "accepted": received - rejected,
        "rejected": rejected,
        "rejected_reasons": {REASONS[n % 4]: rejected} if rejected else {},
        "picked_lines": received * 2,
        "picked_units": received * 3 - short,
        "short_units": short,
        "short_products": {f"DEMO-SKU-{n % 5}": short} if short else {},
        "ordered_units": received * 3,
        "ready": received - rejected,
        "on_time_ready": received - rejected - n % 5,
        "late_ready": n % 5,
        "ready_minutes": {"30": 6 + n % 4, "60": 8, "120": 3 + n % 3, "240": 1 + n % 2},
        "promised": received - rejected,
        "on_time_promised": received - rejected - n % 3,
        "shipped": received // 2,
        "collected": received // 3,
        "expired": n % 3,
        "collect_ready_minutes": {"45": 4, "90": 2 + n % 2},
        "collection_minutes": {"120": 3, "480": 2, "1440": 1 + n % 2},
        "returns": n % 4,
        "returned_units": n % 4,
        "return_reasons": {"too_small": n % 4} if n % 4 else {},
    }


def seed_report_days(database_url: str, days: int = 90) -> None:
    from sqlalchemy import delete, select

    from app import create_app
    from app.core.models import Location
    from app.core.models.reports import LocationDay
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        try:
            for index, location in enumerate(db.session.scalars(select(Location).order_by(Location.code))):
                today = datetime.now(ZoneInfo(location.timezone)).date()
                first, last = today - timedelta(days=days), today - timedelta(days=2)
                db.session.execute(
                    delete(LocationDay).where(
                        LocationDay.location_id == location.id, LocationDay.day >= first, LocationDay.day <= last
                    )
                )
                for back in range(2, days + 1):
                    db.session.add(LocationDay(**_row(location.id, today - timedelta(days=back), back + index)))
            db.session.commit()
        finally:
            db.session.remove()
            db.engine.dispose()
