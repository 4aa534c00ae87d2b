"""Customer documents speak the customer's language, staff documents the associate's (issue 10, defect 5).

An Italian associate works a French customer's order: the packing slip, the shipping label (alone and in a
print job) and the shipped e-mail are French; the pick list, the manifest and the screens stay Italian.
"""

import pytest
from flask_babel import force_locale, gettext
from sqlalchemy import select

from app.core.floor import dispatch, printing
from app.core.integration import mail
from app.core.models import OutboundEmail
from app.extensions import db
from app.formatting import customer_language, customer_locale
from tests.conftest import csrf_token, login
from tests.core.test_mail import smtp  # noqa: F401 (fixture: an SMTP server on 127.0.0.1)
from tests.core.test_packing import finished, picked_fulfilment
from tests.factories import ACTOR, PASSWORD, make_user
from tests.web.test_store_time import pdf_text, pick_list_at


def words(language: str, msgid: str) -> str:
    """msgid in the language, its spaces as pdf_text gives them."""
    with force_locale(language):
        return " ".join(gettext(msgid).split())


@pytest.fixture
def italian_associate_french_customer(client):
    fulfilment = finished(picked_fulfilment(1, customer_language="fr"))
    store = fulfilment.location
    user = make_user(stores=[store], language="it")
    pick_list = pick_list_at(store, user)
    label = fulfilment.parcels[0].label
    manifest = dispatch.open_manifest(store, label.carrier, actor=ACTOR)
    job = printing.start_print_job(store, [label.id], user)
    db.session.commit()
    login(client, user.email, PASSWORD)
    return {"store": store, "fulfilment": fulfilment, "pick": pick_list, "manifest": manifest, "job": job}


@pytest.mark.parametrize("size", ["a4", "4x6"])
def test_the_packing_slip_is_in_the_customers_language(client, italian_associate_french_customer, size):
    floor = italian_associate_french_customer
    url = f"/stores/{floor['store'].code}/fulfilments/{floor['fulfilment'].id}/packing-slip.pdf?size={size}"
    text = pdf_text(client.get(url).data)
    assert "Bon de livraison" in text and words("fr", "Thank you for your order!") in text
    assert "Bolla di consegna" not in text and "Packing slip" not in text
    assert "1 colis" in text  # the parcel count too


def test_the_shipping_label_alone_and_in_a_print_job_is_in_the_customers_language(
    client, italian_associate_french_customer
):
    floor = italian_associate_french_customer
    code, parcel = floor["store"].code, floor["fulfilment"].parcels[0]
    destinataire = words("fr", "To").upper()
    text = pdf_text(client.get(f"/stores/{code}/parcels/{parcel.id}/label.pdf").data)
    assert destinataire in text and "Colis 1 sur 1" in text and words("it", "To").upper() not in text
    token = csrf_token(client, f"/stores/{code}/dispatch")
    job_url = f"/stores/{code}/print-jobs/{floor['job'].id}"
    step = client.post(f"{job_url}/step", data={"csrf_token": token})
    assert step.status_code == 200 and words("it", "Open the labels (PDF)") in step.get_data(
        as_text=True
    )  # the screen: Italian
    assert destinataire in pdf_text(client.get(f"{job_url}.pdf").data)


def test_staff_documents_stay_in_the_associates_language(client, italian_associate_french_customer):
    floor = italian_associate_french_customer
    code = floor["store"].code
    pick = pdf_text(client.get(f"/stores/{code}/picks/{floor['pick'].id}/pick-list.pdf").data)
    assert "Lista di prelievo" in pick and words("it", "Confirm") in pick and "Pick list" not in pick
    manifest = pdf_text(client.get(f"/stores/{code}/manifests/{floor['manifest'].id}.pdf").data)
    assert "Distinta corriere" in manifest and "Manifeste" not in manifest


def test_the_shipped_email_is_in_the_customers_language_and_says_so(app, smtp, italian_associate_french_customer):  # noqa: F811
    controller, inbox = smtp
    app.config.update(SMTP_HOST="127.0.0.1", SMTP_PORT=controller.port)
    fulfilment = italian_associate_french_customer["fulfilment"]
    label = fulfilment.parcels[0].label
    dispatch.hand_over(fulfilment.location, label.tracking_number, "hand-lang-01", actor=ACTOR)
    db.session.commit()
    email = db.session.scalar(select(OutboundEmail))
    with force_locale("fr"):
        assert email.subject == gettext("Your order %(ref)s is on its way", ref=fulfilment.order.reference)
    assert words("fr", "Thank you for your order.") in " ".join(email.body.split())
    assert mail.send_pending() == 1
    assert inbox.messages[0]["Content-Language"] == "fr"


@pytest.mark.parametrize(
    ("given", "used"), [("fr", "fr"), ("fr-FR", "fr"), ("IT_it", "it"), ("de", "en"), ("", "en"), (None, "en")]
)
def test_the_customers_language_falls_back_to_the_default_one(app, given, used):
    order = type("Order", (), {"customer_language": given})()
    assert customer_language(order) == used
    reader = "fr" if used == "it" else "it"
    with app.test_request_context(headers={"Accept-Language": reader}):
        with customer_locale(order):
            assert gettext("Packing slip") == words(used, "Packing slip")
        assert gettext("Packing slip") == words(reader, "Packing slip")  # the reader's language after the block
