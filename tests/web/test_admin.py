"""Admin screens: sourcing rules, locations, API clients, webhooks. Admins only, every change audited."""

import pytest
from sqlalchemy import func, select

from app.core.models import ApiClient, AuditEvent, Location, OutboxEvent, WebhookDelivery, WebhookSubscription
from app.core.ordering import rules
from app.extensions import db
from tests.conftest import csrf_from, login
from tests.factories import PASSWORD, make_location, make_product, make_user


@pytest.fixture
def admin(app, client):
    user = make_user(role="admin")
    db.session.commit()
    login(client, user.email, PASSWORD)
    return user


def _page(client, url):
    response = client.get(url)
    assert response.status_code == 200, url
    return response.get_data(as_text=True)


def _post(client, url, data, page=None):
    token = csrf_from(_page(client, page or url))
    return client.post(url, data={"csrf_token": token, **data})


def _admin_urls(app, location_code="PAR01"):
    ids = {
        "location_code": location_code,
        "sku": "SKU-1",
        "client_id": "1",
        "delivery_id": "1",
        "carrier_id": "1",
        "service_id": "1",
    }
    urls = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("admin."):
            path = rule.rule
            for name in rule.arguments:
                path = path.replace(f"<int:{name}>", ids[name]).replace(f"<{name}>", ids[name])
            urls += [(method, path) for method in sorted(rule.methods - {"HEAD", "OPTIONS"})]
    return urls


@pytest.mark.parametrize("role", ["associate", "manager"])
def test_only_admins_reach_any_admin_url(app, client, role):
    store = make_location(code="PAR01")
    user = make_user(stores=[store], role=role)
    db.session.commit()
    login(client, user.email, PASSWORD)
    token = csrf_from(client.get("/", follow_redirects=True).get_data(as_text=True))
    urls = _admin_urls(app)
    assert len(urls) >= 10
    for method, url in urls:
        response = client.open(url, method=method, data={"csrf_token": token, "max_splits": "5", "name": "x"})
        assert response.status_code == 403, f"{method} {url} -> {response.status_code}"
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action != "user.create")) == 0
    )


def test_signed_out_visitors_are_sent_to_sign_in(app, client):
    assert client.get("/admin/sourcing").status_code == 302


RULES_FORM = {
    "max_splits": "3",
    "collect_shortage": "transfer",
    "pickup_expiry": "customer_service",
    "workload_km_per_order": "5",
    "capacity_km": "50",
    "priority_km": "100",
    "unknown_distance_km": "0",
    "ship_from_warehouses": "y",
}


def test_an_admin_changes_the_sourcing_rules(app, client, admin):
    response = _post(client, "/admin/sourcing", RULES_FORM)
    assert response.status_code == 200
    assert "Saved." in response.headers["HX-Trigger"]
    db.session.expire_all()
    current = rules.current_rules()
    assert (current.max_splits, current.collect_shortage, current.pickup_expiry) == (3, "transfer", "customer_service")
    assert current.updated_by == f"user:{admin.email}"
    assert "user:" + admin.email in _page(client, "/admin/sourcing")


def test_invalid_rules_are_shown_and_change_nothing(app, client, admin):
    response = _post(client, "/admin/sourcing", {**RULES_FORM, "max_splits": "9", "capacity_km": "7"})
    assert response.status_code == 422
    body = response.get_data(as_text=True)
    assert 'aria-invalid="true"' in body and "max_splits-error" in body
    db.session.expire_all()
    assert (rules.current_rules().max_splits, rules.current_rules().capacity_km) == (2, 50)


def test_an_admin_pauses_a_store_and_edits_its_opening_hours(app, client, admin):
    make_location(code="LYO01", name="Lyon")
    db.session.commit()
    page = _page(client, "/admin/locations/LYO01")
    assert "mon 09:00-19:00" in page and "sun closed" in page
    form = {
        "ships_from_store": "y",
        "ship_paused": "y",
        "click_and_collect": "y",
        "sourcing_priority": "2",
        "daily_capacity": "40",
        "accept_within_minutes": "45",
        "ready_within_minutes": "180",
        "pick_batch_size": "12",
        "scan_mode": "first",
        "zpl_printer": "192.168.1.50:9100",
        "opening_hours": "mon 10:00-19:00\ntue 09:00-12:30, 14:00-19:00\nsun closed",
        "pickup_hold_days": "10",
        "pickup_reminder_hours": "12",
        "pickup_bag_scan": "y",
    }
    assert _post(client, "/admin/locations/LYO01", form).status_code == 200
    store = db.session.scalar(select(Location).where(Location.code == "LYO01"))
    db.session.refresh(store)
    assert store.ship_paused is True and store.daily_capacity == 40
    assert (store.pick_batch_size, store.scan_mode, store.zpl_printer) == (12, "first", "192.168.1.50:9100")
    assert store.opening_hours["tue"] == [["09:00", "12:30"], ["14:00", "19:00"]]
    # the click & collect settings, as the store's manager edits them on the hold-shelf screen
    assert (store.pickup_hold_days, store.pickup_reminder_hours, store.pickup_bag_scan) == (10, 12, True)
    assert (store.pickup_bag_step, store.curbside) == (False, False)
    assert store.opening_hours["wed"] == []
    bad = _post(client, "/admin/locations/LYO01", {**form, "opening_hours": "mon 19:00-09:00", "daily_capacity": "1"})
    assert bad.status_code == 422
    assert "19:00 must be before 09:00" in bad.get_data(as_text=True)
    db.session.refresh(store)
    assert store.daily_capacity == 40  # nothing applied
    for name, value, message in (
        ("pick_batch_size", "51", "between 1 and 50"),
        ("zpl_printer", "printer; rm -rf", "host:port"),
        ("scan_mode", "sometimes", "Not a valid choice"),
        ("pickup_hold_days", "61", "between 1 and 60"),
    ):
        refused = _post(client, "/admin/locations/LYO01", {**form, name: value, "daily_capacity": "2"})
        assert refused.status_code == 422 and message in refused.get_data(as_text=True), name
    db.session.refresh(store)
    assert (store.daily_capacity, store.pick_batch_size) == (40, 12)
    assert client.get("/admin/locations/NOPE").status_code == 404


def test_an_admin_blocks_and_unblocks_a_product_at_a_store(app, client, admin):
    make_location(code="MIL01")
    product = make_product(sku="RECALL-1")
    db.session.commit()
    response = _post(
        client,
        "/admin/locations/MIL01/blocked",
        {"block-code": product.gtin, "block-reason": "recall"},
        "/admin/locations/MIL01",
    )
    assert response.status_code == 303
    assert "RECALL-1" in _page(client, "/admin/locations/MIL01")
    unknown = _post(client, "/admin/locations/MIL01/blocked", {"block-code": "NOPE"}, "/admin/locations/MIL01")
    assert unknown.status_code == 422 and "Unknown product code." in unknown.get_data(as_text=True)
    store = db.session.scalar(select(Location).where(Location.code == "MIL01"))
    assert rules.blocked_skus(store) == ["RECALL-1"]
    removed = _post(client, "/admin/locations/MIL01/blocked/RECALL-1/remove", {}, "/admin/locations/MIL01")
    assert removed.status_code == 303
    assert rules.blocked_skus(store) == []
    again = _post(client, "/admin/locations/MIL01/blocked/RECALL-1/remove", {}, "/admin/locations/MIL01")
    assert again.status_code == 303  # repeating it is harmless
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.action.like("location.%"))).all()
    assert actions == ["location.block_product", "location.unblock_product"]


def test_an_admin_closes_a_store_sees_what_is_still_open_there_and_opens_it_again(app, client, admin):
    from app.core.ordering import orders, sourcing
    from tests.factories import ACTOR, ship_draft, stocked

    store = make_location(code="NAN01", name="Nantes", latitude=47.21, longitude=-1.55)
    product = make_product()
    stocked(store, product, 3)
    sourcing.source_order(orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0], actor=ACTOR)
    db.session.commit()
    page = _page(client, "/admin/locations/NAN01")
    assert "Open: sourcing and click & collect give this location new work." in page
    assert "Still open here: 1 fulfilment." in page
    closed = _post(client, "/admin/locations/NAN01/open", {"active": "false"}, "/admin/locations/NAN01")
    assert closed.status_code == 303
    db.session.refresh(store)
    assert store.active is False
    page = _page(client, "/admin/locations/NAN01")
    assert "Closed: no new work comes here." in page and "Open NAN01 again" in page
    later = orders.create_order(ship_draft((product, 1)), actor=ACTOR)[0]
    assert sourcing.source_order(later, actor=ACTOR).unfulfilled == {"1": 1}
    db.session.commit()
    assert (
        _post(client, "/admin/locations/NAN01/open", {"active": "maybe"}, "/admin/locations/NAN01").status_code == 400
    )
    reopened = _post(client, "/admin/locations/NAN01/open", {"active": "true"}, "/admin/locations/NAN01")
    assert reopened.status_code == 303
    db.session.refresh(store)
    assert store.active is True
    actions = db.session.scalars(select(AuditEvent.after).where(AuditEvent.action == "location.update")).all()
    assert actions == [{"active": False}, {"active": True}]


def test_an_admin_creates_an_api_client_sees_the_token_once_and_revokes_it(app, client, admin):
    response = _post(client, "/admin/api-clients", {"name": "webshop", "scopes": ["orders:read", "orders:write"]})
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    token = body.split('class="token">')[1].split("<")[0]
    assert token.startswith("cpt_")
    api = client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"})
    assert api.status_code == 200
    assert token not in _page(client, "/admin/api-clients")  # never shown again
    duplicate = _post(client, "/admin/api-clients", {"name": "webshop", "scopes": ["orders:read"]})
    assert duplicate.status_code == 422 and "This name is already used." in duplicate.get_data(as_text=True)
    no_scope = _post(client, "/admin/api-clients", {"name": "erp"})
    assert no_scope.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(ApiClient)) == 1
    webshop = db.session.scalar(select(ApiClient))
    assert _post(client, f"/admin/api-clients/{webshop.id}/revoke", {}, "/admin/api-clients").status_code == 303
    assert client.get("/api/v1/orders", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert _post(client, f"/admin/api-clients/{webshop.id}/revoke", {}, "/admin/api-clients").status_code == 303
    revokes = db.session.scalar(select(func.count()).where(AuditEvent.action == "api_client.revoke"))
    assert revokes == 1


def test_an_admin_sees_dead_letters_and_sends_one_again(app, client, admin):
    subscription = WebhookSubscription(url="https://erp.example/hooks", secret="s" * 20, event_types="*")
    event = OutboxEvent(type="order.created", payload={"order_id": 1})
    db.session.add_all([subscription, event])
    db.session.flush()
    dead = WebhookDelivery(event=event, subscription=subscription, status="dead", attempts=8, last_error="HTTP 500")
    db.session.add(dead)
    db.session.commit()
    page = _page(client, "/admin/webhooks")
    assert "HTTP 500" in page and "https://erp.example/hooks" in page
    url = f"/admin/webhooks/deliveries/{dead.id}/replay"
    assert _post(client, url, {}, "/admin/webhooks").status_code == 303
    db.session.refresh(dead)
    assert (dead.status, dead.attempts) == ("pending", 0)
    assert _post(client, url, {}, "/admin/webhooks").status_code == 303  # a second click changes nothing
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "webhook.replay")) == 1
    assert "No dead letter." in _page(client, "/admin/webhooks")


def test_an_admin_subscribes_a_url_and_bad_values_are_refused(app, client, admin):
    bad = _post(client, "/admin/webhooks", {"url": "ftp://x", "secret": "short", "event_types": "*"})
    assert bad.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(WebhookSubscription)) == 0
    good = _post(
        client, "/admin/webhooks", {"url": "https://shop.example/h", "secret": "x" * 24, "event_types": "order.created"}
    )
    assert good.status_code == 303
    assert db.session.scalar(select(WebhookSubscription.event_types)) == "order.created"
