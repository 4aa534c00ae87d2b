"""Click & collect at the counter in a real browser, typed as a keyboard-wedge scanner would.

On a tablet: a customer says they are here, the queue shows it on its next refresh (banner first, chime played);
the associate scans the customer's code at the counter (lower case, with the dash), scans one bag, is told which
bag is missing, scans it and hands the order over. On a handheld: a customer takes only part of an order; the
leftover goes to the put-back list, where a slot scan and an item scan put it back on sale. The order states and
the stock ledger are checked in the database; every step leaves a screenshot.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, login, wedge

pytestmark = pytest.mark.e2e

STORE = "CTR01"
EMAIL = "associate.ctr01@example.test"
LAMP, VASE = "4012345001075", "4012345001082"  # GTINs no other e2e test uses (one shared database)
# Every Audio the page plays is recorded (the chime), before any of the page's scripts run.
RECORD_SOUNDS = """
window.__played = [];
(function () {
  var Real = window.Audio;
  window.Audio = function (src) {
    var sound = new Real(src);
    sound.play = function () { window.__played.push(src); return Promise.resolve(); };
    return sound;
  };
})();
"""


def _in_app(database_url, work):
    """Run work() against the server's database in a unit of work of this process (the customer's side)."""
    from app import create_app
    from app.core.uow import unit_of_work
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        try:
            with unit_of_work(writes=True):
                return work()
        finally:
            db.session.remove()
            db.engine.dispose()


@pytest.fixture(scope="module")
def counter_data(database_url, live_server):
    """A store of its own (the demo screens stay as they are) with two click & collect orders on its hold shelf:
    one of two lines in two bags on two slots, one of one line in one bag."""
    from app.core.actor import Actor
    from app.core.floor import pickups
    from app.core.inventory import catalogue, stock
    from app.core.models import FulfilmentStatus as S
    from app.core.models import Location
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.core.people import users
    from app.extensions import db

    actor = Actor.system("e2e")

    def build():
        store = Location(
            code=STORE,
            name="Milano Brera (e2e)",
            address_line1="Via Brera 10",
            postcode="20121",
            city="Milano",
            country="IT",
            timezone="Europe/Rome",
            pickup_bag_scan=True,
        )
        db.session.add(store)
        db.session.flush()
        lamp = catalogue.create_product(sku="CTR-LAMP", name="Lampada Studio", gtin=LAMP)
        vase = catalogue.create_product(sku="CTR-VASE", name="Vaso Celadon", gtin=VASE)
        for product in (lamp, vase):
            stock.receive(store, product, 5, actor=actor, reference="e2e")
        users.create_user(
            email=EMAIL, name="Sara E2E", password=DEMO_PASSWORD, role="associate", stores=[store], actor=actor
        )
        first_slot, second_slot = pickups.add_slots(store, ["A-01", "A-02"], actor=actor)
        made = []
        for ref, customer, lines, bags in (
            ("CTR-1", "Giulia Rossi", [(lamp, 2), (vase, 1)], 2),
            ("CTR-2", "Chiara Neri", [(lamp, 2)], 1),
        ):
            draft = OrderDraft(
                channel="web",
                external_ref=ref,
                customer_name=customer,
                delivery_method="collect",
                customer_email=f"{customer.split()[0].lower()}@example.it",
                customer_language="it",
                lines=[LineDraft(code=p.sku, quantity=q) for p, q in lines],
                pickup_location_code=STORE,
            )
            order, _ = orders.create_order(draft, actor=actor)
            fulfilment = orders.assign_fulfilment(order, store, {ol: ol.quantity for ol in order.lines}, actor=actor)
            for target in (S.ACCEPTED, S.PICKING, S.PICKED):
                orders.transition(fulfilment, target, actor=actor)
            pickups.set_bags(fulfilment, bags, actor=actor)
            if bags == 2:
                pickups.stage(fulfilment, first_slot, actor=actor, bag_number=1)
            pickup = pickups.stage(fulfilment, second_slot, actor=actor)
            made.append({"id": fulfilment.id, "ref": order.reference, "code": pickup.code, "pickup": pickup.id})
        return made

    first, second = _in_app(database_url, build)
    return {"first": first, "second": second}


def settled(page) -> None:
    """Wait until htmx has swapped and settled the page a boosted link or HX-Location opened (a scan comes later)."""
    page.wait_for_load_state("networkidle")
    page.wait_for_function("() => !document.querySelector('.htmx-settling, .htmx-swapping, .htmx-request')")


def _stock(query, gtin):
    rows = query(
        "SELECT s.on_hand, s.reserved FROM stock_level s JOIN product p ON p.id = s.product_id "
        "JOIN location l ON l.id = s.location_id WHERE l.code = :store AND p.gtin = :gtin",
        store=STORE,
        gtin=gtin,
    )
    return tuple(rows[0])


def _status(query, fulfilment_id):
    return query("SELECT status FROM fulfilment WHERE id = :id", id=fulfilment_id)[0][0]


def test_an_arrival_chimes_on_the_queue_then_the_code_and_every_bag_hand_the_order_over(
    page, counter_data, database_url, query, shot
):
    from app.core.floor import pickups
    from app.core.models import Pickup
    from app.extensions import db

    first = counter_data["first"]
    page.set_viewport_size({"width": 1280, "height": 800})
    page.add_init_script(RECORD_SOUNDS)
    login(page, EMAIL)
    page.goto(f"/stores/{STORE}/queue?tab=collect")
    expect(page.locator(".banner.arrival")).to_have_count(0)

    # The customer says they are here (the "I'm here" page): the queue shows it on its next refresh, with a chime.
    _in_app(database_url, lambda: pickups.customer_arrived(db.session.get(Pickup, first["pickup"]), note="bay 4"))
    banner = page.locator(".banner.arrival")
    expect(banner).to_contain_text(f"Customer here for order {first['ref']}", timeout=25_000)
    expect(page.locator("#queue-announce")).to_contain_text(first["ref"])
    assert page.evaluate("window.__played") == ["/static/sounds/arrival.wav"]
    shot(page, "queue-arrival")

    # At the counter the customer's QR is scanned (here: the code typed in lower case, with the dash).
    page.goto(f"/stores/{STORE}/counter")
    expect(page.locator("#counter-live .arrivals")).to_contain_text(first["ref"])
    shot(page, "counter")
    settled(page)
    wedge(page, pickups.format_code(first["code"]).lower())
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/pickups/{first['id']}$"))
    expect(page.locator("#pickup-code")).to_have_value(pickups.format_code(first["code"]))
    expect(page.locator("#pickup")).to_contain_text("Bag 2 of 2 — slot A-02")
    shot(page, "pickup")

    settled(page)
    wedge(page, pickups.bag_barcode(first["id"], 1))
    expect(page.locator(".bag-scanned")).to_have_count(1)
    page.get_by_role("button", name="Confirm hand-over").click()
    expect(page.locator("#pickup")).to_contain_text("2/2 not scanned")
    shot(page, "bag-missing")
    assert _status(query, first["id"]) == "ready_for_pickup"

    settled(page)
    wedge(page, pickups.bag_barcode(first["id"], 2))
    expect(page.locator(".bag-scanned")).to_have_count(2)
    page.get_by_role("button", name="Confirm hand-over").click()
    expect(page.locator(".handed-over")).to_contain_text(f"Order {first['ref']} handed over.")
    shot(page, "handed-over")
    assert _status(query, first["id"]) == "collected"
    assert _stock(query, VASE) == (4, 0)  # consumed: left the store, no longer reserved


def test_a_partial_collection_goes_to_the_put_back_list_and_back_on_sale_by_scans(page, counter_data, query, shot):
    from app.core.floor import pickups

    second = counter_data["second"]
    page.set_viewport_size({"width": 360, "height": 640})
    login(page, EMAIL)
    on_hand, reserved = _stock(query, LAMP)
    page.goto(f"/stores/{STORE}/counter")
    page.locator("#scan-input").fill("chiara")
    page.locator("#scan-input").press("Enter")
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/pickups/{second['id']}$"))
    expect(page.locator("#pickup-title")).to_contain_text(second["ref"])

    settled(page)
    wedge(page, pickups.bag_barcode(second["id"], 1))
    expect(page.locator(".bag-scanned")).to_have_count(1)
    page.locator("#pickup-code").fill(second["code"])
    page.locator("details.partial summary").click()
    page.locator("input.qty").fill("1")
    page.locator("#refusal-reason").select_option("too_small")
    shot(page, "partial")
    page.get_by_role("button", name="Confirm hand-over").click()
    expect(page.locator(".handed-over")).to_contain_text("1 unit waits on the put-back list.")
    assert _status(query, second["id"]) == "collected"
    assert _stock(query, LAMP) == (on_hand - 1, reserved - 1)  # the unit the customer left is still off sale

    page.get_by_role("link", name="Put back", exact=True).click()
    expect(page.locator("#put-back")).to_contain_text("Partly collected: Too small")
    settled(page)
    wedge(page, f"SLOT-{STORE}-A-02")
    expect(page.locator("#entry-title")).to_contain_text(second["ref"])
    shot(page, "put-back-entry")
    settled(page)
    wedge(page, VASE)  # not part of this order's leftovers
    expect(page.locator("#put-back")).to_contain_text("does not wait to be put back")
    settled(page)
    wedge(page, LAMP)
    expect(page.locator("#put-back")).to_contain_text("Everything of order")
    expect(page.locator("#put-back")).to_contain_text("Nothing waits to be put back.")
    shot(page, "put-back-done")
    assert _stock(query, LAMP) == (on_hand - 1, reserved - 2)
