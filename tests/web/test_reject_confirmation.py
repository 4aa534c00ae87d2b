"""Rejecting asks for a reason (none preselected), says what it will do to the stock, and waits for a confirmation."""

import html
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from app.core.models import StockLevel, StockMovement
from app.core.ordering import orders, sourcing
from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, ship_draft, stocked

HX = {"HX-Request": "true", "HX-Target": "fulfilment"}


@pytest.fixture
def shop(app):
    """PAR01 holds 4 of GAN-001-M and one order of 1 unit sourced there; LYO01 can take what PAR01 gives back."""
    par = make_location(code="PAR01", latitude=Decimal("48.87"), longitude=Decimal("2.33"))
    lyo = make_location(code="LYO01", latitude=Decimal("45.76"), longitude=Decimal("4.84"))
    glove = make_product(sku="GAN-001-M", name="Gants cuir")
    stocked(par, glove, 4)
    stocked(lyo, glove, 4)
    draft = ship_draft((glove, 1), ref="W-9001")
    draft.ship_to.update(latitude=Decimal("48.86"), longitude=Decimal("2.33"))
    order = orders.create_order(draft, actor=ACTOR)[0]
    sourcing.source_order(order, actor=ACTOR)
    [fulfilment] = order.fulfilments
    assert fulfilment.location.code == "PAR01"
    associate = make_user(stores=[par])
    db.session.commit()
    return {"par": par, "glove": glove, "order": order, "f": fulfilment, "associate": associate}


def _reason_select(body):
    start = body.index('<select id="reason"')
    return body[start : body.index("</select>", start)]


def _sign_in(client, user):
    login(client, user.email, PASSWORD)
    return csrf_token(client, "/")


def _post(client, shop, token, **data):
    url = f"/stores/PAR01/fulfilments/{shop['f'].id}/reject"
    form = {"csrf_token": token, "version": shop["f"].version, "scope": "all", "note": "", **data}
    return client.post(url, data=form, headers=HX)


def _state(shop):
    db.session.expire_all()
    level = db.session.scalar(
        select(StockLevel).where(StockLevel.location_id == shop["par"].id, StockLevel.product_id == shop["glove"].id)
    )
    movements = db.session.scalar(select(func.count()).select_from(StockMovement))
    return shop["f"].status, level.on_hand, level.reserved, level.damaged, movements


def test_the_form_preselects_no_reason(client, shop):
    _sign_in(client, shop["associate"])
    body = client.get(f"/stores/PAR01/fulfilments/{shop['f'].id}").get_data(as_text=True)
    select_ = _reason_select(body)
    assert select_.startswith('<select id="reason" name="reason"><option value="">Choose a reason</option>')
    assert "selected" not in select_


def test_no_reason_is_422_with_a_clear_message_and_changes_nothing(client, shop):
    token = _sign_in(client, shop["associate"])
    before = _state(shop)
    for data in ({"reason": ""}, {"reason": "", "confirm": "1"}, {}):
        response = _post(client, shop, token, **data)
        assert response.status_code == 422
        assert "Choose a reason." in response.get_data(as_text=True)
    assert _state(shop) == before


def test_a_first_submit_says_what_will_happen_and_changes_nothing(client, shop):
    token = _sign_in(client, shop["associate"])
    before = _state(shop)
    assert before[:3] == ("created", 4, 1)
    response = _post(client, shop, token, reason="out_of_stock")
    body = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 200
    assert "PAR01 will count 0 of GAN-001-M (4 on hand now)." in body
    assert "1 unit of GAN-001-M given back." in body
    assert "Confirm rejection" in body and 'name="confirm" value="1"' in body and 'name="back" value="1"' in body
    assert f'name="version" value="{shop["f"].version}"' in body
    assert 'id="reason"' not in body  # the form is replaced by the confirmation: no duplicate ids
    assert _state(shop) == before
    # Back shows the form again as filled in, nothing changed
    back = _post(client, shop, token, reason="out_of_stock", back="1")
    assert back.status_code == 200
    assert '<option selected value="out_of_stock">' in back.get_data(as_text=True)
    assert _state(shop) == before


def test_confirming_rejects_and_applies_the_stock_effect_previewed(client, shop):
    token = _sign_in(client, shop["associate"])
    response = _post(client, shop, token, reason="out_of_stock", confirm="1")
    assert response.status_code == 200
    assert "Order rejected: Out of stock" in response.headers["HX-Trigger"]
    status, on_hand, reserved, _, _ = _state(shop)
    assert (status, on_hand, reserved) == ("rejected", 0, 0)
    assert "Reason</dt><dd>Out of stock</dd>" in response.get_data(as_text=True)
    assert "out_of_stock" not in response.get_data(as_text=True).split('class="actions"')[0]


def test_units_held_for_other_orders_are_said_to_stay(client, shop):
    other = orders.create_order(ship_draft((shop["glove"], 1), ref="W-9002"), actor=ACTOR)[0]
    orders.assign_fulfilment(other, shop["par"], {other.lines[0]: 1}, actor=ACTOR)
    db.session.commit()
    token = _sign_in(client, shop["associate"])
    body = html.unescape(_post(client, shop, token, reason="out_of_stock").get_data(as_text=True))
    assert "PAR01 will count 0 available of GAN-001-M: 4 on hand now, 1 kept, held for other orders." in body
    _post(client, shop, token, reason="out_of_stock", confirm="1")
    assert _state(shop)[1:3] == (1, 1)


def test_damaged_says_how_many_units_are_set_aside(client, shop):
    token = _sign_in(client, shop["associate"])
    body = html.unescape(_post(client, shop, token, reason="damaged").get_data(as_text=True))
    assert "1 unit of GAN-001-M set aside as damaged at PAR01." in body
    _post(client, shop, token, reason="damaged", confirm="1")
    assert _state(shop)[1:4] == (3, 0, 1)


def test_other_reasons_leave_the_stock_unchanged(client, shop):
    token = _sign_in(client, shop["associate"])
    body = html.unescape(_post(client, shop, token, reason="too_busy").get_data(as_text=True))
    assert "Stock of GAN-001-M at PAR01 unchanged." in body


def test_a_stale_confirmation_is_refused(client, shop):
    token = _sign_in(client, shop["associate"])
    response = _post(client, shop, token, reason="out_of_stock", confirm="1", version="0")
    assert response.status_code == 409
    assert _state(shop)[:3] == ("created", 4, 1)


def test_a_french_associate_sees_the_reason_in_french(client, shop):
    shop["associate"].language = "fr"
    db.session.commit()
    token = _sign_in(client, shop["associate"])
    preview = html.unescape(_post(client, shop, token, reason="out_of_stock").get_data(as_text=True))
    assert "PAR01 comptera 0 de GAN-001-M (4 en stock actuellement)." in preview
    response = _post(client, shop, token, reason="out_of_stock", note="rayon vide", confirm="1")
    body = response.get_data(as_text=True)
    assert "Rupture de stock : rayon vide" in html.unescape(body)
    assert "out_of_stock" not in body.split('class="actions"')[0]


def test_reject_all_asks_for_a_reason_with_none_preselected(client, shop):
    manager = make_user(stores=[shop["par"]], role="manager")
    db.session.commit()
    token = _sign_in(client, manager)
    page = client.get("/stores/PAR01/reject-all").get_data(as_text=True)
    select_ = _reason_select(page)
    assert select_.startswith('<select id="reason" name="reason"><option value="">Choose a reason</option>')
    assert "selected" not in select_
    response = client.post("/stores/PAR01/reject-all", data={"csrf_token": token, "reason": ""})
    assert response.status_code == 422
    assert "Choose a reason." in response.get_data(as_text=True)
    assert _state(shop)[0] == "created"
