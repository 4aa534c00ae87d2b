"""Accessibility (axe-core, WCAG 2.1 A/AA), touch target size, and HTML validity (Nu checker).

Every screen an associate, a manager and an admin use, on a 10" tablet and a small handheld.
"""

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from app.core.service.text import fold
from tests.e2e.conftest import (
    ADMIN,
    ARTIFACTS,
    ASSOCIATE,
    CSRF_RE,
    CUSTOMER_SERVICE,
    MANAGER,
    ROOT,
    STORE,
    api_login,
    pretty,
    skip_or_fail,
)
from tests.e2e.kpi_days import seed_report_days

# The screens' HTML does not depend on the database: these checks run in one pass of `make test` (tests/conftest.py).
pytestmark = [pytest.mark.e2e, pytest.mark.engine_independent]

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "handheld": {"width": 360, "height": 640}}
TOUCH = 44  # px, WCAG 2.5.5 and the platform guidelines for gloved hands on a shop floor
WRONG_PASSWORD = "not-the-password"


@dataclass(frozen=True)
class Screen:
    name: str
    user: str | None
    status: int = 200


SCREENS = [
    Screen("login", None),
    Screen("login-error", None, 422),
    *(Screen(f"queue-{tab}", ASSOCIATE) for tab in ("accept", "pick", "pack", "ship", "collect")),
    Screen("fulfilment-created", ASSOCIATE),
    Screen("fulfilment-held", ASSOCIATE),
    Screen("fulfilment-accepted", ASSOCIATE),
    Screen("pick-choose", ASSOCIATE),
    Screen("pick-list", ASSOCIATE),
    Screen("pack-picked", ASSOCIATE),
    Screen("pack-packed", ASSOCIATE),
    Screen("pickup-prepare", ASSOCIATE),  # a picked click & collect order: bags, bag labels, the hold shelf
    Screen("dispatch", ASSOCIATE),
    Screen("incoming", ASSOCIATE),  # click & collect transfers coming to the store, received by scan
    Screen("print-job", ASSOCIATE),
    Screen("queue-manager", MANAGER),
    Screen("board", MANAGER),  # the live store board: work by stage, capacity, who works, orders at risk
    Screen("reject-all", MANAGER),
    Screen("package-types", MANAGER),
    Screen("sessions", MANAGER),  # the devices signed in for the store's staff
    Screen("staff", MANAGER),  # the store's people and the invitation form
    Screen("staff-person", MANAGER),  # role, stores, access, badge
    Screen("switch", ASSOCIATE),  # badge or PIN on a shared tablet
    Screen("own-pin", ASSOCIATE),
    Screen("own-password", ASSOCIATE),
    Screen("admin-carriers", ADMIN),
    Screen("stock-search", ASSOCIATE),
    Screen("stock-manager", MANAGER),  # with the Count buttons
    Screen("count", MANAGER),
    Screen("stock-settings", MANAGER),  # safety stock and channel buffers
    Screen("shelves", MANAGER),  # shelf places, labels and the walk
    Screen("pickup-slots", MANAGER),  # the hold shelf's slots, their labels, the click & collect settings
    Screen("counter", ASSOCIATE),  # click & collect: the scan/search box, customers here, the hold shelf
    Screen("pickup", ASSOCIATE),  # one click & collect order and its hand-over
    Screen("pickup-manager", MANAGER),  # with the hold's end
    Screen("put-back", ASSOCIATE),  # what waits to go back on the shop floor
    Screen("returns-desk", ASSOCIATE),  # the returns desk's scan/search box
    Screen("return-order", ASSOCIATE),  # an order's lines: units back, reason, condition
    Screen("return-order-quote", ASSOCIATE),  # the refund shown before confirming
    Screen("return", ASSOCIATE),  # a return taken here: refund, receipt
    Screen("returns-expected", ASSOCIATE),  # returns by post received by scan
    Screen("returns-inspect", MANAGER),  # returned items waiting for a manager's decision
    Screen("productivity", MANAGER),  # the store's team figures (each person's only when the retailer allows it)
    Screen("my-productivity", ASSOCIATE),  # an associate's own figures, or why there are none
    Screen("store-reports", MANAGER),  # the store's KPIs: period picker, charts (inline SVG), tables, CSV links
    Screen("chain-reports", ADMIN),  # head office: the stores side by side
    Screen("stores-admin", ADMIN),
    Screen("admin-sourcing", ADMIN),
    Screen("admin-retailer", ADMIN),
    Screen("admin-location", ADMIN),
    Screen("admin-api-clients", ADMIN),
    Screen("admin-webhooks", ADMIN),
    Screen("cs-search", CUSTOMER_SERVICE),  # the customer service console: one search box, the chain's orders
    Screen("cs-order", CUSTOMER_SERVICE),  # an order's whole story (parcels, payments, a return) and its actions
    Screen("cs-order-pickup", CUSTOMER_SERVICE),  # a click & collect order on the hold shelf: its hold's end
    Screen("cs-exceptions", CUSTOMER_SERVICE),  # orders needing customer service, oldest first
    Screen("api-docs", None),
    Screen("not-found", ASSOCIATE, 404),
    # The customer's "I'm here" page (no account, on a phone), when the demo has an order on a hold shelf, and its
    # answer to a link that is not ours.
    Screen("curbside", None),
    Screen("curbside-bad-link", None, 404),
]


@pytest.fixture(scope="session")
def paths(query, db_engine, database_url) -> dict:
    """The URL of each screen, from the demo data (and a PIN for the demo associate: the switch screen's PIN form
    lists the store's associates who have one)."""
    from werkzeug.security import generate_password_hash

    with db_engine.begin() as conn:
        conn.execute(
            text("UPDATE app_user SET pin_hash = :pin WHERE email = :email"),
            {"pin": generate_password_hash("70593"), "email": ASSOCIATE},
        )
    colleague = query(
        "SELECT u.id FROM app_user u JOIN membership m ON m.user_id = u.id JOIN location l ON l.id = m.location_id "
        "WHERE l.code = :store AND u.email = :email",
        store=STORE,
        email=ASSOCIATE,
    )[0][0]
    fulfilment_id = query(
        "SELECT f.id FROM fulfilment f JOIN location l ON l.id = f.location_id "
        "WHERE l.code = :store AND f.status = 'created' ORDER BY f.id LIMIT 1",
        store=STORE,
    )[0][0]
    product_id, product_name = query(
        "SELECT p.id, p.name FROM product p JOIN stock_level s ON s.product_id = p.id "
        "JOIN location l ON l.id = s.location_id WHERE l.code = :store ORDER BY p.id LIMIT 1",
        store=STORE,
    )[0]
    term = product_name.split()[0]

    def first(sql: str):
        rows = query(sql, store=STORE)
        assert rows, f"the demo has no row for: {sql}"
        return rows[0][0]

    at_store = "FROM fulfilment f JOIN location l ON l.id = f.location_id JOIN customer_order o ON o.id = f.order_id "
    at_store += "WHERE l.code = :store AND "
    held = first(f"SELECT f.id {at_store} o.needs_review ORDER BY f.id LIMIT 1")
    # the customer service search: a demo customer's surname, typed without its accents
    cs_term = fold(first(f"SELECT o.customer_name {at_store} true ORDER BY o.id LIMIT 1")).split()[-1]
    accepted = first(f"SELECT f.id {at_store} f.status = 'accepted' AND NOT o.needs_review ORDER BY f.id LIMIT 1")
    pick_list = first(f"SELECT f.pick_list_id {at_store} f.status = 'picking' ORDER BY f.id LIMIT 1")
    shipping = "o.delivery_method = 'ship' AND "
    # a picked delivery, a gift one when there is one (the gift step is part of the screen)
    picked = first(f"SELECT f.id {at_store} {shipping} f.status = 'picked' ORDER BY o.gift_wrap DESC, f.id LIMIT 1")
    packed = first(f"SELECT f.id {at_store} {shipping} f.status = 'packed' ORDER BY f.id LIMIT 1")
    to_prepare = first(
        f"SELECT f.id {at_store} o.delivery_method = 'collect' AND f.status = 'picked' AND f.transfer_to_id IS NULL "
        "ORDER BY f.id LIMIT 1"
    )
    on_hold_shelf = first(
        f"SELECT f.id {at_store} o.delivery_method = 'collect' AND f.status = 'ready_for_pickup' ORDER BY f.id LIMIT 1"
    )
    on_hold_order = first(
        f"SELECT o.id {at_store} o.delivery_method = 'collect' AND f.status = 'ready_for_pickup' ORDER BY f.id LIMIT 1"
    )
    shipped = query(
        "SELECT DISTINCT o.id FROM customer_order o JOIN fulfilment f ON f.order_id = o.id "
        "JOIN location l ON l.id = f.location_id WHERE l.code = :store AND f.status = 'shipped' ORDER BY o.id LIMIT 2",
        store=STORE,
    )
    assert len(shipped) == 2, "the demo store has fewer than two shipped orders (one to show, one returned)"
    shipped_order = shipped[0][0]
    return_id = _a_return_to_inspect(database_url, shipped[1][0])
    seed_report_days(database_url)  # past days' figures for the KPI pages to draw
    result = {
        "login": "/login",
        "login-error": "/login",
        "fulfilment-created": f"/stores/{STORE}/fulfilments/{fulfilment_id}",
        "fulfilment-held": f"/stores/{STORE}/fulfilments/{held}",
        "fulfilment-accepted": f"/stores/{STORE}/fulfilments/{accepted}",
        "pick-choose": f"/stores/{STORE}/picks/new",
        "pick-list": f"/stores/{STORE}/picks/{pick_list}",
        "pack-picked": f"/stores/{STORE}/fulfilments/{picked}/pack",
        "pack-packed": f"/stores/{STORE}/fulfilments/{packed}/pack",
        "pickup-prepare": f"/stores/{STORE}/fulfilments/{to_prepare}/prepare",
        "dispatch": f"/stores/{STORE}/dispatch",
        "incoming": f"/stores/{STORE}/incoming",
        "queue-manager": f"/stores/{STORE}/queue",
        "board": f"/stores/{STORE}/board",
        "reject-all": f"/stores/{STORE}/reject-all",
        "package-types": f"/stores/{STORE}/package-types",
        "sessions": f"/stores/{STORE}/sessions",
        "staff": f"/stores/{STORE}/staff",
        "staff-person": f"/stores/{STORE}/staff/{colleague}",
        "switch": f"/stores/{STORE}/switch",
        "own-pin": "/account/pin",
        "own-password": "/account/password",
        "admin-carriers": "/admin/carriers",
        "stock-search": f"/stores/{STORE}/stock?q={term}",
        "stock-manager": f"/stores/{STORE}/stock?q={term}",
        "count": f"/stores/{STORE}/stock/{product_id}/count",
        "stock-settings": f"/stores/{STORE}/stock/{product_id}/settings",
        "shelves": f"/stores/{STORE}/shelves",
        "pickup-slots": f"/stores/{STORE}/slots",
        "counter": f"/stores/{STORE}/counter",
        "pickup": f"/stores/{STORE}/pickups/{on_hold_shelf}",
        "pickup-manager": f"/stores/{STORE}/pickups/{on_hold_shelf}",
        "put-back": f"/stores/{STORE}/put-back",
        "returns-desk": f"/stores/{STORE}/returns",
        "return-order": f"/stores/{STORE}/returns/orders/{shipped_order}",
        "return-order-quote": f"/stores/{STORE}/returns/orders/{shipped_order}",
        "return": f"/stores/{STORE}/returns/{return_id}",
        "returns-expected": f"/stores/{STORE}/returns/expected",
        "returns-inspect": f"/stores/{STORE}/returns/inspect",
        "productivity": f"/stores/{STORE}/productivity",
        "my-productivity": "/me/productivity",
        "stores-admin": "/",
        "store-reports": f"/stores/{STORE}/reports?period=12w&grain=week",
        "chain-reports": "/reports",
        "admin-sourcing": "/admin/sourcing",
        "admin-retailer": "/admin/retailer",
        "admin-location": f"/admin/locations/{STORE}",
        "admin-api-clients": "/admin/api-clients",
        "admin-webhooks": "/admin/webhooks",
        "cs-search": f"/cs?q={cs_term}",
        "cs-order": f"/cs/orders/{shipped[1][0]}",
        "cs-order-pickup": f"/cs/orders/{on_hold_order}",
        "cs-exceptions": "/cs/exceptions",
        "api-docs": "/api/v1/docs",
        "not-found": f"/stores/{STORE}/no-such-page",
        "_search_term": term,
    }
    for tab in ("accept", "pick", "pack", "ship", "collect"):
        result[f"queue-{tab}"] = f"/stores/{STORE}/queue?tab={tab}"
    result["curbside-bad-link"] = "/pickup/not-a-link-of-ours"
    waiting = query(
        "SELECT p.id FROM pickup p JOIN fulfilment f ON f.id = p.fulfilment_id JOIN location l ON l.id = p.location_id "
        "WHERE f.status = 'ready_for_pickup' AND l.curbside AND p.expires_at > CURRENT_TIMESTAMP ORDER BY p.id LIMIT 1"
    )
    assert waiting, "the demo data has no order waiting on a hold shelf for the customer's I'm-here page"
    if waiting:  # signed as the server signs it (tests/e2e/conftest.py gives it this SECRET_KEY)
        from itsdangerous import URLSafeSerializer

        from app.core.integration.notices import TOKEN_SALT

        secret = os.environ.get("SECRET_KEY") or "e2e-" + "s" * 40
        result["curbside"] = "/pickup/" + URLSafeSerializer(secret, salt=TOKEN_SALT).dumps({"p": waiting[0][0]})
    return result


def _a_return_to_inspect(database_url: str, order_id: int) -> int:
    """One unit of a shipped demo order taken back at the demo store to inspect (the return and quarantine screens
    show it); the demo has no returns of its own."""
    from app import create_app
    from app.core import returns
    from app.core.actor import Actor
    from app.core.models import Location, Order
    from app.core.uow import unit_of_work
    from app.extensions import db

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        try:
            with unit_of_work(writes=True):
                order = db.session.get(Order, order_id)
                store = db.session.scalar(db.select(Location).where(Location.code == STORE))
                line = next(line for line, units in returns.returnable(order).items() if units)
                row = {"order_line_id": line.id, "quantity": 1, "reason": "damaged", "condition": "inspect"}
                ret = returns.create_return(order, store, [row], actor=Actor.system("e2e"))
                return_id = ret.id
            return return_id
        finally:
            db.session.remove()
            db.engine.dispose()


def require_path(screen: Screen, paths: dict) -> None:
    """Every screen has its address in the demo data (a print job's is made by a POST when it is opened)."""
    assert screen.name in paths or screen.name == "print-job", f"the demo data has nothing to show on {screen.name}"


def open_screen(page, screen: Screen, paths: dict) -> None:
    """Bring the page to the screen's state the way a person would."""
    if screen.name == "login-error":
        page.goto("/login")
        page.get_by_label("E-mail").fill(ASSOCIATE)
        page.get_by_label("Password").fill(WRONG_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#password-error")).to_be_visible()
        return
    if screen.name == "stock-search":
        response = page.goto(f"/stores/{STORE}/stock")
        assert response.status == 200
        page.locator("#q").fill(paths["_search_term"])  # label text depends on the user's language
        page.wait_for_url(re.compile(r"[?&]q="))
        expect(page.locator("#rows tbody tr").first).to_contain_text(paths["_search_term"])
        return
    if screen.name == "print-job":
        page.goto(f"/stores/{STORE}/dispatch")
        page.locator("form[action$='/print-jobs'] button").click()  # the label is in the reader's language
        expect(page.locator("progress")).to_be_visible()
        expect(page.locator("#job-progress a.button")).to_be_visible(timeout=20_000)
        return
    response = page.goto(paths[screen.name])
    assert response.status == screen.status, f"{paths[screen.name]} answered {response.status}"
    if screen.name == "return-order-quote":
        quantity = page.locator("input.qty").first
        line_id = quantity.get_attribute("id").removeprefix("qty-")
        quantity.fill("1")
        page.locator(f"#reason-{line_id}").select_option("too_small")
        page.locator("#return-form button[type=submit]").click()
        expect(page.locator(".quote")).to_be_visible()
    if screen.name == "stores-admin":
        expect(page.locator(".tiles .tile").first).to_be_visible()
    if screen.name.startswith("queue-"):
        expect(page.locator(".tabs a[aria-current=page]")).to_have_count(1)


def axe_violations(page) -> list[dict]:
    page.add_script_tag(path=str(AXE))  # again after every navigation
    return page.evaluate(
        """async (tags) => {
            const result = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
            return result.violations.map(v => ({
                id: v.id, impact: v.impact, help: v.help, helpUrl: v.helpUrl,
                nodes: v.nodes.map(n => ({target: n.target.join(' '), html: n.html.slice(0, 200),
                                          summary: n.failureSummary}))}));
        }""",
        WCAG_TAGS,
    )


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['impact']}] {v['id']}: {v['help']} ({v['helpUrl']})")
        for node in v["nodes"]:
            lines.append(f"    at {node['target']}\n      {node['html']}")
            lines.extend(f"      {line}" for line in (node["summary"] or "").splitlines())
    return "\n".join(lines)


# Exceptions to the 44x44 px rule, following WCAG 2.5.5 / 2.5.8:
#  - "inline": a link inside a sentence or block of text (its block has text besides the link) is
#    sized by the line height of that text; that is legitimate.
#  - off-screen until focused (the "skip to content" link): measured while focused instead.
# Controls that are not rendered (hidden inputs, <noscript> content, display:none) are not targets.
SMALL_TARGETS_JS = """(min) => {
    const blockOf = el => {
        let node = el.parentElement;
        while (node && getComputedStyle(node).display.startsWith('inline')) node = node.parentElement;
        return node;
    };
    const inlineInText = el => {
        if (el.tagName !== 'A') return false;
        const block = blockOf(el);
        if (!block) return false;
        const rest = block.textContent.replace(el.textContent, '').trim();
        return rest.length > 0 && getComputedStyle(el).display.startsWith('inline')
               && !el.matches('.button, [role=button]');
    };
    const describe = el => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '')
        + (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\\s+/).join('.') : '')
        + ' "' + (el.innerText || el.value || el.getAttribute('aria-label') || el.name || '').trim().slice(0, 40) + '"';
    const small = [];
    const vw = document.documentElement.clientWidth;
    for (const el of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')) {
        const style = getComputedStyle(el);
        let rect = el.getBoundingClientRect();
        const unrendered = rect.width === 0 && rect.height === 0;
        if (style.display === 'none' || style.visibility === 'hidden' || unrendered) continue;
        if (rect.right <= 0 || rect.left >= vw) {          // off-screen until focused
            el.focus(); rect = el.getBoundingClientRect(); el.blur();
        }
        if (rect.width + 0.5 >= min && rect.height + 0.5 >= min) continue;
        if (inlineInText(el)) continue;
        small.push({element: describe(el), width: Math.round(rect.width * 10) / 10,
                    height: Math.round(rect.height * 10) / 10});
    }
    return small;
}"""


@pytest.fixture
def screen_page(browser, browser_context_args, auth_states, request):
    """A fresh browser context per screen and viewport, signed in as the screen's user."""
    contexts = []

    def make(screen: Screen, viewport: dict):
        if not AXE.exists():
            skip_or_fail(request.config, f"{AXE} is missing (npm install axe-core)", "ACCESSIBILITY TESTS")
        args = {**browser_context_args, "viewport": viewport, "bypass_csp": True}  # CSP would block axe's inline script
        if screen.user:
            args["storage_state"] = auth_states(screen.user)
        context = browser.new_context(**args)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
@pytest.mark.parametrize("screen", SCREENS, ids=[s.name for s in SCREENS])
def test_screen_is_accessible(screen, viewport, screen_page, paths, shot):
    require_path(screen, paths)
    page = screen_page(screen, VIEWPORTS[viewport])
    open_screen(page, screen, paths)
    shot(page, f"{screen.name}-{viewport}")

    violations = axe_violations(page)
    assert not violations, f"axe found on {screen.name} ({viewport}):\n{describe_violations(violations)}"

    if viewport == "handheld":
        small = page.evaluate(SMALL_TARGETS_JS, TOUCH)
        assert not small, f"targets under {TOUCH}x{TOUCH} px on {screen.name} ({viewport}):\n{pretty(small)}"
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{screen.name} scrolls sideways by {overflow} px on a {viewport}"


def test_html_is_valid(playwright, base_url, auth_states, paths, scratch_dir, request):
    """The raw HTML the server sends for every screen passes the Nu Html Checker (one JVM run)."""
    java = shutil.which("java")
    if not java:
        skip_or_fail(request.config, "java is missing (apt-get install -y default-jre-headless)", "HTML VALIDITY TEST")
    if not VNU.exists():
        skip_or_fail(request.config, f"{VNU} is missing (npm install vnu-jar)", "HTML VALIDITY TEST")

    folder = scratch_dir / "html"
    folder.mkdir(exist_ok=True)
    files: list[Path] = []
    contexts = {}
    try:
        for screen in SCREENS:
            if screen.user not in contexts:
                state = auth_states(screen.user) if screen.user else None
                contexts[screen.user] = playwright.request.new_context(base_url=base_url, storage_state=state)
            http = contexts[screen.user]
            if screen.name == "login-error":
                response = api_login(http, ASSOCIATE, WRONG_PASSWORD)
            elif screen.name == "print-job":  # a job is made by a POST; the answer leads to its page
                token = CSRF_RE.search(http.get(paths["dispatch"]).text()).group(1)
                response = http.post(f"/stores/{STORE}/print-jobs", form={"csrf_token": token})
            else:
                response = http.get(paths[screen.name])
            assert response.status == screen.status, f"{screen.name}: {response.status}"
            assert response.headers["content-type"].startswith("text/html")
            path = folder / f"{screen.name}.html"
            path.write_text(response.text(), encoding="utf-8")
            files.append(path)
    finally:
        for http in contexts.values():
            http.dispose()

    result = subprocess.run(
        [java, "-jar", str(VNU), "--errors-only", "--format", "json", "--stdout", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    try:
        messages = json.loads(result.stdout)["messages"]
    except (ValueError, KeyError):
        pytest.fail(f"the Nu checker did not answer JSON ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    errors = [m for m in messages if m.get("type") in {"error", "non-document-error"}]
    report = "\n".join(
        f"{Path(m.get('url', '?')).name}:{m.get('lastLine', '?')}: {m.get('message')}\n"
        f"    {m.get('extract', '').strip()}"
        for m in errors
    )
    if errors:
        kept = ARTIFACTS / "html"
        shutil.copytree(folder, kept, dirs_exist_ok=True)
        pytest.fail(f"the Nu checker found {len(errors)} error(s) (pages kept in {kept}):\n{report}", pytrace=False)
    assert len(files) == len(SCREENS)
