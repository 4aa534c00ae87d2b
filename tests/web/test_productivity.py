"""The productivity screens: a store's (its managers and head office) and an associate's own. Team figures only by
default, with no one's name; each person's figures once the retailer allows it, to the store's own managers and to
the person; the admin setting behind it, with its CSRF token."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.core.models import AssociateDay, RetailerSettings
from app.core.models.payments import NOTIFICATION_KINDS
from app.core.payments import retailer_settings
from app.extensions import db
from tests.conftest import csrf_from, csrf_token, login
from tests.factories import ACTOR, PASSWORD, make_location, make_user

STORE_URL = "/stores/PAR01/productivity"
ME_URL = "/me/productivity"
TEAM_ONLY = "Your company shows team figures only, as French and Italian labour rules restrict individual monitoring"


def _today(store):
    return datetime.now(ZoneInfo(store.timezone)).date()


@pytest.fixture
def floor(app):
    store = make_location(code="PAR01", name="Paris Rivoli")
    other = make_location(code="LYO01", name="Lyon Part-Dieu")
    anna = make_user(stores=[store], name="Anna Bianchi")
    zoe = make_user(stores=[store], name="Zoé Durand")
    manager = make_user(stores=[store], role="manager", name="Maud Manager")
    other_manager = make_user(stores=[other], role="manager", name="Luc Lyon")
    head_office = make_user(role="admin", name="Hélène Siège")
    today = _today(store)
    # Anna today: 2 active hours, 100 units picked and 20 packed, 40 lines, 200 scans (3 refused), 5 short.
    db.session.add(
        AssociateDay(
            location_id=store.id, user_id=anna.id, day=today, scans=200, misscans=3, picked_lines=40,
            picked_units=100, packed_units=20, short_units=5, rejections=2, handovers=1, active_minutes=120,
        )
    )  # fmt: skip
    # Zoé, three days ago: 1 active hour, 30 units, 10 lines.
    db.session.add(
        AssociateDay(
            location_id=store.id, user_id=zoe.id, day=today - timedelta(days=3), scans=50, picked_lines=10,
            picked_units=30, active_minutes=60,
        )
    )  # fmt: skip
    db.session.commit()
    return locals()


def _individual(on: bool) -> None:
    retailer_settings.update_settings({"individual_productivity": on}, actor=ACTOR)
    db.session.commit()


def test_team_figures_only_by_default_with_no_names(client, floor):
    login(client, floor["manager"].email, PASSWORD)
    response = client.get(STORE_URL)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert TEAM_ONLY in html
    assert "Anna Bianchi" not in html and "Zoé Durand" not in html and "Each person" not in html
    assert "2 associates worked over this period." in html  # 7 days by default
    assert "<dd>50.0</dd>" in html  # (120 + 30) units over 3 active hours
    assert "<dd>16.7</dd>" in html  # 50 lines over 3 hours
    today = client.get(STORE_URL + "?period=today").get_data(as_text=True)
    assert "1 associate worked over this period." in today and "<dd>60.0</dd>" in today
    assert "<dd>4.8%</dd>" in today  # 5 short of 105 looked for
    assert "<dd>1.5</dd>" in today  # 3 mis-scans per 200 scans
    assert 'aria-current="page">Today<' in today


def test_the_manager_of_the_store_sees_each_person_once_allowed(client, floor):
    _individual(True)
    login(client, floor["manager"].email, PASSWORD)
    html = client.get(STORE_URL).get_data(as_text=True)
    assert "Each person" in html and TEAM_ONLY not in html
    assert html.index("Anna Bianchi") < html.index("Zoé Durand")  # by name
    assert '<th scope="row">Anna Bianchi</th>' in html
    assert "only this store's managers see them" in html
    today = client.get(STORE_URL + "?period=today").get_data(as_text=True)
    assert "Anna Bianchi" in today and "Zoé Durand" not in today  # no work today


def test_head_office_sees_the_team_but_not_each_person(client, floor):
    _individual(True)
    login(client, floor["head_office"].email, PASSWORD)
    response = client.get(STORE_URL)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Anna Bianchi" not in html and "2 associates worked" in html
    assert "you see the team's figures" in html


def test_another_store_manager_and_associates_do_not_reach_the_store_page(client, floor):
    _individual(True)
    login(client, floor["other_manager"].email, PASSWORD)
    assert client.get(STORE_URL).status_code == 403
    assert client.get("/stores/NOPE/productivity").status_code == 404
    client.post("/logout", data={"csrf_token": csrf_token(client, "/")})
    login(client, floor["anna"].email, PASSWORD)
    assert client.get(STORE_URL).status_code == 403


def test_an_associate_sees_only_their_own_figures_once_allowed(client, floor):
    login(client, floor["anna"].email, PASSWORD)
    before = client.get(ME_URL)
    assert before.status_code == 200
    html = before.get_data(as_text=True)
    assert TEAM_ONLY in html and "<dd>" not in html  # no figures at all
    assert 'href="/me/productivity"' in client.get("/stores/PAR01/queue").get_data(as_text=True)  # in their menu

    _individual(True)
    html = client.get(ME_URL + "?period=today").get_data(as_text=True)
    assert "Paris Rivoli" in html and TEAM_ONLY not in html
    assert "<dd>60.0</dd>" in html and "<dd>20.0</dd>" in html  # 120 units, 40 lines in 2 hours
    assert "Zoé Durand" not in html and "Anna Bianchi" not in html
    login(client, floor["zoe"].email, PASSWORD)
    theirs = client.get(ME_URL).get_data(as_text=True)
    assert "<dd>30.0</dd>" in theirs and "<dd>60.0</dd>" not in theirs  # Zoé's, not Anna's


def test_the_screens_speak_french(client, floor):
    login(client, floor["manager"].email, PASSWORD)
    token = csrf_from(client.get(STORE_URL).get_data(as_text=True))
    client.post("/language", data={"language": "fr", "csrf_token": token, "next": STORE_URL})
    html = client.get(STORE_URL + "?period=today").get_data(as_text=True)
    assert "<dd>60,0</dd>" in html  # the French decimal comma
    assert "4,8\u00a0%" in html or "4,8\u202f%" in html


def test_the_manager_queue_links_to_the_store_page(client, floor):
    login(client, floor["manager"].email, PASSWORD)
    assert f'href="{STORE_URL}"' in client.get("/stores/PAR01/queue").get_data(as_text=True)


def _settings_form(client, **values) -> dict:
    data = {
        "csrf_token": csrf_from(client.get("/admin/retailer").get_data(as_text=True)),
        "return_window_days": "30",
        "return_reasons": ["changed_mind", "too_small"],
        "failed_capture": "hold",
        "messages_on": list(NOTIFICATION_KINDS),
        "personal_data_retention_days": "1095",
    }
    data.update(values)
    return data


def test_the_admin_turns_individual_figures_on_and_off(client, floor):
    login(client, floor["head_office"].email, PASSWORD)
    page = client.get("/admin/retailer").get_data(as_text=True)
    assert "French and Italian labour rules restrict the individual monitoring of employees" in page
    assert 'name="individual_productivity"' in page
    assert client.post("/admin/retailer", data=_settings_form(client, individual_productivity="y")).status_code == 200
    assert db.session.get(RetailerSettings, 1).individual_productivity is True
    assert client.post("/admin/retailer", data=_settings_form(client)).status_code == 200  # unticked
    db.session.expire_all()
    assert db.session.get(RetailerSettings, 1).individual_productivity is False


def test_the_setting_form_needs_its_csrf_token(client, floor):
    login(client, floor["head_office"].email, PASSWORD)
    data = _settings_form(client, individual_productivity="y")
    data.pop("csrf_token")
    assert client.post("/admin/retailer", data=data).status_code == 400
    assert db.session.get(RetailerSettings, 1) is None
