"""A store associate signs in, works in three languages, and scans with a keyboard-wedge scanner."""

import re
from functools import cache

import pytest
from babel.messages.pofile import read_po
from playwright.sync_api import expect

from tests.e2e.conftest import ASSOCIATE, ROOT, STORE, login, wedge

pytestmark = pytest.mark.e2e


@cache
def _catalog(language: str):
    with open(ROOT / "app" / "translations" / language / "LC_MESSAGES" / "messages.po", "rb") as fh:
        return read_po(fh, locale=language)


def tr(language: str, msgid: str) -> str:
    """The translation the server uses (the .po it compiled at start-up)."""
    if language == "en":
        return msgid
    message = _catalog(language).get(msgid)
    if message is None or not message.string:
        pytest.fail(f"{msgid!r} has no {language} translation in messages.po", pytrace=False)
    return message.string


def _created_references(query) -> set[str]:
    rows = query(
        "SELECT o.channel, o.external_ref FROM fulfilment f JOIN customer_order o ON o.id = f.order_id "
        "JOIN location l ON l.id = f.location_id WHERE l.code = :store AND f.status = 'created'",
        store=STORE,
    )
    return {f"{channel.upper()}-{ref}" for channel, ref in rows}


def test_associate_signs_in_and_switches_language(page, query, shot):
    page.goto("/login")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    shot(page, "login")
    login(page, ASSOCIATE)

    expect(page).to_have_url(re.compile(rf"/stores/{STORE}/queue"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_contain_text("Queue")
    expect(heading).to_contain_text("Paris")
    expected = _created_references(query)
    assert expected, "the demo should leave orders to accept at PAR01"
    shown = page.locator("#work .ref").all_inner_texts()
    assert shown, "the work list is empty"
    assert set(shown) <= expected, f"unexpected references on the 'To accept' tab: {set(shown) - expected}"
    assert len(shown) == min(len(expected), 200)
    shot(page, "queue-en")

    for language in ("fr", "it", "en"):
        page.get_by_role("button", name=language.upper(), exact=True).click()
        expect(page.locator("html")).to_have_attribute("lang", language)
        expect(page.get_by_role("button", name=language.upper(), exact=True)).to_have_attribute("aria-pressed", "true")
        expect(heading).to_contain_text(tr(language, "Queue"))
        tabs = page.get_by_role("navigation", name=tr(language, "Work by step"))
        expect(tabs.get_by_role("link", name=tr(language, "To accept"))).to_have_attribute("aria-current", "page")
        expect(tabs.get_by_role("link", name=tr(language, "To pick"))).to_be_visible()
        expect(page.get_by_role("button", name=tr(language, "Sign out"))).to_be_visible()
        expect(page).to_have_url(re.compile(rf"/stores/{STORE}/queue"))
        # The work list itself is unchanged by the language.
        assert set(page.locator("#work .ref").all_inner_texts()) == set(shown)
        shot(page, f"queue-{language}")


def test_keyboard_wedge_scan_on_the_queue(browser, browser_context_args, auth_states, query, shot):
    context = browser.new_context(**browser_context_args, storage_state=auth_states(ASSOCIATE))
    page = context.new_page()
    try:
        gtin, name = query(
            "SELECT p.gtin, p.name FROM product p JOIN stock_level s ON s.product_id = p.id "
            "JOIN location l ON l.id = s.location_id WHERE l.code = :store AND p.gtin IS NOT NULL "
            "ORDER BY p.id LIMIT 1",
            store=STORE,
        )[0]
        unknown = "2000000000008"
        assert not query("SELECT 1 FROM product WHERE gtin = :c", c=unknown)
        assert not query("SELECT 1 FROM product_barcode WHERE code = :c", c=unknown)

        page.goto(f"/stores/{STORE}/queue")
        expect(page.locator("#work")).to_be_visible()
        result = page.locator("#scan-result")

        def scan(code: str) -> None:
            wedge(page, code)
            assert page.evaluate("() => document.activeElement === document.body")

        scan(gtin)
        expect(result).to_contain_text(name)
        expect(result.locator(".scan-ok")).to_be_visible()
        page.wait_for_function("() => document.body.dataset.lastScan === 'ok'")
        expect(page.locator("#scan-input")).to_have_value("")
        expect(page).to_have_url(re.compile(rf"/stores/{STORE}/queue"))  # the scan did not navigate away
        shot(page, "scan-ok")

        scan(unknown)
        expect(result.locator(".scan-error")).to_contain_text(unknown)  # "Unknown code: …" in the user's language
        expect(result).not_to_contain_text(name)
        page.wait_for_function("() => document.body.dataset.lastScan === 'error'")
        expect(page.locator("#toasts .toast.error")).to_contain_text(unknown)
        shot(page, "scan-error")
    finally:
        context.close()
