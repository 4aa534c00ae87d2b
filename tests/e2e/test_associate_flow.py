"""The whole ship-from-store flow in a real browser, typed as a keyboard-wedge scanner would.

An associate signs in, accepts two orders, batch-picks them (with a wrong product and a resend of the
same scan after a dropped answer), short-picks one line, packs the first order into two parcels, prints
the labels and hands the parcels over by scanning them onto the manifest. At the end the order states,
the stock ledger and the events are checked in the database. Every step leaves a screenshot.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, login

pytestmark = pytest.mark.e2e

STORE = "E2E01"
EMAIL = "associate.e2e01@example.test"


@pytest.fixture(scope="module")
def flow_data(database_url, live_server):
    """A store of its own (so the demo screens stay as they are), two products on shelves, two new orders."""
    from app import create_app
    from app.core import catalogue, orders, stock, users
    from app.core.actor import Actor
    from app.core.models import Location
    from app.core.orders import LineDraft, OrderDraft
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    actor = Actor.system("e2e")
    with app.app_context():
        store = Location(
            code=STORE, name="Paris Bastille (e2e)", address_line1="1 place de la Bastille", postcode="75011",
            city="Paris", country="FR", pick_batch_size=5, scan_mode="every",
        )
        db.session.add(store)
        db.session.flush()
        lamp = catalogue.create_product(sku="E2E-LAMP", name="Lampe Atelier", gtin="4006381333931", weight_grams=900)
        vase = catalogue.create_product(sku="E2E-VASE", name="Vase Céladon", gtin="4012345000009", weight_grams=600)
        stranger = catalogue.create_product(sku="E2E-MUG", name="Mug Bleu", gtin="4012345000016")
        catalogue.place_on_shelf(store, vase, aisle="2", bay="3", pick_sequence=20)
        catalogue.place_on_shelf(store, lamp, aisle="1", bay="1", pick_sequence=10)
        for product, units in ((lamp, 6), (vase, 4), (stranger, 3)):
            stock.receive(store, product, units, actor=actor, reference="e2e")
        users.create_user(
            email=EMAIL, name="Inès E2E", password=DEMO_PASSWORD, role="associate", stores=[store], actor=actor
        )
        refs = []
        for ref, lines in (("E2E-1", [(lamp, 2), (vase, 1)]), ("E2E-2", [(lamp, 1), (vase, 2)])):
            draft = OrderDraft(
                channel="web", external_ref=ref, customer_name="Léa Fontaine", delivery_method="ship",
                customer_email="lea@example.fr", customer_language="fr",
                lines=[LineDraft(code=p.sku, quantity=q) for p, q in lines],
                ship_to={"line1": "8 rue Oberkampf", "postcode": "75011", "city": "Paris", "country": "FR"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            orders.assign_fulfilment(order, store, {ol: ol.quantity for ol in order.lines}, actor=actor)
            refs.append(order.reference)
        db.session.commit()
    return {"refs": refs, "lamp": "4006381333931", "vase": "4012345000009", "stranger": "4012345000016"}


def wedge(page, code: str) -> None:
    """Type a code the way a keyboard-wedge scanner does: fast keystrokes and Enter, focus on no field."""
    page.evaluate("() => { document.activeElement && document.activeElement.blur(); delete document.body.dataset.lastScan; }")
    page.keyboard.type(code, delay=5)
    page.keyboard.press("Enter")


def scanned(page, outcome: str) -> None:
    page.wait_for_function("(o) => document.body.dataset.lastScan === o", arg=outcome)


def test_accept_batch_pick_short_pack_label_and_dispatch(page, flow_data, query, shot):
    page.set_viewport_size({"width": 1280, "height": 800})
    first, second = flow_data["refs"]
    login(page, EMAIL)
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/queue"))
    shot(page, "queue-to-accept")

    # Accept both orders.
    for ref in (first, second):
        page.goto(f"/stores/{STORE}/queue")
        page.get_by_role("link", name=re.compile(ref)).click()
        page.get_by_role("button", name="Accept").click()
        expect(page.locator("#fulfilment")).to_contain_text("Accepted")
    shot(page, "accepted")

    # Batch-pick the two orders together.
    page.goto(f"/stores/{STORE}/picks/new")
    expect(page.locator("input[name=fulfilment]:checked")).to_have_count(2)
    shot(page, "choose-batch")
    page.get_by_role("button", name="Start picking").click()
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/picks/\d+"))
    pick_url = page.url
    pick_list_id = int(pick_url.rsplit("/", 1)[1])
    result = page.locator("#pick-result")
    expect(page.locator(".card.current h2")).to_have_text("Lampe Atelier")  # aisle 1 comes first
    shot(page, "pick-list")

    wedge(page, flow_data["lamp"])
    scanned(page, "ok")
    expect(result).to_contain_text("Lampe Atelier into tote A")

    wedge(page, flow_data["stranger"])  # a wrong product: refused loudly, counts nothing
    scanned(page, "error")
    expect(result).to_contain_text("Wrong product: Mug Bleu is not on this pick list.")
    expect(result).to_have_class(re.compile("scan-error"))
    shot(page, "wrong-product")

    # The network drops the answer to a scan: the scan reached the server, the device never heard back.
    dropped = {"count": 0}

    def drop_answer(route):
        route.fetch()  # the server handles the scan...
        dropped["count"] += 1
        route.abort("connectionreset")  # ...and the answer is lost

    page.route(re.compile(r".*/scan$"), drop_answer)
    wedge(page, flow_data["lamp"])
    expect(page.locator("#toasts .toast.error").last).to_be_visible()
    page.unroute(re.compile(r".*/scan$"))
    assert dropped["count"] == 1
    wedge(page, flow_data["lamp"])  # the associate scans the same unit again: same scan id, counted once
    scanned(page, "ok")
    expect(result).to_contain_text("already received: counted once")
    shot(page, "resend-counted-once")
    rows = query(
        "SELECT fl.picked FROM fulfilment_line fl JOIN fulfilment f ON f.id = fl.fulfilment_id "
        "JOIN customer_order o ON o.id = f.order_id JOIN product p ON p.id = fl.product_id "
        "WHERE o.external_ref = 'E2E-1' AND p.sku = 'E2E-LAMP'"
    )
    assert rows == [(2,)]  # the first scan and the resent one: two units, not three

    wedge(page, flow_data["lamp"])  # the third lamp goes to tote B
    scanned(page, "ok")
    expect(result).to_contain_text("into tote B")
    expect(page.locator(".card.current h2")).to_have_text("Vase Céladon")

    wedge(page, flow_data["vase"])  # tote A's vase
    scanned(page, "ok")
    wedge(page, flow_data["vase"])  # one of tote B's two vases
    scanned(page, "ok")

    # The second vase for tote B is not on the shelf: short-pick it.
    page.locator("details.short summary").click()
    page.get_by_label("Units short").fill("1")
    page.get_by_label("Reason").select_option("cannot_find")
    shot(page, "short-form")
    page.locator("details.short").get_by_role("button", name="Mark short").click()
    expect(page.locator("#toasts")).to_contain_text("marked short")
    expect(page.get_by_role("button", name="Finish picking")).to_be_visible()
    shot(page, "all-picked")

    wedge(page, "CMD:CONFIRM")  # the CONFIRM command barcode finishes the pick list
    scanned(page, "ok")
    expect(page.locator("#pick")).to_contain_text("Picking finished")
    shot(page, "picking-finished")
    statuses = query(
        "SELECT o.external_ref, f.status FROM fulfilment f JOIN customer_order o ON o.id = f.order_id "
        "JOIN location l ON l.id = f.location_id WHERE l.code = :store ORDER BY o.external_ref",
        store=STORE,
    )
    assert statuses == [("E2E-1", "picked"), ("E2E-2", "picked")]
    assert query("SELECT status FROM pick_list WHERE id = :id", id=pick_list_id) == [("done",)]
