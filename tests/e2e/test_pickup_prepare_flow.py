"""Preparing a picked click & collect order in a real browser, on a tablet and on a 360×640 handheld: from the
order's next step to "Prepare for pickup", the bags counted, a bag label chosen by scanning it into the focused
field and put in one slot, the other bag in another slot by the keyboard-wedge scanner, then ready for pickup.
"""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ASSOCIATE, STORE, login, wedge
from tests.e2e.test_associate_flow import decode_pdf

pytestmark = pytest.mark.e2e

VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "handheld": {"width": 360, "height": 640}}


@pytest.fixture(scope="module")
def collect_orders(database_url, live_server) -> list[int]:
    """One picked click & collect order per viewport at the demo store (bag step on), and two slots for each."""
    from sqlalchemy import select

    from app import create_app
    from app.core.actor import Actor
    from app.core.floor import pickups
    from app.core.models import Location, StockLevel
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    actor = Actor.system("e2e")
    ids = []
    with app.app_context():
        store = db.session.scalar(select(Location).where(Location.code == STORE))
        store.pickup_bag_step = True
        level = db.session.scalars(
            select(StockLevel)
            .where(StockLevel.location_id == store.id, StockLevel.on_hand - StockLevel.reserved > 5)
            .order_by(StockLevel.id)
        ).first()
        for viewport in VIEWPORTS:
            draft = OrderDraft(
                channel="web",
                external_ref=f"E2E-PREP-{viewport}",
                customer_name="Giulia Rossi",
                delivery_method="collect",
                pickup_location_code=STORE,
                customer_email="giulia@example.it",
                lines=[LineDraft(code=level.product.sku, quantity=2)],
            )
            order, _ = orders.create_order(draft, actor=actor)
            fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=actor)
            for status in ("accepted", "picking", "picked"):
                orders.transition(fulfilment, status, actor=actor)
            pickups.add_slots(store, [f"E2E-{viewport[0].upper()}1", f"E2E-{viewport[0].upper()}2"], actor=actor)
            ids.append(fulfilment.id)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return ids


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_bags_are_counted_labelled_and_staged_by_scans_until_the_order_is_ready(
    page, collect_orders, query, shot, viewport, tmp_path
):
    page.set_viewport_size(VIEWPORTS[viewport])
    fulfilment_id = collect_orders[list(VIEWPORTS).index(viewport)]
    letter = viewport[0].upper()
    login(page, ASSOCIATE)
    page.goto(f"/stores/{STORE}/fulfilments/{fulfilment_id}")
    page.get_by_role("link", name="Prepare for pickup").click()
    page.wait_for_url(f"**/fulfilments/{fulfilment_id}/prepare")
    shot(page, f"{viewport}-bags")

    page.get_by_label("Number of bags").fill("2")
    page.get_by_role("button", name="Save the number of bags").click()
    expect(page.locator("#prepare-result")).to_contain_text("2 bags: print their labels")
    stage = page.locator("#stage-code")
    expect(stage).to_be_focused()  # the screen is ready for the next scan
    label = page.get_by_role("link", name="Bag labels (2 × 1 inch PDF)")
    pdf = page.request.get(label.get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert decode_pdf(pdf.body(), tmp_path, "bags") == [f"BAG-{fulfilment_id}-1", f"BAG-{fulfilment_id}-2"]
    shot(page, f"{viewport}-labels")

    # bag 2: its label, then its slot, scanned into the focused field
    stage.press_sequentially(f"BAG-{fulfilment_id}-2")
    stage.press("Enter")
    expect(page.locator("#prepare-result")).to_contain_text("Bag 2 of 2: now scan the slot")
    expect(page.locator("#stage-code")).to_be_focused()
    page.locator("#stage-code").press_sequentially(f"SLOT-{STORE}-E2E-{letter}2")
    page.locator("#stage-code").press("Enter")
    expect(page.locator("#prepare-result")).to_contain_text(f"Bag 2 on slot E2E-{letter}2.")
    # the rest by the keyboard-wedge scanner, focus anywhere: the scan bar of this screen stages too
    page.locator("#prepare-title").click()
    page.evaluate("document.activeElement && document.activeElement.blur()")
    wedge(page, f"SLOT-{STORE}-E2E-{letter}1")
    expect(page.locator("#prepare-result")).to_contain_text("is ready for pickup: the customer has been told.")
    expect(page.locator("#prepare")).to_contain_text("Ready for pickup.")
    shot(page, f"{viewport}-ready")

    rows = query(
        "SELECT f.status, p.code FROM fulfilment f JOIN pickup p ON p.fulfilment_id = f.id WHERE f.id = :id",
        id=fulfilment_id,
    )
    status, code = rows[0]
    assert status == "ready_for_pickup" and code
    assert code not in page.content()  # staff never see the customer's code here
    slots = query(
        "SELECT b.number, s.code FROM pickup_bag b JOIN pickup p ON p.id = b.pickup_id "
        "JOIN pickup_slot s ON s.id = b.slot_id WHERE p.fulfilment_id = :id ORDER BY b.number",
        id=fulfilment_id,
    )
    assert [tuple(row) for row in slots] == [(1, f"E2E-{letter}1"), (2, f"E2E-{letter}2")]
    overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0
