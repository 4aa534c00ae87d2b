"""Packing as it meets a new associate, on a tablet and on a 360×640 handheld (issue 10, defects 3 and 9).

The pack screen comes prefilled (box and weight suggested); the CMD:CONFIRM barcode alone finishes it, with no
"Save parcel" first; the label opens in a new tab and the app stays where it was.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ASSOCIATE, STORE, login
from tests.e2e.test_associate_flow import scanned, wedge

pytestmark = pytest.mark.e2e

VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "handheld": {"width": 360, "height": 640}}


@pytest.fixture(scope="module")
def picked_orders(database_url, live_server) -> list[int]:
    """One picked ship-from-store order per viewport at the demo store, on a product it has in stock."""
    from sqlalchemy import select

    from app import create_app
    from app.core.actor import Actor
    from app.core.models import Location, StockLevel
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    actor = Actor.system("e2e")
    ids = []
    with app.app_context():
        store = db.session.scalar(select(Location).where(Location.code == STORE))
        level = db.session.scalars(
            select(StockLevel)
            .where(StockLevel.location_id == store.id, StockLevel.on_hand - StockLevel.reserved > 5)
            .order_by(StockLevel.id)
        ).first()
        for viewport in VIEWPORTS:
            draft = OrderDraft(
                channel="web",
                external_ref=f"E2E-PACK-{viewport}",
                customer_name="Chloé Martin",
                delivery_method="ship",
                customer_email="chloe@example.fr",
                lines=[LineDraft(code=level.product.sku, quantity=1)],
                ship_to={"line1": "3 rue des Archives", "postcode": "75004", "city": "Paris", "country": "FR"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=actor)
            for status in ("accepted", "picking", "picked"):
                orders.transition(fulfilment, status, actor=actor)
            ids.append(fulfilment.id)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_prefilled_parcel_is_finished_by_the_confirm_scan_and_its_label_opens_beside_the_app(
    page, picked_orders, query, shot, viewport
):
    page.set_viewport_size(VIEWPORTS[viewport])
    fulfilment_id = picked_orders[list(VIEWPORTS).index(viewport)]
    login(page, ASSOCIATE)
    pack_url = f"/stores/{STORE}/fulfilments/{fulfilment_id}/pack"
    page.goto(pack_url)
    weight = page.locator("section.parcel").first.get_by_label("Weight (g)")
    expect(weight).not_to_have_value("")
    shown = int(weight.input_value())
    expect(page.locator("section.parcel").first).to_contain_text(f"Estimate: {shown} g")
    expect(page.locator("#pack")).not_to_contain_text("has no box")
    shot(page, f"{viewport}-prefilled")

    wedge(page, "CMD:CONFIRM")  # no "Save parcel 1": what the screen shows is what goes
    scanned(page, "ok")
    expect(page.locator("#pack")).to_contain_text("Parcel 1 of")
    shot(page, f"{viewport}-labelled")
    assert query("SELECT status FROM fulfilment WHERE id = :id", id=fulfilment_id) == [("packed",)]
    weights = query("SELECT weight_grams FROM parcel WHERE fulfilment_id = :id ORDER BY number", id=fulfilment_id)
    assert weights[0] == (shown,)

    with page.context.expect_page() as opened:
        page.get_by_role("link", name=re.compile(r"^Label \(PDF\)")).first.click()
    label = opened.value
    label.wait_for_load_state()
    assert re.search(r"/parcels/\d+/label\.pdf$", label.url)
    expect(page).to_have_url(re.compile(re.escape(pack_url) + "$"))  # the app stayed
    expect(page.locator("#pack")).to_contain_text("Parcel 1 of")
    label.close()
    shot(page, f"{viewport}-app-kept")
