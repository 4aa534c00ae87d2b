"""Counts meet nouns through ngettext, money and numbers are written the reader's way (issue 10, defect 8)."""

import re
from decimal import Decimal
from html import unescape
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from flask_babel import force_locale, ngettext

from app.core.floor import carriers
from app.extensions import db
from app.formatting import money, number
from tests.conftest import login
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import PASSWORD, make_user

ROOT = Path(__file__).resolve().parents[2]

PRINTED = ("printed %(num)d time", "printed %(num)d times")
WORKING_DAYS = ("%(num)s working day", "%(num)s working days")
READY = ("%(num)d parcel ready to hand over.", "%(num)d parcels ready to hand over.")
OPEN = ("%(num)d open", "%(num)d open")


@pytest.mark.parametrize(
    ("message", "language", "one", "two"),
    [
        (PRINTED, "en", "printed 1 time", "printed 2 times"),
        (PRINTED, "fr", "imprimée 1 fois", "imprimée 2 fois"),
        (PRINTED, "it", "stampata 1 volta", "stampata 2 volte"),
        (WORKING_DAYS, "en", "1 working day", "2 working days"),
        (WORKING_DAYS, "fr", "1 jour ouvré", "2 jours ouvrés"),
        (WORKING_DAYS, "it", "1 giorno lavorativo", "2 giorni lavorativi"),
        (READY, "en", "1 parcel ready to hand over.", "2 parcels ready to hand over."),
        (READY, "fr", "1 colis prêt à remettre.", "2 colis prêts à remettre."),
        (READY, "it", "1 collo pronto da consegnare.", "2 colli pronti da consegnare."),
        (OPEN, "it", "1 aperto", "2 aperti"),
    ],
)
def test_plural_forms_for_one_and_two(app, message, language, one, two):
    with app.test_request_context(), force_locale(language):
        assert ngettext(*message, 1) == one
        assert ngettext(*message, 2) == two


@pytest.mark.parametrize(("language", "rule"), [("fr", "(n > 1)"), ("it", "(n != 1)")])
def test_the_catalogues_know_their_plural_rule(language, rule):
    """French says "0 colis prêt" (singular for 0 and 1), Italian "0 colli pronti"."""
    with (ROOT / f"app/translations/{language}/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    assert catalog.plural_expr == rule and catalog.num_plurals == 2


# A count meets a plural noun only in a plural entry; these limits are constants of 8 and more, never 1.
CONSTANT_LIMITS = {
    "The password must have at least %(n)s characters.",
    "Required, at most %(n)s characters.",
    "At most %(n)s labels at a time.",
    "At most %(n)s characters.",
    "A channel name has 1 to %(n)s characters.",
    "A hold ends at most %(days)s days from now.",  # pickups.MAX_HOLD_DAYS (60)
}
COUNT_NOUN = re.compile(
    r"%\(\w+\)[sd] (units|parcels|labels|orders|items|days|times|characters|lines|products|boxes|totes)\b"
)


def test_no_message_puts_a_count_before_a_plural_noun_without_ngettext():
    with (ROOT / "app/translations/fr/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    singular_only = [m.id for m in catalog if isinstance(m.id, str) and m.id and COUNT_NOUN.search(m.id)]
    assert sorted(set(singular_only) - CONSTANT_LIMITS) == []


@pytest.mark.parametrize(
    ("language", "amount", "expected"),
    [
        ("en", "4.90", "€4.90"),
        ("fr", "4.90", "4,90\xa0€"),
        ("it", "4.90", "4,90\xa0€"),
        ("fr", "1250.5", "1\u202f250,50\xa0€"),
    ],
)
def test_money_is_written_the_readers_way(app, language, amount, expected):
    with app.test_request_context(), force_locale(language):
        assert money(Decimal(amount)) == expected
        assert money(None) == ""


@pytest.mark.parametrize(("language", "expected"), [("en", "1,234.5"), ("fr", "1\u202f234,5"), ("it", "1.234,5")])
def test_numbers_are_written_the_readers_way(app, language, expected):
    with app.test_request_context(), force_locale(language):
        assert number(1234.5) == expected


def _text(response) -> str:
    assert response.status_code == 200
    return " ".join(unescape(response.get_data(as_text=True)).split())


def test_the_carriers_screen_shows_prices_in_french(client):
    carriers.ensure_builtin_carriers()
    admin = make_user(role="admin", language="fr")
    db.session.commit()
    login(client, admin.email, PASSWORD)
    text = _text(client.get("/admin/carriers"))
    assert "4,90 €" in text and "2 jours ouvrés" in text and "1 jour ouvré" in text
    assert "4.90 EUR" not in text  # "EUR" is left only in the price field's label, "Prix (EUR)"


def test_the_pack_screen_counts_prints_and_prices_in_the_readers_language(client):
    fulfilment = finished(picked_fulfilment(1))
    label = fulfilment.parcels[0].label
    label.print_count = 1
    user = make_user(stores=[fulfilment.location], language="it")
    db.session.commit()
    login(client, user.email, PASSWORD)
    url = f"/stores/{fulfilment.location.code}/fulfilments/{fulfilment.id}/pack"
    assert "stampata 1 volta" in _text(client.get(url))
    label.print_count = 2
    db.session.commit()
    text = _text(client.get(url))
    assert "stampata 2 volte" in text and "1.500 g" in text  # 1500 g, Italian thousands separator


def test_the_stock_list_writes_big_counts_the_readers_way(client):
    from tests.factories import make_location, make_product, stocked

    store = make_location()
    stocked(store, make_product(), 12500)
    user = make_user(stores=[store], language="fr")
    db.session.commit()
    login(client, user.email, PASSWORD)
    html = client.get(f"/stores/{store.code}/stock").get_data(as_text=True)
    assert "12\u202f500" in html and "12500" not in html
