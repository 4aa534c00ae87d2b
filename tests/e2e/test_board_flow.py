"""The store board in a browser (issue 14): a manager opens it from the queue on a 10" tablet and on a desktop,
sees the open work by stage with its counts, and the orders at risk (nobody has worked at this store yet).
Screenshots in test-artifacts/e2e/<engine>/."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, login, skip_or_fail
from tests.e2e.test_accessibility import AXE, axe_violations, describe_violations

pytestmark = pytest.mark.e2e

STORE = "E2E14"
MANAGER = "manager.e2e14@example.test"
VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "desktop": {"width": 1920, "height": 1080}}
AXE_VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "desktop": {"width": 1366, "height": 900}}


@pytest.fixture(scope="module")
def board_store(database_url, live_server):
    """A store of its own with its manager: two orders to accept, one accepted (to pick)."""
    from app import create_app
    from app.core.actor import Actor
    from app.core.inventory import catalogue, stock
    from app.core.models import Location
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.core.people import users
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    actor = Actor.system("e2e")
    with app.app_context():
        store = Location(code=STORE, name="Milano Duomo (e2e)", city="Milano", country="IT", timezone="Europe/Rome")
        db.session.add(store)
        db.session.flush()
        product = catalogue.create_product(sku="E2E14-SCARF", name="Sciarpa", gtin="4012345000146")
        stock.receive(store, product, 20, actor=actor, reference="e2e")
        users.create_user(
            email=MANAGER, name="Marta Manager", password=DEMO_PASSWORD, role="manager", stores=[store], actor=actor
        )
        made = []
        for n in (1, 2, 3):
            draft = OrderDraft(
                channel="web",
                external_ref=f"E2E14-{n}",
                customer_name="Giulia Rossi",
                delivery_method="ship",
                lines=[LineDraft(code=product.sku, quantity=2)],
                ship_to={"line1": "Via Dante 1", "postcode": "20121", "city": "Milano", "country": "IT"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            made.append(orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=actor))
        orders.accept_fulfilment(made[0], actor=actor)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_the_manager_opens_the_board_from_the_queue(browser, browser_context_args, board_store, shot, viewport):
    context = browser.new_context(**browser_context_args, viewport=VIEWPORTS[viewport])
    try:
        page = context.new_page()
        login(page, MANAGER)
        page.goto(f"/stores/{STORE}/queue")
        page.locator("#board-link").click()
        expect(page).to_have_url(re.compile(rf"/stores/{STORE}/board$"))
        expect(page.locator("#stage-accept .stage-count")).to_have_text("2")
        expect(page.locator("#stage-pick .stage-count")).to_have_text("1")
        expect(page.locator("#stage-pack .stage-count")).to_have_text("0")
        expect(page.locator("#stage-accept .stage-count")).to_be_visible()
        expect(page.locator("#risk")).to_contain_text("Nobody has worked here in the last 30 minutes")
        expect(page.locator("#board-poll")).to_have_attribute("data-hx-trigger", "every 30s")
        shot(page, f"board-{viewport}")
    finally:
        context.close()


@pytest.mark.parametrize("viewport", list(AXE_VIEWPORTS))
def test_the_board_passes_axe(browser, browser_context_args, board_store, pytestconfig, shot, viewport):
    """axe (WCAG 2.1 A/AA) on the board with work on it, and on the fragment htmx swapped in after a poll (the
    accessibility sweep covers the tablet and the handheld; this adds a laptop-sized desktop)."""
    if not AXE.exists():
        skip_or_fail(pytestconfig, f"{AXE} is missing (npm install axe-core)", "ACCESSIBILITY TESTS")
    # The CSP would block axe's injected script: this context bypasses it (the flow above runs under the real one).
    context = browser.new_context(**browser_context_args, viewport=AXE_VIEWPORTS[viewport], bypass_csp=True)
    try:
        page = context.new_page()
        login(page, MANAGER)
        page.goto(f"/stores/{STORE}/board")
        expect(page.locator("#stage-accept .stage-count")).to_have_text("2")
        violations = axe_violations(page)
        assert not violations, f"axe found on the board ({viewport}):\n{describe_violations(violations)}"
        with page.expect_response(lambda r: r.url.endswith(f"/stores/{STORE}/board") and r.status == 200):
            # What the 30-second poll does, now: the fragment into #board-live.
            page.evaluate("url => htmx.ajax('GET', url, {target: '#board-live', swap: 'innerHTML'})", page.url)
        expect(page.locator("#stage-accept .stage-count")).to_have_text("2")
        violations = axe_violations(page)
        assert not violations, f"axe found on the board after a poll ({viewport}):\n{describe_violations(violations)}"
        shot(page, f"board-axe-{viewport}")
    finally:
        context.close()
