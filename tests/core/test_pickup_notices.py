"""What the click & collect customer is told (issue 12, step 3): the ready e-mail over real SMTP (aiosmtpd) with a
text and an HTML part and the pickup code as an inline QR image that decodes (zxing-cpp) to the code, the hold
deadline on the store's clock in the customer's language, the reminder and the receipt; text messages through the
SMS test double; the worker's pass expiring holds and reminding customers."""

import io
from datetime import UTC, datetime, timedelta
from email.header import decode_header, make_header

import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select

from app.core.floor import pickups
from app.core.integration import mail, notices, sms, worker
from app.core.models import FulfilmentStatus as S
from app.core.models import OutboundEmail, OutboundSms
from app.core.ordering import orders
from app.extensions import db
from tests.core.test_mail import smtp  # noqa: F401 (fixture: an SMTP server on 127.0.0.1)
from tests.factories import ACTOR, collect_draft, make_location, make_product, stocked

READY_AT = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)  # Tuesday; the hold ends 7 days later at 23:59 Paris time
PUBLIC_URL = "https://comptoir.example.test"
HOURS = {"mon": [], "tue": [["09:00", "12:30"], ["14:00", "19:00"]], "sun": []}
for _day in ("wed", "thu", "fri", "sat"):
    HOURS[_day] = [["09:00", "12:30"], ["14:00", "19:00"]]


@pytest.fixture(autouse=True)
def settings(app):
    app.config.update(PUBLIC_URL=PUBLIC_URL, SMS_SENDER="test")
    sms.TestSender.reset()
    yield
    sms.TestSender.reset()


def paris_store(**settings):
    settings.setdefault("name", "Comptoir Rivoli")
    return make_location(
        address_line1="12 rue de Rivoli",
        postcode="75004",
        city="Paris",
        timezone="Europe/Paris",
        opening_hours=HOURS,
        **settings,
    )


def picked(store=None, *, language="it", email="giulia@example.it", phone="+39 333 123 4567", quantities=(2, 1)):
    store = store or paris_store()
    products = [make_product(name=f"Maglione {i}", names={"it": f"Maglione {i}", "fr": f"Pull {i}"}) for i in (1, 2)]
    for product in products:
        stocked(store, product, 5)
    draft = collect_draft(store, *zip(products, quantities, strict=True))
    draft.customer_email, draft.customer_language, draft.customer_phone = email, language, phone
    order, _ = orders.create_order(draft, actor=ACTOR)
    fulfilment = orders.assign_fulfilment(order, store, {line: line.quantity for line in order.lines}, actor=ACTOR)
    for target in (S.ACCEPTED, S.PICKING, S.PICKED):
        orders.transition(fulfilment, target, actor=ACTOR)
    return fulfilment, products


def ready(store=None, **kwargs):
    fulfilment, products = picked(store, **kwargs)
    (slot,) = pickups.add_slots(fulfilment.location, ["A-01"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR, now=READY_AT)
    db.session.commit()
    return fulfilment, products


def parts(message) -> dict:
    """{content type: part} of a received message (the last of a type wins)."""
    return {part.get_content_type(): part for part in message.walk()}


def subject(message) -> str:
    """The Subject as the reader sees it (the received message keeps it encoded, RFC 2047)."""
    return str(make_header(decode_header(message["Subject"])))


def text_of(part) -> str:
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def decode_qr(png: bytes) -> list[str]:
    return [result.text for result in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


def send_over_smtp(app, smtp_fixture) -> list:
    controller, inbox = smtp_fixture
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port, SMTP_FROM="Comptoir <shop@example.test>")
    mail.send_pending()
    return inbox.messages


def test_the_ready_email_has_text_html_and_an_inline_qr_that_decodes_to_the_code(app, smtp):  # noqa: F811
    fulfilment, _products = ready()
    pickup, order = fulfilment.pickup, fulfilment.order
    (message,) = send_over_smtp(app, smtp)

    assert message["To"] == "giulia@example.it"
    assert message["Content-Language"] == "it"
    assert subject(message) == f"Il tuo ordine {order.reference} è pronto per il ritiro"
    assert message.get_content_type() == "multipart/alternative"
    found = parts(message)
    assert set(found) >= {"text/plain", "text/html", "multipart/related", "image/png"}
    # the text part: the code as printed, the deadline on the store's clock in Italian, what to bring, the store
    text = text_of(found["text/plain"])
    code = pickups.format_code(pickup.code)
    assert f"Il tuo codice di ritiro: {code}" in text
    assert "martedì 8 dicembre 2026 alle 23:59" in text and "22:59" not in text  # Paris, not UTC
    assert "documento d’identità" in text
    assert "Comptoir Rivoli" in text and "12 rue de Rivoli" in text and "75004 Paris" in text
    assert "lunedì: chiuso" in text and "martedì–sabato: 09:00–12:30, 14:00–19:00" in text
    im_here = notices.im_here_url(pickup)
    assert im_here.startswith(PUBLIC_URL + "/pickup/") and im_here in text
    # the HTML part shows the same, and the QR by its Content-ID: nothing fetched from anywhere
    html = text_of(found["text/html"])
    assert code in html and "martedì 8 dicembre 2026 alle 23:59" in html and f'href="{im_here}"' in html
    assert f'src="cid:{notices.QR_CID}"' in html and 'src="http' not in html
    assert 'lang="it"' in html
    image = found["image/png"]
    assert image["Content-ID"] == f"<{notices.QR_CID}>"
    assert image.get_content_disposition() == "inline"
    assert decode_qr(image.get_payload(decode=True)) == [pickup.code]
    # the text comes first (the alternative a reader without HTML sees), the HTML and its image together
    assert [p.get_content_type() for p in message.get_payload()] == ["text/plain", "multipart/related"]


def test_a_french_customer_of_the_same_store_reads_french(app, smtp):  # noqa: F811
    fulfilment, _products = ready(language="fr-FR", email="lea@example.fr")
    (message,) = send_over_smtp(app, smtp)
    assert message["Content-Language"] == "fr"
    text = text_of(parts(message)["text/plain"])
    assert "mardi 8 décembre 2026 à 23:59" in text
    assert f"Votre code de retrait : {pickups.format_code(fulfilment.pickup.code)}" in text


def test_the_deadline_is_the_stores_even_far_from_paris(app):
    store = paris_store(name="Comptoir Montréal")
    store.timezone = "America/Toronto"
    fulfilment, _products = ready(store, language="en")
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "pickup_ready"))
    # ready at 12:00 in Toronto on 1 December: the hold ends on 8 December at 23:59 there (04:59 UTC on the 9th)
    assert fulfilment.pickup.expires_at == datetime(2026, 12, 9, 4, 59, tzinfo=UTC)
    assert "Tuesday, December 8, 2026 at 11:59" in email.body and "PM" in email.body


def test_without_curbside_there_is_no_im_here_link(app):
    fulfilment, _products = ready(paris_store(curbside=False))
    email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "pickup_ready"))
    assert notices.im_here_url(fulfilment.pickup) is None
    assert "/pickup/" not in email.body and "/pickup/" not in email.html


def test_a_text_message_goes_with_the_ready_email_through_the_sms_sender(app):
    fulfilment, _products = ready()
    pickup = fulfilment.pickup
    (row,) = db.session.scalars(select(OutboundSms)).all()
    assert (row.kind, row.to, row.status) == ("pickup_ready", "+393331234567", "pending")
    assert sms.send_pending() == 1
    assert sms.send_pending() == 0
    (sent,) = sms.TestSender.sent
    assert sent.to == "+393331234567"
    assert pickups.format_code(pickup.code) in sent.body and "martedì 8 dicembre 2026 alle 23:59" in sent.body
    assert notices.im_here_url(pickup) in sent.body and sent.body.startswith("Il tuo ordine")
    db.session.expire_all()
    assert (row.status, row.attempts, row.sent_at is not None) == ("sent", 1, True)


def test_no_phone_no_text_message_and_no_email_address_no_email(app):
    ready(phone="")
    assert db.session.scalar(select(OutboundSms)) is None
    ready(email="")
    kinds = db.session.scalars(select(OutboundSms.kind)).all()
    assert kinds == ["pickup_ready"]
    assert len(db.session.scalars(select(OutboundEmail)).all()) == 1


def test_a_failing_sms_provider_is_retried_then_failed_and_a_refused_number_fails_at_once(app):
    ready()
    row = db.session.scalar(select(OutboundSms))
    sms.TestSender.failure = sms.SmsError("provider down")
    for _ in range(sms.MAX_ATTEMPTS - 1):
        assert sms.send_pending() == 0
        db.session.expire_all()
        assert row.status == "pending"
    sms.send_pending()
    db.session.expire_all()
    assert (row.status, row.attempts, row.last_error) == ("failed", sms.MAX_ATTEMPTS, "SmsError: provider down")
    ready()
    sms.TestSender.failure = sms.SmsError("not a mobile number", permanent=True)
    assert sms.send_pending() == 0
    second = db.session.scalars(select(OutboundSms).order_by(OutboundSms.id)).all()[-1]
    assert (second.status, second.attempts) == ("failed", 1)
    assert sms.TestSender.sent == []


def test_the_log_sender_records_without_the_text_and_none_keeps_them_pending(app, caplog):
    ready()
    app.config.update(SMS_SENDER="none")
    assert sms.send_pending() == 0
    app.config.update(SMS_SENDER="log")
    with caplog.at_level("INFO", logger="app.core.integration.sms"):
        assert sms.send_pending() == 1
    assert "…567" in caplog.text and "+39" not in caplog.text
    code = db.session.scalar(select(OutboundSms.body))
    assert code not in caplog.text


def test_the_worker_pass_reminds_then_expires_and_sends_what_it_wrote(app, smtp):  # noqa: F811
    controller, inbox = smtp
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    fulfilment, _products = ready()
    pickup = fulfilment.pickup
    expires = pickup.expires_at
    first = worker.run_once(now=expires - timedelta(hours=30))  # the ready e-mail and text go
    assert (first["reminded"], first["pickups_expired"], first["emailed"], first["texted"]) == (0, 0, 1, 1)
    second = worker.run_once(now=expires - timedelta(hours=23))  # within the store's 24 hours: reminded
    assert (second["reminded"], second["emailed"], second["texted"], second["errors"]) == (1, 1, 1, 0)
    reminder = inbox.messages[-1]
    assert subject(reminder) == f"Promemoria: il tuo ordine {fulfilment.order.reference} ti aspetta"
    found = parts(reminder)
    assert "martedì 8 dicembre 2026 alle 23:59" in text_of(found["text/plain"])
    assert decode_qr(found["image/png"].get_payload(decode=True)) == [pickup.code]
    assert sms.TestSender.sent[-1].body.startswith("Promemoria")
    third = worker.run_once(now=expires + timedelta(minutes=1))  # the hold ran out
    assert (third["pickups_expired"], third["reminded"]) == (1, 0)
    db.session.expire_all()
    assert fulfilment.status == S.EXPIRED and pickup.put_back


def test_one_failing_pickup_job_does_not_stop_the_others(app, monkeypatch):
    ready()

    def broken(**kwargs):
        raise RuntimeError("expiry broke")

    monkeypatch.setattr(pickups, "expire_due", broken)
    result = worker.run_once(now=READY_AT + timedelta(hours=1))
    assert result["errors"] == 1 and result["texted"] == 1


def test_the_receipt_lists_what_was_collected_and_what_stayed_in_store_time(app, smtp):  # noqa: F811
    fulfilment, products = ready(paris_store(pickup_bag_scan=False))
    collected_at = datetime(2026, 12, 3, 9, 30, tzinfo=UTC)
    pickups.collect(
        fulfilment,
        actor=ACTOR,
        pickup_code=fulfilment.pickup.code,
        lines=[{"sku": products[0].sku, "quantity": 1}, {"sku": products[1].sku, "quantity": 1}],
        reason="too_small",
        now=collected_at,
    )
    db.session.commit()
    messages = send_over_smtp(app, smtp)
    receipt = messages[-1]
    assert subject(receipt) == f"Ricevuta del tuo ordine {fulfilment.order.reference}"
    assert receipt["Content-Language"] == "it"
    text = text_of(parts(receipt)["text/plain"])
    assert "giovedì 3 dicembre 2026 alle 10:30" in text and "Comptoir Rivoli" in text  # 09:30 UTC is 10:30 in Paris
    collected, _, left = text.partition("Lasciato in negozio")
    assert "1 × Maglione 1" in collected and "1 × Maglione 2" in collected
    assert "1 × Maglione 1 (troppo piccolo)" in left and "Maglione 2" not in left
    html = text_of(parts(receipt)["text/html"])
    assert "Maglione 1 (troppo piccolo)" in html and "image/png" not in parts(receipt)


def test_the_email_html_escapes_what_the_customer_wrote(app):
    ready(language="en")
    order_email = db.session.scalar(select(OutboundEmail).where(OutboundEmail.kind == "pickup_ready"))
    assert "Giulia Rossi" in order_email.html
    fulfilment, _products = picked(language="en")
    fulfilment.order.customer_name = "<b>Eve</b>"
    (slot,) = pickups.slots(fulfilment.location) or pickups.add_slots(fulfilment.location, ["B"], actor=ACTOR)
    pickups.stage(fulfilment, slot, actor=ACTOR, now=READY_AT)
    html = db.session.scalars(select(OutboundEmail.html).order_by(OutboundEmail.id)).all()[-1]
    assert "<b>Eve</b>" not in html and "&lt;b&gt;Eve&lt;/b&gt;" in html


class Provider:
    """A provider's sender as SMS_SENDER=package.module:factory names it."""

    given: list = []

    def __init__(self, config):
        self.config = config

    def send(self, to, body):
        Provider.given.append((to, body, self.config["PUBLIC_URL"]))


def test_a_providers_sender_is_named_by_its_module_and_factory(app):
    ready()
    app.config.update(SMS_SENDER="tests.core.test_pickup_notices:Provider")
    Provider.given.clear()
    assert sms.send_pending() == 1
    ((to, body, public_url),) = Provider.given
    assert (to, public_url) == ("+393331234567", PUBLIC_URL) and body.startswith("Il tuo ordine")
