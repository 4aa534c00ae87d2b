"""Associate productivity and accuracy, read from the rolled-up days (AssociateDay), never from the raw rows.

Rates are per active hour (the minutes with at least one scan or action, app.core.reports): units per hour counts
the units picked and the units packed (as the board's pace does), lines per hour the lines picked. Accuracy is
mis-scans per 100 scans and the short-pick rate, short units / (picked + short units). A rate whose denominator is
nought is None: no figure, rather than a misleading 0.

French and Italian labour rules restrict the individual monitoring of employees, so the retailer chooses
(RetailerSettings.individual_productivity, off by default):
- off: team figures only, for everyone who may read the store's reports (its managers, and head office);
- on: each person's figures too, shown to that store's managers only (a manager or an admin who is a member of the
  store: head office reading every store is not its manager and keeps the team's figures) and to each associate for
  themselves.
"""

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.core import payments, reports
from app.core.models import AssociateDay, Location, User
from app.core.models.users import MANAGING_ROLES, membership
from app.extensions import db

# The periods the screens offer: days back from the store's today, today included.
PERIODS = {"today": 1, "7d": 7, "30d": 30}
DEFAULT_PERIOD = "7d"

COUNTS = (
    "scans",
    "misscans",
    "picked_lines",
    "picked_units",
    "packed_units",
    "short_units",
    "rejections",
    "handovers",
    "active_minutes",
)


@dataclass(frozen=True)
class Figures:
    """What a team or one person did over a period, and the rates drawn from it."""

    scans: int = 0
    misscans: int = 0
    picked_lines: int = 0
    picked_units: int = 0
    packed_units: int = 0
    short_units: int = 0
    rejections: int = 0
    handovers: int = 0
    active_minutes: int = 0
    people: int = 0  # associates with at least one day in the period
    user_id: int | None = None  # one person's figures; None for the team's
    name: str = ""

    @property
    def active_hours(self) -> float:
        return self.active_minutes / 60

    @property
    def units(self) -> int:
        """Units handled: picked or packed."""
        return self.picked_units + self.packed_units

    @property
    def units_per_hour(self) -> float | None:
        return self._rates["units_per_hour"]

    @property
    def lines_per_hour(self) -> float | None:
        return self._rates["lines_per_hour"]

    @property
    def misscans_per_100(self) -> float | None:
        return self._rates["misscans_per_100"]

    @property
    def short_rate(self) -> float | None:
        """Units found short among the units a picker looked for (0.05: 5 %)."""
        return self._rates["short_pick_rate"]

    @property
    def _rates(self) -> dict:
        return reports.associate_rates(vars(self))  # the core's rule, as the reports' rows

    @property
    def empty(self) -> bool:
        return not any(getattr(self, name) for name in COUNTS)


@dataclass(frozen=True)
class Visibility:
    """What one user may read of one store's productivity, and under which rule."""

    individual_rule: bool  # the retailer shows each person's figures (else team figures only)
    team: bool  # the store's team figures: whoever may read the store's reports
    individuals: bool  # every person's figures at the store: its managers, when the rule allows
    own: bool  # the user's own figures at the store, when the rule allows


def individual_figures_on() -> bool:
    """The retailer's choice: True when each person's figures are shown (off by default)."""
    return bool(payments.settings().individual_productivity)


def _is_member(user, location) -> bool:
    return bool(
        db.session.scalar(
            select(func.count())
            .select_from(membership)
            .where(membership.c.user_id == user.id, membership.c.location_id == location.id)
        )
    )


def visible_to(user, location, *, rule: bool | None = None) -> Visibility:
    """What `user` may read of `location`'s productivity (rule: the retailer's setting, read when not given).

    Team figures: the store's managers and admins (head office), as for every store report; associates do not read
    reports. Each person's figures, only when the retailer allows them: the store's own managers (members of it,
    admins included when they are), and each member of the store for themselves."""
    individual = individual_figures_on() if rule is None else rule
    member = _is_member(user, location)
    manages = user.role in MANAGING_ROLES and member
    return Visibility(
        individual_rule=individual,
        team=user.is_admin or manages,
        individuals=individual and manages,
        own=individual and member,
    )


def period(name: str, location, today: date | None = None) -> tuple[date, date]:
    """The first and last day (the store's calendar days, both included) of a named period ending today."""
    days = PERIODS.get(name, PERIODS[DEFAULT_PERIOD])
    if today is None:
        today = datetime.now(ZoneInfo(location.timezone or "UTC")).date()
    return today - timedelta(days=days - 1), today


def _sums():
    return [func.coalesce(func.sum(getattr(AssociateDay, name)), 0).label(name) for name in COUNTS]


def _between(location, start: date, end: date):
    return (AssociateDay.location_id == location.id, AssociateDay.day >= start, AssociateDay.day <= end)


def team(location, start: date, end: date) -> Figures:
    """The store's team over the days start..end (both included): every associate's days summed, rates per
    associate active hour."""
    row = db.session.execute(
        select(*_sums(), func.count(func.distinct(AssociateDay.user_id)).label("people")).where(
            *_between(location, start, end)
        )
    ).one()
    return Figures(**{name: int(getattr(row, name) or 0) for name in (*COUNTS, "people")})


def individuals(location, start: date, end: date) -> list[Figures]:
    """Each associate's figures at the store over start..end, by name. Callers check visible_to first."""
    rows = db.session.execute(
        select(AssociateDay.user_id, User.name, *_sums())
        .join(User, User.id == AssociateDay.user_id)
        .where(*_between(location, start, end))
        .group_by(AssociateDay.user_id, User.name)
    ).all()
    found = [
        Figures(**{name: int(getattr(row, name) or 0) for name in COUNTS}, people=1, user_id=row.user_id, name=row.name)
        for row in rows
    ]
    return sorted(found, key=lambda figures: (figures.name.casefold(), figures.user_id))


def own(user, location, start: date, end: date) -> Figures:
    """One person's figures at one store over start..end (zeros when they did nothing there)."""
    row = db.session.execute(
        select(*_sums()).where(*_between(location, start, end), AssociateDay.user_id == user.id)
    ).one()
    return Figures(**{name: int(getattr(row, name) or 0) for name in COUNTS}, people=1, user_id=user.id, name=user.name)


def own_stores(user) -> list[Location]:
    """The stores whose figures a person may read for themselves: theirs, when the retailer allows it."""
    if not individual_figures_on():
        return []
    return list(
        db.session.scalars(
            select(Location)
            .join(membership, membership.c.location_id == Location.id)
            .where(membership.c.user_id == user.id)
            .order_by(Location.code)
        )
    )
