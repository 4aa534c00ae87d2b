"""A 360 x 640 handheld on the floor: the chrome leaves room for the work, tabs and codes stay whole, toasts stay
small, no screen breaks the content security policy or misses its icon, and the counter scan opens orders."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ASSOCIATE, STORE

pytestmark = pytest.mark.e2e

HANDHELD = {"width": 360, "height": 640}
CHROME_SHARE = 0.20  # header + scan bar, of the height
TOAST_SHARE = 0.15
TOUCH = 44

# Every securitypolicyviolation the page sees, from before its first script runs.
CSP_PROBE = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', e => window.__csp.push(
    e.violatedDirective + ' ' + (e.blockedURI || 'inline') + ' at ' + (e.sourceFile || '') + ':' + e.lineNumber));
"""


@pytest.fixture(scope="module")
def floor_paths(query) -> dict:
    """The screens of PAR01's floor in the demo: a pick list, a packed parcel, the order and its tracking number."""

    def first(sql: str):
        rows = query(sql, store=STORE)
        assert rows, f"the demo has no row for: {sql}"
        return rows[0]

    at_store = "FROM fulfilment f JOIN location l ON l.id = f.location_id JOIN customer_order o ON o.id = f.order_id "
    at_store += "WHERE l.code = :store AND "
    pick_list = first(f"SELECT f.pick_list_id {at_store} f.status = 'picking' ORDER BY f.id LIMIT 1")[0]
    picked = first(f"SELECT f.id {at_store} o.delivery_method = 'ship' AND f.status = 'picked' ORDER BY f.id LIMIT 1")[
        0
    ]
    packed, tracking = first(
        "SELECT f.id, s.tracking_number FROM fulfilment f JOIN location l ON l.id = f.location_id "
        "JOIN parcel p ON p.fulfilment_id = f.id JOIN shipping_label s ON s.parcel_id = p.id "
        "WHERE l.code = :store AND f.status = 'packed' AND s.status = 'active' ORDER BY f.id LIMIT 1"
    )
    waiting, channel, ref = first(
        f"SELECT f.id, o.channel, o.external_ref {at_store} f.status = 'created' ORDER BY f.id LIMIT 1"
    )
    return {
        "pick": f"/stores/{STORE}/picks/{pick_list}",
        "pack": f"/stores/{STORE}/fulfilments/{picked}/pack",
        "pack-packed": f"/stores/{STORE}/fulfilments/{packed}/pack",
        "dispatch": f"/stores/{STORE}/dispatch",
        "queue": f"/stores/{STORE}/queue",
        "stock": f"/stores/{STORE}/stock",
        "fulfilment": f"/stores/{STORE}/fulfilments/{waiting}",
        "packed_id": packed,
        "tracking": tracking,
        "waiting_id": waiting,
        "order_number": f"{channel.upper()}-{ref}",
    }


@pytest.fixture
def handheld(browser, browser_context_args, auth_states):
    """A signed-in associate's page on a 360 x 640 handheld, with the CSP probe and a log of failed requests."""
    context = browser.new_context(**browser_context_args, viewport=HANDHELD, storage_state=auth_states(ASSOCIATE))
    context.add_init_script(CSP_PROBE)
    page = context.new_page()
    page.failed = []  # (status, url) of every answer >= 400
    page.on("response", lambda r: r.status >= 400 and page.failed.append((r.status, r.url)))
    page.console = []
    page.on("console", lambda m: m.type == "error" and page.console.append(m.text))
    yield page
    context.close()


def _chrome_height(page) -> float:
    return page.evaluate(
        "() => ['.topbar', '.scanbar'].map(s => document.querySelector(s))"
        ".reduce((sum, el) => sum + (el ? el.getBoundingClientRect().height : 0), 0)"
    )


@pytest.mark.parametrize("screen", ["pick", "pack", "dispatch", "queue"])
def test_the_header_and_scan_bar_take_at_most_a_fifth_of_the_height(handheld, floor_paths, screen, shot):
    assert handheld.goto(floor_paths[screen]).status == 200
    shot(handheld, screen)
    chrome = _chrome_height(handheld)
    assert chrome <= CHROME_SHARE * HANDHELD["height"], f"{screen}: header + scan bar are {chrome} px high"
    # still touch-sized, and the page itself never scrolls sideways
    for selector in (".topbar a", ".topbar button", "#scan-input", ".scanbar button"):
        for box in handheld.locator(selector).evaluate_all("els => els.map(e => e.getBoundingClientRect().height)"):
            assert box + 0.5 >= TOUCH, f"{selector} is {box} px high on {screen}"
    overflow = handheld.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0


def test_the_pick_list_shows_the_tote_above_the_fold(handheld, floor_paths):
    handheld.goto(floor_paths["pick"])
    tote = handheld.locator(".tote").first
    expect(tote).to_be_visible()
    assert tote.bounding_box()["y"] + tote.bounding_box()["height"] <= HANDHELD["height"]


def test_every_queue_tab_is_on_screen(handheld, floor_paths):
    handheld.goto(floor_paths["queue"])
    tabs = handheld.locator(".tabs a")
    assert tabs.count() == 6  # the five tabs and the Incoming link (click & collect transfers coming to the store)
    for i in range(tabs.count()):
        box = tabs.nth(i).bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= HANDHELD["width"], tabs.nth(i).inner_text()
        assert box["height"] + 0.5 >= TOUCH
    expect(handheld.locator("#tab-ship")).to_be_in_viewport()
    expect(handheld.locator("#tab-collect")).to_be_in_viewport()
    expect(handheld.locator("#incoming-link")).to_be_in_viewport()


def test_a_tracking_number_stays_on_one_line(handheld, floor_paths):
    handheld.goto(floor_paths["pack-packed"])
    tracking = handheld.locator(".tracking", has_text=floor_paths["tracking"]).first
    expect(tracking).to_be_visible()
    lines = tracking.evaluate(
        "el => { const r = document.createRange(); r.selectNodeContents(el);"
        " return new Set([...r.getClientRects()].map(q => Math.round(q.top))).size; }"
    )
    assert lines == 1
    assert tracking.evaluate("el => getComputedStyle(el).whiteSpace") == "nowrap"


def test_a_toast_is_small_and_leaves_the_work_visible(handheld, floor_paths, shot):
    handheld.goto(floor_paths["queue"])
    handheld.locator("#scan-input").fill("NO-SUCH-CODE-" + "9" * 40)
    handheld.locator("#scan-input").press("Enter")
    toast = handheld.locator("#toasts .toast").last
    expect(toast).to_be_visible()
    shot(handheld, "toast")
    assert toast.bounding_box()["height"] <= TOAST_SHARE * HANDHELD["height"]
    area = handheld.locator("#toasts").bounding_box()
    assert area["height"] <= TOAST_SHARE * HANDHELD["height"]


def test_the_counter_scan_opens_an_order_by_its_number_and_by_its_tracking_number(handheld, floor_paths, shot):
    handheld.goto(floor_paths["queue"])
    handheld.locator("#scan-input").fill(floor_paths["order_number"])
    handheld.locator("#scan-input").press("Enter")
    handheld.wait_for_url(re.compile(rf"/fulfilments/{floor_paths['waiting_id']}$"))
    expect(handheld.locator("main")).to_contain_text(floor_paths["order_number"])
    shot(handheld, "order-by-number")
    handheld.locator("#scan-input").fill(floor_paths["tracking"])
    handheld.locator("#scan-input").press("Enter")
    handheld.wait_for_url(re.compile(rf"/fulfilments/{floor_paths['packed_id']}$"))
    shot(handheld, "order-by-tracking")


@pytest.mark.parametrize("screen", ["queue", "fulfilment", "pick", "pack", "pack-packed", "dispatch", "stock"])
def test_no_screen_breaks_the_content_security_policy_or_misses_its_icon(handheld, floor_paths, screen):
    assert handheld.goto(floor_paths[screen]).status == 200
    handheld.wait_for_load_state("networkidle")
    assert handheld.evaluate("() => window.__csp") == []
    assert not [m for m in handheld.console if "Content Security Policy" in m], handheld.console
    assert handheld.failed == []  # the favicon included
    icon = handheld.evaluate("() => fetch(document.querySelector('link[rel=icon]').href).then(r => r.status)")
    assert icon == 200


def test_the_csp_probe_sees_an_inline_style(handheld, floor_paths):
    """The check above can fail: a style attribute written into the page is reported."""
    handheld.goto(floor_paths["queue"])
    handheld.evaluate("() => document.querySelector('main').setAttribute('style', 'color: red')")
    handheld.wait_for_function("() => window.__csp.length > 0")
    assert "style-src" in handheld.evaluate("() => window.__csp[0]")


def test_an_error_page_is_the_apps_own_with_no_csp_error(handheld):
    response = handheld.goto(f"/stores/{STORE}/no-such-page")
    assert response.status == 404
    expect(handheld.locator(".error-card")).to_be_visible()
    assert handheld.evaluate("() => window.__csp") == []


def test_a_5000_character_search_answers_with_the_app(handheld):
    response = handheld.goto(f"/stores/{STORE}/stock?q=" + "a" * 5000)
    assert response.status == 200
    expect(handheld.locator("#q")).to_have_value("a" * 100)
    expect(handheld.locator("main")).to_contain_text("No product matches.")
