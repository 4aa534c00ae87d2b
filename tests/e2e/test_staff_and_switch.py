"""The staff screen and the shared-tablet switch in a browser, on a 10" tablet (issue 11, part 4).

A manager invites a new associate (the temporary password shown once) and gives another one a badge; the new
associate signs in with the temporary password and sets a PIN; on a tablet signed in by a third associate, the
new one switches in by PIN and accepts an order, then the badge holder scans in and accepts another: the audit
says who did what. Screenshots in test-artifacts/e2e/<engine>/.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, login

pytestmark = pytest.mark.e2e

STORE = "E2E11"
MANAGER = "manager.e2e11@example.test"
OPENER = "opener.e2e11@example.test"
BADGED = "badged.e2e11@example.test"
NEW = "nora.e2e11@example.test"
BADGE = "E2E11-0042-7781"
PIN = "70593"
OWN_PASSWORD = "nora-chooses-her-own"
TABLET = {"width": 1280, "height": 800}


@pytest.fixture(scope="module")
def staff_store(database_url, live_server):
    """A store of its own, its manager and two associates, and two orders waiting to be accepted."""
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
        store = Location(code=STORE, name="Lyon Confluence (e2e)", city="Lyon", country="FR", timezone="Europe/Paris")
        db.session.add(store)
        db.session.flush()
        product = catalogue.create_product(sku="E2E11-CAP", name="Casquette", gtin="4012345000047")
        stock.receive(store, product, 10, actor=actor, reference="e2e")
        for email, name, role in (
            (MANAGER, "Mathilde Manager", "manager"),
            (OPENER, "Olga Opener", "associate"),
            (BADGED, "Basile Badge", "associate"),
        ):
            users.create_user(email=email, name=name, password=DEMO_PASSWORD, role=role, stores=[store], actor=actor)
        made = []
        for n in (1, 2):
            draft = OrderDraft(
                channel="web",
                external_ref=f"E2E11-{n}",
                customer_name="Jeanne Moreau",
                delivery_method="collect",
                pickup_location_code=STORE,
                lines=[LineDraft(code=product.sku, quantity=1)],
            )
            order, _ = orders.create_order(draft, actor=actor)
            made.append(orders.assign_fulfilment(order, store, {order.lines[0]: 1}, actor=actor).id)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return made


def _actor_of(query, fulfilment_id: int) -> str:
    rows = query(
        "SELECT actor FROM audit_event WHERE action = 'fulfilment.accepted' AND subject_id = :id",
        id=str(fulfilment_id),
    )
    return rows[0][0] if rows else ""


def test_the_staff_screen_and_the_badge_and_pin_switch_on_a_tablet(
    browser, browser_context_args, staff_store, query, shot
):
    first, second = staff_store
    contexts = []

    def device():
        context = browser.new_context(**browser_context_args, viewport=TABLET)
        contexts.append(context)
        return context.new_page()

    try:
        # 1. The manager invites Nora: her temporary password is shown once.
        manager = device()
        login(manager, MANAGER)
        manager.goto(f"/stores/{STORE}/staff")
        expect(manager.locator("table")).to_contain_text("Olga Opener")
        invite = manager.locator("form[action$='/staff/invite']")
        invite.get_by_label("Name").fill("Nora Nuova")
        invite.get_by_label("E-mail").fill(NEW)
        invite.get_by_role("button", name="Invite").click()
        secret = manager.locator("#temporary-password")
        expect(secret).to_be_visible()
        password = secret.inner_text().strip()
        expect(manager.locator("table")).to_contain_text("Nora Nuova")
        shot(manager, "invited")

        # 2. ... and gives Basile a badge (scanned into the field: typed, then Enter).
        manager.get_by_role("link", name="Basile Badge").click()
        badge = manager.get_by_label("Badge code (scan the badge)")
        badge.type(BADGE)
        badge.press("Enter")
        expect(manager.locator("#toasts")).to_contain_text("Badge given.")
        shot(manager, "badge-given")

        # 3. Nora signs in with the temporary password, chooses her own, and sets her PIN.
        nora = device()
        login(nora, NEW, password)
        expect(nora).to_have_url(re.compile(r"/account/password$"))
        shot(nora, "choose-password")
        nora.get_by_label("Current password").fill(password)
        nora.get_by_label("New password").fill(OWN_PASSWORD)
        nora.get_by_role("button", name="Save my password").click()
        expect(nora.locator("#toasts")).to_contain_text("Your password is changed.")
        nora.goto("/account/pin")
        nora.get_by_label("Your password").fill(OWN_PASSWORD)
        nora.get_by_label("New PIN (4 to 6 digits)").fill(PIN)
        nora.get_by_role("button", name="Save my PIN").click()
        expect(nora.locator("#toasts")).to_contain_text("Your PIN is set.")

        # 4. The store's tablet: Olga opens the shift; Nora switches in by PIN and accepts an order.
        tablet = device()
        login(tablet, OPENER)
        tablet.get_by_role("link", name="Switch user").click()
        expect(tablet.locator("main")).to_contain_text("Now on this device: Olga Opener")
        shot(tablet, "switch")
        tablet.get_by_label("Your name").select_option(label="Nora Nuova")
        tablet.get_by_label("Your PIN").fill(PIN)
        tablet.locator("form[action$='/switch/pin']").get_by_role("button", name="Switch").click()
        expect(tablet).to_have_url(re.compile(rf"/stores/{STORE}/queue"))
        expect(tablet.locator("#toasts")).to_contain_text("Hello Nora Nuova")
        tablet.goto(f"/stores/{STORE}/fulfilments/{first}")
        tablet.get_by_role("button", name="Accept", exact=True).click()
        expect(tablet.locator("#toasts")).to_contain_text("Order accepted.")
        assert _actor_of(query, first) == f"user:{NEW}"

        # 5. A wrong PIN is refused and changes nothing; Basile scans his badge and accepts the other order.
        tablet.get_by_role("link", name="Switch user").click()
        tablet.get_by_label("Your name").select_option(label="Nora Nuova")
        tablet.get_by_label("Your PIN").fill("24680")
        tablet.locator("form[action$='/switch/pin']").get_by_role("button", name="Switch").click()
        expect(tablet.locator("[role=alert]")).to_contain_text("Wrong PIN.")
        shot(tablet, "wrong-pin")
        scan = tablet.get_by_label("Scan your badge")
        scan.type(BADGE)
        scan.press("Enter")
        expect(tablet.locator("#toasts")).to_contain_text("Hello Basile Badge")
        tablet.goto(f"/stores/{STORE}/fulfilments/{second}")
        tablet.get_by_role("button", name="Accept", exact=True).click()
        expect(tablet.locator("#toasts")).to_contain_text("Order accepted.")
        assert _actor_of(query, second) == f"user:{BADGED}"
        switches = query("SELECT a.actor, a.after FROM audit_event a WHERE a.action = 'session.switch' ORDER BY a.id")
        assert [actor for actor, _ in switches][-2:] == [f"user:{NEW}", f"user:{BADGED}"]
        shot(tablet, "accepted-by-badge")
    finally:
        for context in contexts:
            context.close()
