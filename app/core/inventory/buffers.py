"""Channel buffers: units a location holds back from what one sales channel is shown (e.g. show marketplaces less).

A buffer belongs to a location and a channel, not to a product: it is taken from every product's availability
there for that channel (see app.core.inventory.availability).
"""

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from app.core.actor import Actor
from app.core.errors import N_, InvalidInput
from app.core.inventory.stock import MAX_UNITS
from app.core.models import ChannelBuffer, Location
from app.extensions import db

MAX_CHANNEL = 32


def channel_buffers(location: Location) -> dict[str, int]:
    """{channel: units held back} at a location, by channel name."""
    rows = db.session.execute(
        select(ChannelBuffer.channel, ChannelBuffer.units)
        .where(ChannelBuffer.location_id == location.id)
        .order_by(ChannelBuffer.channel)
    ).all()
    return {channel: units for channel, units in rows}


def check_buffers(buffers: dict, prefix: str = "buffers") -> dict[str, int]:
    """The buffers with their channel names trimmed, or InvalidInput naming each refused entry."""
    errors, clean = {}, {}
    for channel, units in buffers.items():
        name = channel.strip() if isinstance(channel, str) else ""
        path = f"{prefix}.{channel}"
        if not name or len(name) > MAX_CHANNEL:
            errors[path] = (N_("A channel name has 1 to %(n)s characters."), {"n": MAX_CHANNEL})
        elif not isinstance(units, int) or isinstance(units, bool) or not 0 <= units <= MAX_UNITS:
            errors[path] = N_("A buffer must be a whole number, zero or more.")
        else:
            clean[name] = units
    if errors:
        raise InvalidInput(N_("Some values are not valid."), fields=errors)
    return clean


def set_channel_buffer(location: Location, channel: str, units: int, *, actor: Actor) -> ChannelBuffer:
    """Hold back `units` of every product at a location from what one channel is shown (0: hold nothing back)."""
    from app.core import audit

    channel = next(iter(check_buffers({channel: units})))
    insert = pg_insert if db.session.get_bind().dialect.name == "postgresql" else sqlite_insert
    # Two first settings at once must not both insert: the row is added if missing, then locked.
    db.session.execute(
        insert(ChannelBuffer)
        .values(channel=channel, location_id=location.id, units=0)
        .on_conflict_do_nothing(index_elements=["channel", "location_id"])
    )
    buffer = db.session.scalar(
        select(ChannelBuffer)
        .where(ChannelBuffer.location_id == location.id, ChannelBuffer.channel == channel)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    before = buffer.units
    if before != units:
        buffer.units = units
        audit.record(
            actor,
            "stock.channel_buffer",
            buffer,
            {"channel": channel, "units": before},
            {"channel": channel, "units": units},
        )
        db.session.flush()
    return buffer
