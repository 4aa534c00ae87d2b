"""The floor as a new associate meets it, on a 10" tablet and on a 360 x 640 handheld (issue 10's walk-through).

On each device: a rejection asks for a reason and shows its stock effect in words, and going back changes nothing;
a picked order's pack screen shows a box and a weight and the CONFIRM barcode alone finishes it; the label opens
without the app being left; the counter scan of an order number and of a tracking number opens that order.
Every step leaves a screenshot in test-artifacts/e2e/<engine>/.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, login

pytestmark = pytest.mark.e2e

STORE = "E2E10"
EMAIL = "associate.e2e10@example.test"
DEVICES = {"tablet": {"width": 1280, "height": 800}, "handheld": {"width": 360, "height": 640}}


@pytest.fixture(scope="module")
def first_use(database_url, live_server):
    """A store of its own; per device an order waiting to be accepted and one picked and ready to pack."""
    from app import create_app
    from app.core.actor import Actor
    from app.core.floor import carriers, packing
    from app.core.inventory import catalogue, stock
    from app.core.models import Location
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.core.people import users
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    actor = Actor.system("e2e")
    with app.app_context():
        store = Location(
            code=STORE,
            name="Milano Brera (e2e)",
            address_line1="Via Brera 12",
            postcode="20121",
            city="Milano",
            country="IT",
            timezone="Europe/Rome",
        )
        db.session.add(store)
        db.session.flush()
        glove = catalogue.create_product(sku="E2E10-GLOVE", name="Guanti Pelle", gtin="4012345000023", weight_grams=200)
        scarf = catalogue.create_product(sku="E2E10-SCARF", name="Sciarpa Lana", gtin="4012345000030", weight_grams=300)
        for product in (glove, scarf):
            stock.receive(store, product, 20, actor=actor, reference="e2e")
        box = {"length_mm": 300, "width_mm": 200, "height_mm": 100, "tare_grams": 150}
        packing.add_package_type(store, {"name": "Scatola piccola", **box}, actor=actor)
        carriers.ensure_builtin_carriers()
        users.create_user(
            email=EMAIL, name="Marta E2E", password=DEMO_PASSWORD, role="associate", stores=[store], actor=actor
        )
        made = {}
        for device in DEVICES:
            for kind, product in (("reject", glove), ("pack", scarf)):
                draft = OrderDraft(
                    channel="web",
                    external_ref=f"E2E10-{device}-{kind}".upper(),
                    customer_name="Luca Bianchi",
                    delivery_method="ship",
                    customer_email="luca@example.it",
                    customer_language="it",
                    lines=[LineDraft(code=product.sku, quantity=1)],
                    ship_to={"line1": "Corso Como 5", "postcode": "20154", "city": "Milano", "country": "IT"},
                )
                order, _ = orders.create_order(draft, actor=actor)
                fulfilment = orders.assign_fulfilment(order, store, {line: 1 for line in order.lines}, actor=actor)
                if kind == "pack":
                    for status in ("accepted", "picking", "picked"):
                        orders.transition(fulfilment, status, actor=actor)
                    for line in fulfilment.lines:
                        line.picked = line.quantity
                made[device, kind] = (fulfilment.id, order.reference)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return made


def _on_hand(query, sku: str) -> int:
    rows = query(
        "SELECT s.on_hand FROM stock_level s JOIN product p ON p.id = s.product_id "
        "JOIN location l ON l.id = s.location_id WHERE p.sku = :sku AND l.code = :store",
        sku=sku,
        store=STORE,
    )
    return rows[0][0]


def _status(query, fulfilment_id: int) -> str:
    return query("SELECT status FROM fulfilment WHERE id = :id", id=fulfilment_id)[0][0]


def _scan(page, code: str) -> None:
    """A keyboard-wedge scan into the scan bar: the code, then Enter."""
    scan = page.locator("#scan-input")
    scan.fill(code)
    scan.press("Enter")


@pytest.mark.parametrize("screen", list(DEVICES))
def test_reject_pack_label_and_counter_scan_as_a_new_associate(
    browser, browser_context_args, first_use, query, shot, screen
):
    context = browser.new_context(**browser_context_args, viewport=DEVICES[screen])
    page = context.new_page()
    try:
        login(page, EMAIL)
        expect(page).to_have_url(re.compile(rf"/stores/{STORE}/queue"))

        # 1. Reject: a reason to choose (none preselected), the stock effect in words, and Back changes nothing.
        reject_id, _ = first_use[screen, "reject"]
        before = _on_hand(query, "E2E10-GLOVE")
        page.goto(f"/stores/{STORE}/fulfilments/{reject_id}")
        reason = page.locator("form.reject select[name=reason]")
        expect(reason).to_have_value("")
        page.get_by_role("button", name="Reject the whole order").click()
        expect(page.locator("form.reject .error, form.reject [aria-invalid=true]").first).to_be_visible()
        assert _status(query, reject_id) == "created"
        page.locator("form.reject select[name=reason]").select_option("out_of_stock")
        page.get_by_role("button", name="Reject the whole order").click()
        effect = page.locator("form.confirm-reject .stock-effects")
        expect(effect).to_contain_text(f"{STORE} will count 0")
        expect(effect).to_contain_text("E2E10-GLOVE")
        shot(page, f"{screen}-reject-confirmation")
        page.get_by_role("button", name="Back").click()
        expect(page.locator("form.confirm-reject")).to_have_count(0)
        assert _on_hand(query, "E2E10-GLOVE") == before
        assert _status(query, reject_id) == "created"
        shot(page, f"{screen}-reject-cancelled")

        # 2. Pack: the screen shows a box and a weight; the CONFIRM barcode alone finishes with them.
        pack_id, pack_ref = first_use[screen, "pack"]
        page.goto(f"/stores/{STORE}/fulfilments/{pack_id}/pack")
        expect(page.locator("#pack")).to_contain_text("Scatola piccola")
        shot(page, f"{screen}-pack-prefilled")
        _scan(page, "CMD:CONFIRM")
        tracking = page.locator("#pack .tracking").first
        expect(tracking).to_be_visible()
        assert _status(query, pack_id) == "packed"
        tracking_number = tracking.inner_text().strip()
        shot(page, f"{screen}-packed")

        # 3. The label opens beside the app: the app's page stays where it is.
        pack_url = page.url
        with context.expect_page() as opened:
            page.get_by_role("link", name=re.compile("Label \\(PDF\\)")).first.click()
        label = opened.value
        label.wait_for_load_state()
        assert "/label.pdf" in label.url
        assert page.url == pack_url
        expect(page.locator("#pack .tracking").first).to_be_visible()
        label.close()

        # 4. The counter scan on the queue opens the order, by its number and by its tracking number.
        page.goto(f"/stores/{STORE}/queue")
        _scan(page, pack_ref)
        page.wait_for_url(re.compile(rf"/fulfilments/{pack_id}(/pack)?$"))
        expect(page.locator("main")).to_contain_text(pack_ref)
        shot(page, f"{screen}-counter-by-number")
        page.goto(f"/stores/{STORE}/queue")
        _scan(page, tracking_number)
        page.wait_for_url(re.compile(rf"/fulfilments/{pack_id}(/pack)?$"))
        expect(page.locator("main")).to_contain_text(pack_ref)
        shot(page, f"{screen}-counter-by-tracking")
    finally:
        context.close()
