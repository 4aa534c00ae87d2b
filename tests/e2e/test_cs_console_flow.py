"""The customer service console end to end in a real browser on a 10" tablet (issue 15's must-show).

An order of two products from "Hélène Dupré" is taken in and sourced to a store of its own, which rejects it:
nothing else had the stock then, so the order waits for customer service. Its confirmation e-mail goes out over
real SMTP (an aiosmtpd server). Another store receives the stock. Customer service signs in, finds the order by
typing part of the name without its accents ("helene dup"), opens it, re-routes the rejected fulfilment to the
store that now has every unit, cancels the second line, and reads the timeline and the e-mail that went out. The
new fulfilment, its reserved stock and the audit trail are checked in the database; every step leaves a screenshot
(test-artifacts/e2e/<engine>/ and /work/scratch/csweb_*.png when that folder exists).

The console's pages are also checked with axe and the Nu checker: tests/e2e/test_accessibility.py lists them
(cs-search, cs-order, cs-order-pickup, cs-exceptions).
"""

import re
import socket
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from tests.e2e.conftest import CUSTOMER_SERVICE, login, pretty
from tests.e2e.test_accessibility import SMALL_TARGETS_JS, TOUCH, axe_violations, describe_violations
from tests.e2e.test_click_and_collect_flow import Inbox, _send_emails
from tests.e2e.test_counter_flow import settled

pytestmark = pytest.mark.e2e

TABLET = {"width": 1280, "height": 800}
HANDHELD = {"width": 360, "height": 640}


@pytest.fixture
def browser_context_args(browser_context_args):
    return {**browser_context_args, "bypass_csp": True}  # the page's CSP would block axe's inline script


def _accessible(page, where: str) -> None:
    """axe (WCAG 2.1 A/AA) on the page as it is now, with its action forms open, on a tablet and a handheld; on the
    handheld every control at least 44 px and nothing scrolling sideways."""
    for name, viewport in (("tablet", TABLET), ("handheld", HANDHELD)):
        page.set_viewport_size(viewport)
        violations = axe_violations(page)
        assert not violations, f"axe found on {where} ({name}):\n{describe_violations(violations)}"
        if name == "handheld":
            small = page.evaluate(SMALL_TARGETS_JS, TOUCH)
            assert not small, f"targets under {TOUCH} px on {where}:\n{pretty(small)}"
            overflow = page.evaluate(
                "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            assert overflow <= 0, f"{where} scrolls sideways by {overflow} px on a handheld"
    page.set_viewport_size(TABLET)


SCRATCH = Path("/work/scratch")


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


@pytest.fixture(scope="module")
def rejected_order(database_url, live_server, smtp) -> dict:
    """Hélène Dupré's order of two new products, taken in and sourced to store A, which rejects it (damaged); store B
    then receives both products. The confirmation e-mail is sent over SMTP."""
    from app import create_app
    from app.core.actor import Actor
    from app.core.ordering import capture, orders, sourcing
    from app.extensions import db
    from tests.factories import make_location, make_product, stocked

    run = uuid.uuid4().hex[:6].upper()
    actor = Actor.system("e2e")
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        try:
            first = make_location(
                code=f"CSA{run}", name=f"Rejecting store {run}", latitude=Decimal("48.87"), longitude=Decimal("2.33")
            )
            second = make_location(
                code=f"CSB{run}", name=f"Store with stock {run}", latitude=Decimal("48.85"), longitude=Decimal("2.35")
            )
            lamp, shade = make_product(name=f"Lamp {run}"), make_product(name=f"Shade {run}")
            stocked(first, lamp, 2)
            stocked(first, shade, 2)
            draft = orders.OrderDraft(
                channel="web",
                external_ref=f"CS-E2E-{run}",
                customer_name="Hélène Dupré",
                customer_email=f"helene.dupre.{run.lower()}@example.fr",
                customer_phone="+33 6 12 34 56 78",
                customer_language="fr",
                delivery_method="ship",
                lines=[orders.LineDraft(code=lamp.sku, quantity=1), orders.LineDraft(code=shade.sku, quantity=1)],
                ship_to={
                    "line1": "3 rue des Lilas",
                    "postcode": "75011",
                    "city": "Paris",
                    "country": "FR",
                    "latitude": Decimal("48.858"),
                    "longitude": Decimal("2.38"),
                },
            )
            order, _ = capture.capture_order(draft, actor=actor)
            (fulfilment,) = order.fulfilments
            assert fulfilment.location_id == first.id
            sourcing.reject_and_reroute(fulfilment, reason="damaged in the stockroom", actor=actor)
            assert order.needs_customer_service
            stocked(second, lamp, 4)
            stocked(second, shade, 4)
            data = {
                "order_id": order.id,
                "ref": order.reference,
                "email": order.customer_email,
                "fulfilment_id": fulfilment.id,
                "first": first.code,
                "second": second.code,
                "second_id": second.id,
                "second_name": second.name,
                "lamp_id": lamp.id,
                "shade_id": shade.id,
                "shade_line": order.lines[1].line_no,
            }
            db.session.commit()
        finally:
            db.session.remove()
            db.engine.dispose()
    controller, _inbox = smtp
    _send_emails(database_url, controller.port)
    return data


def _scratch_shot(page, shot, step: str) -> None:
    shot(page, step)
    if SCRATCH.is_dir():
        page.screenshot(path=str(SCRATCH / f"csweb_{step}.png"), full_page=True)


def test_customer_service_finds_an_order_reroutes_it_cancels_a_line_and_reads_its_story(
    page, rejected_order, smtp, query, shot, database_url
):
    controller, inbox = smtp
    data = rejected_order
    assert any(data["email"] in (m["To"] or "") for m in inbox.raw), "the confirmation e-mail did not go out"
    page.set_viewport_size(TABLET)
    login(page, CUSTOMER_SERVICE)
    expect(page).to_have_url(re.compile(r"/cs$"))

    # Part of the name, without its accents.
    page.locator("#cs-q").fill("helene dup")
    page.locator("#cs-search button[type=submit]").click()
    result = page.locator("#cs-results a.work-item", has_text=data["ref"])
    expect(result).to_be_visible()
    expect(result).to_contain_text("Hélène Dupré")
    _scratch_shot(page, shot, "search")
    result.click()
    expect(page).to_have_url(re.compile(rf"/cs/orders/{data['order_id']}$"))
    settled(page)
    rejected = page.locator(f"#fulfilment-{data['fulfilment_id']}")
    expect(rejected).to_contain_text("Rejected")
    expect(rejected).to_contain_text("damaged in the stockroom")
    expect(page.locator(".cs-head")).to_contain_text("Needs customer service")
    _scratch_shot(page, shot, "order")
    for summary in ("Cancel lines", "Goodwill refund", "Change the delivery address", "Resolve", "Flag a complaint"):
        folded = page.locator("details.cs-details:not([open]) > summary", has_text=summary)
        if folded.count():
            folded.first.click()
    _accessible(page, "the order page with its forms open")
    page.reload()
    settled(page)

    # Re-route the rejected fulfilment to the store that now has both units.
    form = page.locator(f"#reroute-{data['fulfilment_id']}-form")
    expect(form.get_by_label(re.compile(data["second"]))).to_be_enabled()
    form.get_by_label(re.compile(data["second"])).check()
    form.get_by_label("Note (why, what the customer said)").fill("Store rejected it; customer agreed to wait")
    form.get_by_role("button", name="Re-route").click()
    expect(page.locator("#toasts")).to_contain_text(f"Re-routed to {data['second_name']} ({data['second']}).")
    settled(page)
    [(new_id, status)] = query(
        "SELECT f.id, f.status FROM fulfilment f JOIN location l ON l.id = f.location_id "
        "WHERE f.order_id = :o AND l.code = :code",
        o=data["order_id"],
        code=data["second"],
    )
    assert status == "created"
    [(reserved,)] = query(
        "SELECT reserved FROM stock_level WHERE location_id = :l AND product_id = :p",
        l=data["second_id"],
        p=data["lamp_id"],
    )
    assert reserved == 1
    expect(page.locator(f"#fulfilment-{new_id}")).to_contain_text("To accept")
    _scratch_shot(page, shot, "rerouted")

    # Cancel the second line (the shade) before it leaves the store: its reserved unit goes back to the stock.
    page.locator("summary", has_text="Cancel lines").click()
    cancel = page.locator("#cancel-form")
    cancel.locator(f"#cancel-{data['shade_line']}").fill("1")
    cancel.get_by_label("Note (why, what the customer said)").fill("Customer no longer wants the shade")
    _scratch_shot(page, shot, "cancel-form")
    cancel.get_by_role("button", name="Cancel these units").click()
    expect(page.locator("#toasts")).to_contain_text("1 unit cancelled.")
    settled(page)
    [(cancelled,)] = query(
        "SELECT cancelled FROM order_line WHERE order_id = :o AND line_no = :n",
        o=data["order_id"],
        n=data["shade_line"],
    )
    assert cancelled == 1
    [(shade_reserved,)] = query(
        "SELECT reserved FROM stock_level WHERE location_id = :l AND product_id = :p",
        l=data["second_id"],
        p=data["shade_id"],
    )
    assert shade_reserved == 0
    shade_row = page.locator("#lines-title + .table-scroll tbody tr").nth(1)
    expect(shade_row.locator("td").nth(2)).to_have_text("1")  # the Cancelled column
    _scratch_shot(page, shot, "cancelled")

    # A refused change comes back at its form, in words, and changes nothing: a country that is not two letters.
    page.locator("summary", has_text="Change the delivery address").click()
    address = page.locator("#address-form")
    address.locator("#address-country").fill("F1")
    address.get_by_label("Note (why, what the customer said)").fill("Customer moved")
    address.get_by_role("button", name="Change the address").click()
    expect(page.locator("#address-country-error")).to_have_text("A two-letter country code (FR, IT).")
    expect(page.locator("#address-country")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#address-form .scan-error")).to_contain_text("The address has invalid fields.")
    expect(page.locator(".cs-head [role=alert]")).to_contain_text("The address has invalid fields.")
    assert page.url.endswith(f"/cs/orders/{data['order_id']}")  # the order's address, not the action's
    page.locator(".cs-head [role=alert] a").click()  # to the refused form
    expect(page.locator("#address-form")).to_be_in_viewport()
    _scratch_shot(page, shot, "refused")
    _accessible(page, "the order page with a refused form")
    [(country,)] = query("SELECT ship_country FROM customer_order WHERE id = :o", o=data["order_id"])
    assert country == "FR"

    # The customer is told (the worker sends the outbox over SMTP), and the page shows each e-mail sent.
    before = len(inbox.raw)
    _send_emails(database_url, controller.port)
    assert len(inbox.raw) > before, "the cancellation e-mail did not go out"
    page.reload()
    settled(page)
    emails = page.locator(".cs-email")
    expect(emails.first).to_contain_text("Order received")
    expect(emails.first).to_contain_text("Sent")
    expect(emails.first).to_contain_text(data["email"])
    expect(emails.last).to_contain_text("Order cancelled, in full or in part")
    expect(emails.last).to_contain_text("Sent")
    timeline = page.locator(".cs-timeline")
    expect(timeline).to_contain_text("Order received")
    expect(timeline).to_contain_text("Fulfilment: Rejected")
    expect(timeline).to_contain_text("Message sent")
    expect(timeline).to_contain_text("Re-routed by customer service")
    expect(timeline).to_contain_text("Store rejected it; customer agreed to wait")
    expect(timeline).to_contain_text("Lines cancelled by customer service")
    expect(timeline).to_contain_text(f"by {CUSTOMER_SERVICE}")
    page.locator(".cs-timeline-card").scroll_into_view_if_needed()
    _scratch_shot(page, shot, "timeline")
    [(events,)] = query(
        "SELECT COUNT(*) FROM audit_event WHERE subject_type = 'customer_order' AND subject_id = :o "
        "AND action = 'order.cs_rerouted' AND actor = :who",
        o=str(data["order_id"]),
        who=f"user:{CUSTOMER_SERVICE}",
    )
    assert events == 1

    # The exception queue, reached from the console's tabs.
    page.get_by_role("navigation", name="Customer service").get_by_role(
        "link", name=re.compile("Exception queue")
    ).click()
    expect(page).to_have_url(re.compile(r"/cs/exceptions$"))
    expect(page.locator("h1")).to_have_text("Exception queue")
    _scratch_shot(page, shot, "exceptions")
