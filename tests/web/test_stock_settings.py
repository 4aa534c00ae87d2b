"""What a store keeps back, set by its manager: a product's safety stock and the store's channel buffers."""

import pytest
from sqlalchemy import func, select

from app.core.inventory import buffers, stock
from app.core.models import AuditEvent, ChannelBuffer, StockLevel
from app.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import ACTOR, PASSWORD, make_location, make_product, make_user, stocked

HX = {"HX-Request": "true", "HX-Target": "settings"}


@pytest.fixture
def shop(app, client):
    store, other = make_location(name="Lyon Part-Dieu"), make_location(name="Milano Duomo")
    product = stocked(store, make_product(), 10)
    buffers.set_channel_buffer(store, "marketplace", 2, actor=ACTOR)
    db.session.commit()
    return {
        "store": store,
        "other": other,
        "product": product,
        "url": f"/stores/{store.code}/stock/{product.id}/settings",
    }


def _sign_in(client, role, store):
    user = make_user(stores=[store], role=role)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return user


def _state(shop):
    db.session.rollback()
    level = db.session.scalar(select(StockLevel).where(StockLevel.location_id == shop["store"].id))
    held = {b.channel: b.units for b in db.session.scalars(select(ChannelBuffer))}
    return level.safety_stock, held


def _form(**values):
    return {
        "safety_stock": "0",
        "buffers-0-channel": "marketplace",
        "buffers-0-known": "1",
        "buffers-0-units": "2",
        "buffers-1-channel": "",
        "buffers-1-known": "",
        "buffers-1-units": "",
        **values,
    }


def test_a_manager_sets_safety_stock_and_buffers_and_each_change_is_audited(client, shop):
    _sign_in(client, "manager", shop["store"])
    page = client.get(shop["url"])
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Held back from marketplace" in html and 'value="2"' in html
    data = _form(safety_stock="3", **{"buffers-0-units": "5", "buffers-1-channel": " web ", "buffers-1-units": "1"})
    response = client.post(shop["url"], data={"csrf_token": csrf_from(html), **data}, headers=HX)
    assert response.status_code == 200
    assert "Saved" in response.headers["HX-Trigger"]
    fragment = response.get_data(as_text=True)
    assert "<html" not in fragment and "Held back from web" in fragment  # the new channel is now a known one
    assert _state(shop) == (3, {"marketplace": 5, "web": 1})
    actions = db.session.execute(
        select(AuditEvent.action, func.count()).group_by(AuditEvent.action).order_by(AuditEvent.action)
    ).all()
    assert dict(actions)["stock.safety_stock"] == 1
    assert dict(actions)["stock.channel_buffer"] == 3  # the fixture's, then marketplace and web
    assert stock.available_to_promise(shop["store"], shop["product"]) == 7


def test_the_stock_list_offers_the_screen_to_managers_only(client, shop):
    _sign_in(client, "manager", shop["store"])
    assert shop["url"] in client.get(f"/stores/{shop['store'].code}/stock").get_data(as_text=True)


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"safety_stock": "-1"}, "safety_stock"),
        ({"safety_stock": "lots"}, "safety_stock"),
        ({"safety_stock": ""}, "safety_stock"),
        ({"buffers-0-units": "-4"}, "buffers-0-units"),
        ({"buffers-1-channel": "web"}, "buffers-1-units"),  # a new channel without its units
        ({"buffers-1-channel": "x" * 33, "buffers-1-units": "1"}, "buffers-1-channel"),
    ],
)
def test_bad_values_are_marked_on_their_field_and_change_nothing(client, shop, values, field):
    _sign_in(client, "manager", shop["store"])
    token = csrf_from(client.get(shop["url"]).get_data(as_text=True))
    response = client.post(
        shop["url"], data={"csrf_token": token, **_form(**{"safety_stock": "4", **values})}, headers=HX
    )
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.get_data(as_text=True)
    assert _state(shop) == (0, {"marketplace": 2})


def test_the_page_is_in_the_managers_language(client, shop):
    user = _sign_in(client, "manager", shop["store"])
    user.language = "it"
    db.session.commit()
    html = client.get(shop["url"], headers={"Accept-Language": "it"}).get_data(as_text=True)
    assert "Trattenuto da marketplace" in html


def test_an_associate_of_the_store_cannot_open_or_post_it(client, shop):
    _sign_in(client, "associate", shop["store"])
    assert client.get(shop["url"]).status_code == 403
    token = csrf_from(client.get(f"/stores/{shop['store'].code}/stock").get_data(as_text=True))
    assert client.post(shop["url"], data={"csrf_token": token, **_form(safety_stock="9")}).status_code == 403
    assert shop["url"] not in client.get(f"/stores/{shop['store'].code}/stock").get_data(as_text=True)
    assert _state(shop) == (0, {"marketplace": 2})


def test_a_manager_of_another_store_cannot_open_or_post_it(client, shop):
    _sign_in(client, "manager", shop["other"])
    assert client.get(shop["url"]).status_code == 403
    token = csrf_from(client.get(f"/stores/{shop['other'].code}/stock").get_data(as_text=True))
    data = {"csrf_token": token, **_form(safety_stock="9", **{"buffers-0-units": "0"})}
    assert client.post(shop["url"], data=data).status_code == 403
    assert _state(shop) == (0, {"marketplace": 2})


def test_an_admin_sets_them_at_any_store(client, shop):
    admin = make_user(role="admin")
    db.session.commit()
    login(client, admin.email, PASSWORD)
    token = csrf_from(client.get(shop["url"]).get_data(as_text=True))
    response = client.post(shop["url"], data={"csrf_token": token, **_form(safety_stock="1")})
    assert response.status_code == 200
    assert _state(shop) == (1, {"marketplace": 2})
