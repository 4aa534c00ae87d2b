"""Associate productivity and accuracy from hand-built associate days: the rates on known rows, the period's days,
and who sees what (the retailer's setting hides individual figures; only the store's own managers see each person,
and each person themselves)."""

from datetime import date

import pytest

from app.core.models import AssociateDay
from app.core.payments import retailer_settings
from app.core.reports import productivity
from app.extensions import db
from tests.factories import ACTOR, make_location, make_user

MONDAY = date(2025, 3, 3)


def day(location, user, on=MONDAY, **counts) -> AssociateDay:
    row = AssociateDay(location_id=location.id, user_id=user.id, day=on, **counts)
    db.session.add(row)
    db.session.flush()
    return row


@pytest.fixture
def store(app):
    return make_location(code="PAR01", name="Paris Rivoli")


@pytest.fixture
def people(store):
    other = make_location(code="LYO01", name="Lyon Part-Dieu")
    anna = make_user(stores=[store], name="Anna Bianchi")
    zoe = make_user(stores=[store], name="Zoé Durand")
    elsewhere = make_user(stores=[other], name="Marc Petit")
    # Anna, two days: 6 active hours, 300 units picked + 60 packed, 90 lines, 400 scans (8 refused), 12 short.
    day(
        store,
        anna,
        scans=250,
        misscans=5,
        picked_lines=60,
        picked_units=200,
        packed_units=40,
        short_units=8,
        rejections=1,
        handovers=3,
        active_minutes=240,
    )
    day(
        store,
        anna,
        MONDAY.replace(day=4),
        scans=150,
        misscans=3,
        picked_lines=30,
        picked_units=100,
        packed_units=20,
        short_units=4,
        rejections=0,
        handovers=2,
        active_minutes=120,
    )
    # Zoé, one day: 2 active hours, 90 units picked, 45 lines, 100 scans (4 refused), nothing short.
    day(store, zoe, scans=100, misscans=4, picked_lines=45, picked_units=90, handovers=5, active_minutes=120)
    # Another store's work and a day outside the period count nowhere here.
    day(other, elsewhere, scans=999, picked_units=999, active_minutes=60)
    day(store, zoe, date(2025, 2, 1), scans=999, picked_units=999, short_units=999, active_minutes=60)
    return {"anna": anna, "zoe": zoe, "elsewhere": elsewhere, "other": other}


def test_team_rates_are_per_associate_active_hour(store, people):
    team = productivity.team(store, MONDAY, date(2025, 3, 9))
    assert team.people == 2
    assert (team.picked_units, team.packed_units, team.picked_lines) == (390, 60, 135)
    assert team.active_minutes == 480 and team.active_hours == 8
    assert team.units_per_hour == pytest.approx(450 / 8)  # picked or packed
    assert team.lines_per_hour == pytest.approx(135 / 8)
    assert team.misscans_per_100 == pytest.approx(100 * 12 / 500)
    assert team.short_rate == pytest.approx(12 / (390 + 12))
    assert (team.rejections, team.handovers) == (1, 10)


def test_each_person_has_their_own_rates_by_name(store, people):
    anna, zoe = productivity.individuals(store, MONDAY, date(2025, 3, 9))
    assert (anna.name, zoe.name) == ("Anna Bianchi", "Zoé Durand")
    assert anna.user_id == people["anna"].id
    assert anna.units_per_hour == pytest.approx(360 / 6) and anna.lines_per_hour == pytest.approx(15)
    assert anna.misscans_per_100 == pytest.approx(2) and anna.short_rate == pytest.approx(12 / 312)
    assert zoe.units_per_hour == pytest.approx(45) and zoe.misscans_per_100 == pytest.approx(4)
    assert zoe.short_rate == 0 and zoe.handovers == 5
    assert productivity.own(people["zoe"], store, MONDAY, MONDAY).scans == 100


def test_the_period_counts_its_days_only(store, people):
    only_tuesday = productivity.team(store, date(2025, 3, 4), date(2025, 3, 4))
    assert only_tuesday.people == 1 and only_tuesday.picked_units == 100
    assert productivity.period("today", store, today=MONDAY) == (MONDAY, MONDAY)
    assert productivity.period("7d", store, today=date(2025, 3, 9)) == (MONDAY, date(2025, 3, 9))
    assert productivity.period("30d", store, today=date(2025, 3, 30)) == (date(2025, 3, 1), date(2025, 3, 30))
    assert productivity.period("forever", store, today=MONDAY) == (date(2025, 2, 25), MONDAY)  # the default: 7 days


def test_no_work_gives_no_rate_rather_than_zero(store):
    nothing = productivity.team(store, MONDAY, MONDAY)
    assert nothing.empty and nothing.people == 0
    assert (nothing.units_per_hour, nothing.lines_per_hour, nothing.misscans_per_100, nothing.short_rate) == (
        None,
        None,
        None,
        None,
    )
    assert productivity.individuals(store, MONDAY, MONDAY) == []


def test_team_figures_only_by_default_for_everyone(store, people):
    manager = make_user(stores=[store], role="manager")
    admin = make_user(role="admin")
    assert productivity.individual_figures_on() is False
    for user in (manager, admin):
        seen = productivity.visible_to(user, store)
        assert seen.team and not seen.individuals and not seen.own and not seen.individual_rule
    associate = productivity.visible_to(people["anna"], store)
    assert not associate.team and not associate.individuals and not associate.own
    assert productivity.own_stores(people["anna"]) == []


def test_the_setting_shows_each_person_to_their_store_managers_and_to_themselves(store, people):
    retailer_settings.update_settings({"individual_productivity": True}, actor=ACTOR)
    manager = make_user(stores=[store], role="manager")
    other_manager = make_user(stores=[people["other"]], role="manager")
    head_office = make_user(role="admin")
    admin_of_store = make_user(stores=[store], role="admin")

    seen = productivity.visible_to(manager, store)
    assert seen.team and seen.individuals and seen.individual_rule
    assert not productivity.visible_to(other_manager, store).team  # not their store
    assert not productivity.visible_to(other_manager, store).individuals
    head = productivity.visible_to(head_office, store)
    assert head.team and not head.individuals  # head office is not the store's manager
    assert productivity.visible_to(admin_of_store, store).individuals
    anna = productivity.visible_to(people["anna"], store)
    assert anna.own and not anna.individuals and not anna.team
    assert not productivity.visible_to(people["elsewhere"], store).own
    assert productivity.own_stores(people["anna"]) == [store]

    retailer_settings.update_settings({"individual_productivity": False}, actor=ACTOR)
    assert not productivity.visible_to(manager, store).individuals
    assert not productivity.visible_to(people["anna"], store).own


def test_the_setting_is_validated_and_audited(app):
    from sqlalchemy import select

    from app.core.errors import InvalidInput
    from app.core.models import AuditEvent

    with pytest.raises(InvalidInput) as refused:
        retailer_settings.update_settings({"individual_productivity": "yes"}, actor=ACTOR)
    assert set(refused.value.fields) == {"individual_productivity"}
    retailer_settings.update_settings({"individual_productivity": True}, actor=ACTOR)
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retailer.settings"))
    assert audit.before == {"individual_productivity": False} and audit.after == {"individual_productivity": True}
