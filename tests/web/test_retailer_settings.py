"""The admin screen for returns, the failed-capture choice and the customer messages: admins only, every change
validated by update_settings (all or nothing) and audited, labels in the reader's language."""

import pytest
from sqlalchemy import select

from app.core.models import AuditEvent, RetailerSettings
from app.core.models.payments import NOTIFICATION_KINDS
from app.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, make_location, make_user

URL = "/admin/retailer"


@pytest.fixture
def admin(app, client):
    user = make_user(role="admin")
    db.session.commit()
    login(client, user.email, PASSWORD)
    return user


def _form(client, **values) -> dict:
    page = client.get(URL)
    assert page.status_code == 200
    data = {
        "csrf_token": csrf_from(page.get_data(as_text=True)),
        "return_window_days": "30",
        "return_reasons": ["changed_mind", "too_small", "damaged"],
        "failed_capture": "hold",
        "messages_on": [kind for kind in NOTIFICATION_KINDS if kind != "order_split"],
        "personal_data_retention_days": "1095",
    }
    data.update(values)
    return data


def test_the_screen_shows_every_message_ticked_until_turned_off(client, admin):
    html = client.get(URL).get_data(as_text=True)
    for kind in NOTIFICATION_KINDS:
        assert f'value="{kind}"' in html
    assert html.count('name="messages_on"') == len(NOTIFICATION_KINDS)
    assert html.count("checked") == len(NOTIFICATION_KINDS) + 8  # every message and every return reason
    assert "Order running late" in html and "Returns and customer messages" in html
    assert 'aria-current="page"' in html and 'href="/admin/retailer"' in html


def test_saving_turns_messages_off_and_changes_returns_audited(client, admin):
    response = client.post(URL, data=_form(client, return_window_days="14", failed_capture="hand_over"))
    assert response.status_code == 200
    stored = db.session.get(RetailerSettings, 1)
    assert stored.notifications_off == ["order_split"]
    assert (stored.return_window_days, stored.failed_capture) == (14, "hand_over")
    assert stored.return_reasons == ["changed_mind", "too_small", "damaged"]
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retailer.settings"))
    assert audit.actor == f"user:{admin.email}"
    assert audit.after["notifications_off"] == ["order_split"]
    html = client.get(URL).get_data(as_text=True)
    assert 'value="order_split"' in html
    assert html.count("checked") == len(NOTIFICATION_KINDS) - 1 + 3


def test_bad_values_are_refused_on_the_field_and_nothing_changes(client, admin):
    response = client.post(URL, data=_form(client, return_window_days="400"))
    assert response.status_code == 422
    assert 'aria-invalid="true"' in response.get_data(as_text=True)
    no_reason = _form(client)
    no_reason.pop("return_reasons")
    response = client.post(URL, data=no_reason)
    assert response.status_code == 422
    assert "Choose at least one." in response.get_data(as_text=True)
    assert db.session.get(RetailerSettings, 1) is None


def test_the_personal_data_retention_is_shown_set_and_validated(client, admin):
    html = client.get(URL).get_data(as_text=True)
    assert 'name="personal_data_retention_days"' in html and 'value="1095"' in html
    assert "Customers&#39; personal data" in html or "Customers' personal data" in html
    for bad in ("29", "3651", "three years", ""):
        response = client.post(URL, data=_form(client, personal_data_retention_days=bad))
        assert response.status_code == 422, bad
        assert 'aria-invalid="true"' in response.get_data(as_text=True)
    assert db.session.get(RetailerSettings, 1) is None
    assert client.post(URL, data=_form(client, personal_data_retention_days="730")).status_code == 200
    assert db.session.get(RetailerSettings, 1).personal_data_retention_days == 730
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retailer.settings"))
    assert audit.after["personal_data_retention_days"] == 730


def test_the_screen_speaks_french(client, admin):
    token = csrf_from(client.get(URL).get_data(as_text=True))
    assert client.post("/language", data={"language": "fr", "csrf_token": token, "next": URL}).status_code == 302
    html = client.get(URL).get_data(as_text=True)
    assert "Messages aux clients" in html and "Commande en retard" in html


def test_managers_do_not_reach_it(client, app):
    store = make_location(code="PAR01")
    user = make_user(stores=[store], role="manager")
    db.session.commit()
    login(client, user.email, PASSWORD)
    assert client.get(URL).status_code == 403
