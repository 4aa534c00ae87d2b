"""The whole ship-from-store flow in a real browser, typed as a keyboard-wedge scanner would.

An associate signs in, accepts two orders, batch-picks them (with a wrong product and a resend of the
same scan after a dropped answer), short-picks one line, packs the first order into two parcels, prints
the labels and hands the parcels over by scanning them onto the manifest. At the end the order states,
the stock ledger and the events are checked in the database. Every step leaves a screenshot.
"""

import re
import subprocess

import pytest
import zxingcpp
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import DEMO_PASSWORD, login, wedge

pytestmark = pytest.mark.e2e

STORE = "E2E01"
EMAIL = "associate.e2e01@example.test"


@pytest.fixture(scope="module")
def flow_data(database_url, live_server):
    """A store of its own (so the demo screens stay as they are), two products on shelves, two new orders."""
    from app import create_app
    from app.core.actor import Actor
    from app.core.floor import packing
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
            name="Paris Bastille (e2e)",
            address_line1="1 place de la Bastille",
            postcode="75011",
            city="Paris",
            country="FR",
            pick_batch_size=5,
            scan_mode="every",
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
        box = {"length_mm": 400, "width_mm": 300, "height_mm": 200, "tare_grams": 300}
        packing.add_package_type(store, {"name": "Carton moyen", **box}, actor=actor)
        users.create_user(
            email=EMAIL, name="Inès E2E", password=DEMO_PASSWORD, role="associate", stores=[store], actor=actor
        )
        refs = []
        for ref, lines in (("E2E-1", [(lamp, 2), (vase, 1)]), ("E2E-2", [(lamp, 1), (vase, 2)])):
            draft = OrderDraft(
                channel="web",
                external_ref=ref,
                customer_name="Léa Fontaine",
                delivery_method="ship",
                customer_email="lea@example.fr",
                customer_language="fr",
                lines=[LineDraft(code=p.sku, quantity=q) for p, q in lines],
                ship_to={"line1": "8 rue Oberkampf", "postcode": "75011", "city": "Paris", "country": "FR"},
            )
            order, _ = orders.create_order(draft, actor=actor)
            orders.assign_fulfilment(order, store, {ol: ol.quantity for ol in order.lines}, actor=actor)
            refs.append(order.reference)
        db.session.commit()
        db.session.remove()
        db.engine.dispose()  # no pooled connection is left for the garbage collector to find open later
    return {"refs": refs, "lamp": "4006381333931", "vase": "4012345000009", "stranger": "4012345000016"}


def scanned(page, outcome: str) -> None:
    page.wait_for_function("(o) => document.body.dataset.lastScan === o", arg=outcome)


def decode_pdf(pdf: bytes, folder, name: str) -> list[str]:
    """Every barcode on every page, read by zxing-cpp from a 203 dpi raster (what a thermal printer prints)."""
    path = folder / f"{name}.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "203", "-png", str(path), str(folder / name)], check=True, timeout=60)
    texts = []
    for image in sorted(folder.glob(f"{name}-*.png")):
        texts += [r.text for r in zxingcpp.read_barcodes(Image.open(image)) if r.valid]
    return texts


def fetch(page, url: str, **kwargs):
    """A request with the page's session cookie, as a click on a PDF link would make."""
    response = page.request.fetch(url, **kwargs)
    assert response.ok, f"{url}: {response.status}"
    return response


def test_accept_batch_pick_short_pack_label_and_dispatch(page, flow_data, query, shot, tmp_path):
    page.set_viewport_size({"width": 1280, "height": 800})
    first, second = flow_data["refs"]
    login(page, EMAIL)
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/queue"))
    shot(page, "queue-to-accept")

    # Accept both orders.
    for ref in (first, second):
        page.goto(f"/stores/{STORE}/queue")
        page.get_by_role("link", name=re.compile(ref)).click()
        expect(page).to_have_url(re.compile(r"/fulfilments/\d+$"))
        expect(page.locator("header.topbar")).to_have_count(1)  # a whole page, not one swapped into the list
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

    # Pack the first order into two parcels: the vase goes into parcel 2. The finished pick list leads to each
    # order's own pack screen (not to the queue tab).
    page.locator("#pick").get_by_role("link", name=re.compile(rf"^Pack .*{first}")).click()
    expect(page).to_have_url(re.compile(r"/pack$"))
    expect(page.locator("header.topbar")).to_have_count(1)
    expect(page.locator("#pack")).to_contain_text("Parcel 1")
    shot(page, "pack-one-parcel")
    page.get_by_role("button", name="New parcel").click()
    parcels = page.locator("section.parcel")
    expect(parcels).to_have_count(2)
    vase_row = parcels.nth(0).locator("tr", has_text="Vase Céladon")
    vase_row.get_by_label("Units").fill("1")
    vase_row.get_by_label("To parcel").select_option(label="Parcel 2")
    vase_row.get_by_role("button", name="Move").click()
    expect(parcels.nth(1)).to_contain_text("Vase Céladon")
    for index in range(2):
        parcel = page.locator("section.parcel").nth(index)
        parcel.get_by_label("Box").select_option(label="Carton moyen (400 × 300 × 200 mm)")
        parcel.get_by_label("Weight (g)").fill(str(2200 if index == 0 else 900))
        parcel.get_by_role("button", name=f"Save parcel {index + 1}").click()
        expect(page.locator("section.parcel").nth(index)).to_contain_text(
            f"Saved: Carton moyen, {'2,200' if index == 0 else 900} g"  # grams through the number filter
        )
    shot(page, "pack-two-parcels")
    page.get_by_role("button", name="Finish packing").click()
    expect(page.locator("#pack")).to_contain_text("Parcel 2 of 2")
    shot(page, "labels")

    # Print the labels: the one PDF of the dispatch batch, with a progress bar, and each label on its own.
    label_links = page.get_by_role("link", name="Label (PDF)")
    expect(label_links).to_have_count(2)
    tracking = []
    for index in range(2):
        pdf = fetch(page, label_links.nth(index).get_attribute("href"))
        assert pdf.headers["content-type"] == "application/pdf"
        codes = decode_pdf(pdf.body(), tmp_path, f"label-{index}")
        tracking += [code for code in codes if re.fullmatch(r"CX\d{9}FR|\d{12,20}", code)]
    assert len(tracking) == 2, tracking
    page.goto(f"/stores/{STORE}/dispatch")
    shot(page, "dispatch-ready")
    page.get_by_role("button", name="Print all labels").click()
    expect(page.get_by_role("link", name="Open the labels (PDF)")).to_be_visible(timeout=20_000)
    expect(page.locator("progress")).to_have_attribute("value", "2")
    shot(page, "print-job-done")
    batch = fetch(page, page.get_by_role("link", name="Open the labels (PDF)").get_attribute("href"))
    assert set(tracking) <= set(decode_pdf(batch.body(), tmp_path, "batch"))

    # The carrier's manifest lists both parcels, each with its tracking barcode.
    page.goto(f"/stores/{STORE}/dispatch")
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    carrier_id = page.locator("input[name=carrier_id]").first.get_attribute("value")
    manifest = fetch(
        page, f"/stores/{STORE}/dispatch/manifests", method="POST", form={"csrf_token": token, "carrier_id": carrier_id}
    )
    assert manifest.headers["content-type"] == "application/pdf"
    manifest_codes = decode_pdf(manifest.body(), tmp_path, "manifest")
    assert set(tracking) <= set(manifest_codes)
    assert any(code.startswith("MAN-") for code in manifest_codes)

    # Hand over: scan each label as the driver takes the parcels.
    page.goto(f"/stores/{STORE}/dispatch")
    for number in tracking:
        wedge(page, number)
        scanned(page, "ok")
    expect(page.locator("#dispatch")).to_contain_text("0 parcels ready to hand over. 2 handed over today.")
    shot(page, "handed-over")

    # What the database says at the end.
    rows = query(
        "SELECT o.external_ref, f.status FROM fulfilment f JOIN customer_order o ON o.id = f.order_id "
        "JOIN location l ON l.id = f.location_id WHERE l.code = :store ORDER BY o.external_ref",
        store=STORE,
    )
    assert rows == [("E2E-1", "shipped"), ("E2E-2", "picked")]
    ledger = query(
        "SELECT p.sku, m.kind, SUM(m.on_hand_delta), SUM(m.reserved_delta) FROM stock_movement m "
        "JOIN product p ON p.id = m.product_id JOIN location l ON l.id = m.location_id "
        "WHERE l.code = :store GROUP BY p.sku, m.kind ORDER BY p.sku, m.kind",
        store=STORE,
    )
    assert ledger == [
        ("E2E-LAMP", "receive", 6, 0),
        ("E2E-LAMP", "reserve", 0, 3),
        ("E2E-LAMP", "ship", -2, -2),  # E2E-1's two lamps left the store
        ("E2E-MUG", "receive", 3, 0),  # the wrong product was never touched
        ("E2E-VASE", "receive", 4, 0),
        ("E2E-VASE", "release", 0, -1),  # the short-picked vase of E2E-2 went back to available
        ("E2E-VASE", "reserve", 0, 3),
        ("E2E-VASE", "ship", -1, -1),
    ]
    levels = query(
        "SELECT p.sku, s.on_hand, s.reserved FROM stock_level s JOIN product p ON p.id = s.product_id "
        "JOIN location l ON l.id = s.location_id WHERE l.code = :store ORDER BY p.sku",
        store=STORE,
    )
    assert levels == [("E2E-LAMP", 4, 1), ("E2E-MUG", 3, 0), ("E2E-VASE", 3, 1)]
    events = [
        row[0]
        for row in query(
            "SELECT e.type FROM outbox_event e JOIN customer_order o ON o.id = e.order_id "
            "WHERE o.external_ref = 'E2E-1' ORDER BY e.id"
        )
    ]
    for expected in ("fulfilment.accepted", "fulfilment.picking", "fulfilment.picked", "fulfilment.packed"):
        assert expected in events
    assert events.count("parcel.handed_over") == 2 and events[-1] in {"fulfilment.shipped", "order.completed"}
    assert "fulfilment.short_picked" in [
        row[0]
        for row in query(
            "SELECT e.type FROM outbox_event e JOIN customer_order o ON o.id = e.order_id "
            "WHERE o.external_ref = 'E2E-2'"
        )
    ]
    (email,) = query(
        'SELECT m."to", m.subject, m.body FROM outbound_email m JOIN customer_order o ON o.id = m.order_id '
        "WHERE o.external_ref = 'E2E-1'"
    )
    assert email[0] == "lea@example.fr"
    assert all(number in email[2] for number in tracking)  # in French, the customer's language
