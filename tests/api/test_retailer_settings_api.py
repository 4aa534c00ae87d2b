"""The retailer's settings through the API: the same validation and audit as the admin screen (update_settings)."""

import pytest
from sqlalchemy import select

from app.core.integration.api_clients import create_api_client
from app.core.models import AuditEvent, RetailerSettings
from app.core.models.payments import NOTIFICATION_KINDS, RETURN_REASONS
from app.extensions import db
from tests.factories import ACTOR

URL = "/api/v1/settings/retailer"


@pytest.fixture
def tokens(app):
    _, writer = create_api_client("erp", ["settings:read", "settings:write"], actor=ACTOR)
    _, reader = create_api_client("bi", ["settings:read"], actor=ACTOR)
    _, orders_only = create_api_client("shop", ["orders:read"], actor=ACTOR)
    db.session.commit()
    return {name: {"Authorization": f"Bearer {t}"} for name, t in [("w", writer), ("r", reader), ("o", orders_only)]}


def test_the_defaults_are_read_before_anything_is_saved(client, tokens):
    got = client.get(URL, headers=tokens["r"])
    assert got.status_code == 200
    assert got.json["return_window_days"] == 30 and got.json["failed_capture"] == "hold"
    assert got.json["return_reasons"] == list(RETURN_REASONS) and got.json["notifications_off"] == []
    assert got.json["individual_productivity"] is False  # team figures only unless the retailer chooses otherwise
    assert db.session.get(RetailerSettings, 1) is None  # reading stores nothing


def test_settings_are_changed_in_part_audited_and_the_same_again_changes_nothing(client, tokens):
    body = {"notifications_off": ["order_split", "refunded"], "return_window_days": 14}
    changed = client.patch(URL, json=body, headers=tokens["w"])
    assert changed.status_code == 200, changed.json
    assert changed.json["notifications_off"] == ["order_split", "refunded"]
    assert changed.json["return_window_days"] == 14 and changed.json["failed_capture"] == "hold"
    assert changed.json["updated_by"] == "api:erp"
    more = client.patch(
        URL, json={"return_reasons": ["too_small", "changed_mind"], "failed_capture": "hand_over"}, headers=tokens["w"]
    )
    assert more.status_code == 200
    assert more.json["return_reasons"] == ["changed_mind", "too_small"]  # in the standard order
    assert more.json["notifications_off"] == ["order_split", "refunded"] and more.json["failed_capture"] == "hand_over"
    stored = db.session.get(RetailerSettings, 1)
    assert (stored.return_window_days, stored.failed_capture) == (14, "hand_over")
    assert client.patch(URL, json={"return_window_days": 14}, headers=tokens["w"]).status_code == 200
    audits = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retailer.settings").order_by(AuditEvent.id)
    ).all()
    assert len(audits) == 2
    assert audits[0].actor == "api:erp" and audits[0].after == body
    assert audits[0].before == {"notifications_off": [], "return_window_days": 30}
    assert client.get(URL, headers=tokens["r"]).json == more.json


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"return_window_days": 366}, {"return_window_days"}),
        ({"return_window_days": -1, "failed_capture": "maybe"}, {"return_window_days", "failed_capture"}),
        ({"return_window_days": "30"}, {"return_window_days"}),
        ({"return_reasons": []}, {"return_reasons"}),
        ({"return_reasons": ["too_small", "bored"]}, {"return_reasons"}),
        ({"notifications_off": ["order_confirmed", "newsletter"]}, {"notifications_off"}),
        ({"notifications_off": "shipped"}, {"notifications_off"}),
        ({"updated_by": "me"}, {"updated_by"}),
        ({"individual_productivity": "perhaps"}, {"individual_productivity"}),
        ({"colour": "red"}, {"colour"}),
    ],
)
def test_bad_settings_are_422_naming_each_field_and_change_nothing(client, tokens, body, fields):
    response = client.patch(URL, json=body, headers=tokens["w"])
    assert response.status_code == 422, response.json
    assert {name.split(".")[0] for name in response.json["fields"]} == fields  # a list's item: "return_reasons.1"
    assert db.session.get(RetailerSettings, 1) is None


def test_an_empty_body_is_refused(client, tokens):
    for body in ({}, None):
        response = client.patch(URL, json=body, headers=tokens["w"])
        assert response.status_code == 422
        assert response.json["error"] == "invalid" and response.json["message"]


def test_every_kind_can_be_turned_off_and_on_again(client, tokens):
    off = client.patch(URL, json={"notifications_off": list(reversed(NOTIFICATION_KINDS))}, headers=tokens["w"])
    assert off.status_code == 200 and off.json["notifications_off"] == list(NOTIFICATION_KINDS)
    on = client.patch(URL, json={"notifications_off": []}, headers=tokens["w"])
    assert on.status_code == 200 and on.json["notifications_off"] == []


def test_scopes_are_enforced(client, tokens):
    assert client.get(URL).status_code == 401
    assert client.get(URL, headers=tokens["o"]).status_code == 403
    refused = client.patch(URL, json={"return_window_days": 10}, headers=tokens["r"])
    assert refused.status_code == 403 and refused.json["error"] == "forbidden"


def test_individual_productivity_is_turned_on_and_off_audited(client, tokens):
    on = client.patch(URL, json={"individual_productivity": True}, headers=tokens["w"])
    assert on.status_code == 200, on.json
    assert on.json["individual_productivity"] is True and on.json["return_window_days"] == 30
    assert db.session.get(RetailerSettings, 1).individual_productivity is True
    assert client.get(URL, headers=tokens["r"]).json["individual_productivity"] is True
    off = client.patch(URL, json={"individual_productivity": False}, headers=tokens["w"])
    assert off.status_code == 200 and off.json["individual_productivity"] is False
    audits = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "retailer.settings").order_by(AuditEvent.id)
    ).all()
    assert [(a.before, a.after) for a in audits] == [
        ({"individual_productivity": False}, {"individual_productivity": True}),
        ({"individual_productivity": True}, {"individual_productivity": False}),
    ]
