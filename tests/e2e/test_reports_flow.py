"""The KPI page in a real browser, on a tablet and a desktop: the manager opens it from the queue, picks the last
12 weeks by week, and sees the charts (pygal's SVG, styled by /reports/charts.css under the real CSP) with their
numbers in tables; head office compares the stores. Screenshots under test-artifacts/e2e/<engine>/."""

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import ADMIN, MANAGER, STORE, login, skip_or_fail
from tests.e2e.kpi_days import seed_report_days
from tests.e2e.test_accessibility import AXE, axe_violations, describe_violations

pytestmark = pytest.mark.e2e

VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "desktop": {"width": 1600, "height": 1000}}
AXE_VIEWPORTS = {"tablet": {"width": 1280, "height": 800}, "desktop": {"width": 1366, "height": 900}}


@pytest.fixture(scope="module")
def report_days(live_server, database_url):
    seed_report_days(database_url)


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_manager_reads_the_stores_kpis(report_days, browser, browser_context_args, viewport, shot):
    context = browser.new_context(**{**browser_context_args, "viewport": VIEWPORTS[viewport]})
    page = context.new_page()
    refused = []
    page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text else 0)
    login(page, MANAGER)
    page.goto(f"/stores/{STORE}/queue")
    page.locator(f"a[href='/stores/{STORE}/reports']").click()
    expect(page.locator("svg#chart-received")).to_be_visible()
    page.locator("#period").select_option("12w")
    page.locator("#grain").select_option("week")
    page.locator(".report-picker button[type=submit]").click()
    page.wait_for_url(lambda url: "period=12w" in url and "grain=week" in url)
    for chart in ("chart-received", "chart-on-time", "chart-ready", "chart-reasons", "chart-shorts", "chart-returns"):
        svg = page.locator(f"svg#{chart}")
        expect(svg).to_be_visible()
        expect(svg).to_have_attribute("role", "img")
        box = svg.bounding_box()
        assert box["width"] > 300 and box["height"] > 150, f"{chart} is too small to read: {box}"
    bars = page.locator("svg#chart-received .series rect")
    assert bars.count() == 12  # one bar a week
    # pygal's style reached the chart (a stylesheet: the CSP refuses inline styles): the plot is white, bars blue
    fill = page.locator("svg#chart-received .series rect").first.evaluate("e => getComputedStyle(e).fill")
    assert fill == "rgb(29, 78, 216)", fill
    rows = page.locator("#table-orders tbody tr")
    expect(rows).to_have_count(12)
    expect(page.locator("#table-orders tfoot th")).to_be_visible()
    expect(page.locator("#table-reasons tbody tr").first).to_be_visible()
    shot(page, f"store-kpis-{viewport}")
    with page.expect_download() as download:
        page.locator(".report-table a[href*='table=orders']").click()
    assert download.value.suggested_filename.startswith(f"{STORE}-orders-")
    assert not refused, refused
    context.close()


@pytest.mark.parametrize("viewport", list(VIEWPORTS))
def test_head_office_compares_the_stores(report_days, browser, browser_context_args, viewport, shot):
    context = browser.new_context(**{**browser_context_args, "viewport": VIEWPORTS[viewport]})
    page = context.new_page()
    login(page, ADMIN)
    page.goto("/admin/sourcing")
    page.locator("nav.tabs a[href='/reports']").click()
    for chart in ("chart-stores-on-time", "chart-stores-received", "chart-stores-ready"):
        expect(page.locator(f"svg#{chart}")).to_be_visible()
    stores = page.locator("#table-stores tbody tr")
    assert stores.count() >= 2
    expect(stores.first.locator("th")).to_contain_text(" ")
    assert page.locator("svg#chart-stores-received .series rect").count() == stores.count()
    shot(page, f"chain-kpis-{viewport}")
    context.close()


@pytest.mark.parametrize("viewport", list(AXE_VIEWPORTS))
def test_the_kpi_page_passes_axe(report_days, browser, browser_context_args, pytestconfig, shot, viewport):
    """axe (WCAG 2.1 A/AA) on the store's KPI page with its charts and tables, by day and by week (the
    accessibility sweep covers the tablet and the handheld; this adds a laptop-sized desktop)."""
    if not AXE.exists():
        skip_or_fail(pytestconfig, f"{AXE} is missing (npm install axe-core)", "ACCESSIBILITY TESTS")
    # The CSP would block axe's injected script: this context bypasses it (the flow above runs under the real one).
    context = browser.new_context(**browser_context_args, viewport=AXE_VIEWPORTS[viewport], bypass_csp=True)
    try:
        page = context.new_page()
        login(page, MANAGER)
        for query in ("", "?period=12w&grain=week"):
            page.goto(f"/stores/{STORE}/reports{query}")
            expect(page.locator("svg#chart-received")).to_be_visible()
            expect(page.locator("#table-orders tbody tr").first).to_be_visible()
            violations = axe_violations(page)
            assert not violations, f"axe found on the KPI page{query} ({viewport}):\n{describe_violations(violations)}"
        shot(page, f"store-kpis-axe-{viewport}")
    finally:
        context.close()
