"""Click & collect end to end in a real browser, on a tablet and on a 360×640 handheld (issue 12's must-show).

A new click & collect order at the demo store is accepted and picked on the floor screens, counted into two bags
whose labels are printed (and decoded), staged by scanning the bags and a slot: ready for pickup. The worker's
e-mail code sends the "ready" e-mail over real SMTP to an aiosmtpd server; its inline QR image is decoded with
zxing-cpp. The customer opens the e-mail's "I'm here" link in a second browser context (a phone, no account) and
says they have arrived; the store's queue shows it. At the counter the decoded code is scanned, then both bags:
collected. The stock ledger and the stock row are checked; every step leaves a screenshot.
"""

import re
import socket
import time
from email import message_from_bytes, policy
from io import BytesIO

import pytest
import zxingcpp
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message
from PIL import Image
from playwright.sync_api import expect

from tests.e2e.conftest import ASSOCIATE, STORE, login, wedge
from tests.e2e.test_associate_flow import decode_pdf, scanned
from tests.e2e.test_counter_flow import settled

pytestmark = pytest.mark.e2e

VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "handheld": {"width": 360, "height": 640}}
PHONE = {"width": 390, "height": 760}


class Inbox(Message):
    def __init__(self):
        super().__init__()
        self.raw = []

    def handle_message(self, message):
        self.raw.append(message)


@pytest.fixture(scope="module")
def smtp():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield controller, inbox
    controller.stop()


def _app(database_url, **config):
    from app import create_app

    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, **config})


@pytest.fixture(scope="module")
def new_orders(database_url, live_server) -> dict:
    """One new click & collect order per viewport at the demo store: 2 units of a product it has in stock."""
    from sqlalchemy import select

    from app.core.actor import Actor
    from app.core.models import Location, Product, StockLevel
    from app.core.ordering import orders
    from app.core.ordering.orders import LineDraft, OrderDraft
    from app.extensions import db

    app = _app(database_url)
    made = {}
    with app.app_context():
        store = db.session.scalar(select(Location).where(Location.code == STORE))
        level = db.session.scalars(
            select(StockLevel)
            .join(Product, Product.id == StockLevel.product_id)
            .where(
                StockLevel.location_id == store.id,
                StockLevel.on_hand - StockLevel.reserved > 8,
                Product.gtin.is_not(None),
            )
            .order_by(StockLevel.id.desc())
        ).first()
        for viewport in VIEWPORTS:
            draft = OrderDraft(
                channel="web",
                external_ref=f"E2E-CC-{viewport}",
                customer_name="Giulia Rossi",
                delivery_method="collect",
                pickup_location_code=STORE,
                customer_email=f"giulia.{viewport}@example.it",
                customer_language="it",
                lines=[LineDraft(code=level.product.sku, quantity=2)],
            )
            order, _ = orders.create_order(draft, actor=Actor.system("web-shop"))
            fulfilment = orders.assign_fulfilment(order, store, {order.lines[0]: 2}, actor=Actor.system("sourcing"))
            made[viewport] = {
                "id": fulfilment.id,
                "ref": order.reference,
                "email": draft.customer_email,
                "gtin": level.product.gtin,
                "product_id": level.product_id,
                "store_id": store.id,
            }
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return made


def _send_emails(database_url, port) -> None:
    """What `flask worker` does with the e-mail outbox, against the aiosmtpd server."""
    from app.core.integration import mail
    from app.extensions import db

    app = _app(database_url, SMTP_HOST="127.0.0.1", SMTP_PORT=port, SMTP_FROM="Maison Lumière <shop@example.test>")
    with app.app_context():
        while mail.send_pending(limit=50):
            pass
        db.session.remove()
        db.engine.dispose()


def _wait_for_status(query, fulfilment_id, status, seconds=10.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if query("SELECT status FROM fulfilment WHERE id = :id", id=fulfilment_id)[0][0] == status:
            return
        time.sleep(0.1)
    raise AssertionError(f"fulfilment {fulfilment_id} did not become {status}")


def _stock(query, data):
    on_hand, reserved = query(
        "SELECT on_hand, reserved FROM stock_level WHERE location_id = :l AND product_id = :p",
        l=data["store_id"],
        p=data["product_id"],
    )[0]
    ledger = query(
        "SELECT COALESCE(SUM(on_hand_delta), 0), COALESCE(SUM(reserved_delta), 0) FROM stock_movement "
        "WHERE location_id = :l AND product_id = :p",
        l=data["store_id"],
        p=data["product_id"],
    )[0]
    assert tuple(ledger) == (on_hand, reserved), "the ledger no longer adds up to the stock row"
    return on_hand, reserved


@pytest.mark.parametrize("viewport", VIEWPORTS)
def test_a_click_and_collect_order_from_accept_to_the_customers_hands(
    page, browser, new_orders, smtp, database_url, live_server, query, shot, viewport, tmp_path
):
    controller, inbox = smtp
    data = new_orders[viewport]
    fulfilment_id, ref = data["id"], data["ref"]
    before = _stock(query, data)
    page.set_viewport_size(VIEWPORTS[viewport])
    login(page, ASSOCIATE)

    # Accept, then pick both units by scanning the product.
    page.goto(f"/stores/{STORE}/fulfilments/{fulfilment_id}")
    page.get_by_role("button", name="Accept").click()
    expect(page.locator("#fulfilment")).to_contain_text("Accepted")
    shot(page, "accepted")
    page.get_by_role("button", name="Start picking").click()
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/picks/\d+"))
    settled(page)
    for _ in range(2):
        wedge(page, data["gtin"])
        scanned(page, "ok")
    shot(page, "picked-units")
    wedge(page, "CMD:CONFIRM")
    page.wait_for_function("() => !document.querySelector('.htmx-request')")
    _wait_for_status(query, fulfilment_id, "picked")
    page.goto(f"/stores/{STORE}/fulfilments/{fulfilment_id}")
    expect(page.locator("#fulfilment")).to_contain_text("Picked")

    # Two bags, their labels printed (and read back by zxing-cpp), each bag then the slot scanned.
    page.get_by_role("link", name="Prepare for pickup").click()
    page.wait_for_url(f"**/fulfilments/{fulfilment_id}/prepare")
    page.get_by_label("Number of bags").fill("2")
    page.get_by_role("button", name="Save the number of bags").click()
    expect(page.locator("#prepare-result")).to_contain_text("2 bags: print their labels")
    label = page.get_by_role("link", name="Bag labels (2 × 1 inch PDF)")
    pdf = page.request.get(label.get_attribute("href"))
    assert pdf.ok and pdf.headers["content-type"] == "application/pdf"
    assert decode_pdf(pdf.body(), tmp_path, "bags") == [f"BAG-{fulfilment_id}-1", f"BAG-{fulfilment_id}-2"]
    shot(page, "bag-labels")
    slot = "A-01" if viewport == "tablet" else "B-01"
    for number in (1, 2):
        stage = page.locator("#stage-code")
        stage.press_sequentially(f"BAG-{fulfilment_id}-{number}")
        stage.press("Enter")
        expect(page.locator("#prepare-result")).to_contain_text(f"Bag {number} of 2: now scan the slot")
        page.locator("#stage-code").press_sequentially(f"SLOT-{STORE}-{slot}")
        page.locator("#stage-code").press("Enter")
        done = f"Bag {number} on slot {slot}" if number == 1 else f"Order {ref} is ready for pickup"
        expect(page.locator("#prepare-result")).to_contain_text(done)
    expect(page.locator("#prepare")).to_contain_text("Ready for pickup.")
    shot(page, "ready")
    [(status, stored_code)] = query(
        "SELECT f.status, p.code FROM fulfilment f JOIN pickup p ON p.fulfilment_id = f.id WHERE f.id = :id",
        id=fulfilment_id,
    )
    assert status == "ready_for_pickup"

    # The ready e-mail, over SMTP: Italian, text and HTML, the code as an inline QR image that decodes.
    _send_emails(database_url, controller.port)
    [raw] = [m for m in inbox.raw if m["To"] == data["email"]]
    email = message_from_bytes(raw.as_bytes(), policy=policy.default)
    assert email["Content-Language"] == "it"
    text = email.get_body(preferencelist=("plain",)).get_content()
    html = email.get_body(preferencelist=("html",)).get_content()
    [image] = [part for part in email.walk() if part.get_content_type() == "image/png"]
    assert f"cid:{image['Content-ID'].strip('<>')}" in html
    decoded = [r.text for r in zxingcpp.read_barcodes(Image.open(BytesIO(image.get_content()))) if r.valid]
    assert decoded and decoded[0].replace("-", "") == stored_code
    assert f"{stored_code[:3]}-{stored_code[3:]}" in text
    assert "23:59" in text  # the hold ends at the end of a day, on the store's clock
    [link] = re.findall(rf"{re.escape(str(live_server))}/pickup/[\w.\-]+", text)
    (tmp_path / "ready.html").write_text(html)

    # The customer, on a phone with no account, says they are here.
    customer = browser.new_context(viewport=PHONE, locale="it-IT", timezone_id="Europe/Rome")
    try:
        phone = customer.new_page()
        phone.goto(link)
        expect(phone.locator("html")).to_have_attribute("lang", "it")
        phone.locator("textarea, input[type=text]").first.fill("Fiat 500 bianca, posto 2")
        shot(phone, "customer-im-here")
        phone.locator("button.im-here").click()
        expect(phone.locator(".card.arrived")).to_be_visible()
        shot(phone, "customer-told")
    finally:
        customer.close()

    # The store's queue shows the arrival (banner first, the order at the top of its tab).
    page.goto(f"/stores/{STORE}/queue?tab=collect")
    expect(page.locator(".banner.arrival").filter(has_text=ref)).to_be_visible()
    shot(page, "queue-arrival")

    # At the counter: the decoded QR scanned, then both bags: handed over.
    page.goto(f"/stores/{STORE}/counter")
    settled(page)
    wedge(page, decoded[0])
    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/pickups/{fulfilment_id}$"))
    expect(page.locator("#pickup")).to_contain_text(f"slot {slot}")
    for number in (1, 2):
        settled(page)
        wedge(page, f"BAG-{fulfilment_id}-{number}")
        expect(page.locator(".bag-scanned")).to_have_count(number)
    shot(page, "counter-bags")
    page.get_by_role("button", name="Confirm hand-over").click()
    expect(page.locator(".handed-over")).to_contain_text(f"Order {ref} handed over.")
    shot(page, "collected")

    assert query("SELECT status FROM fulfilment WHERE id = :id", id=fulfilment_id)[0][0] == "collected"
    on_hand, reserved = _stock(query, data)
    # measured with the order's 2 units reserved: they left the store, and nothing stays reserved for them
    assert (on_hand, reserved) == (before[0] - 2, before[1] - 2)
    kinds = [k for (k,) in query('SELECT kind FROM outbound_email WHERE "to" = :to ORDER BY id', to=data["email"])]
    assert kinds == ["pickup_ready", "pickup_collected"]
