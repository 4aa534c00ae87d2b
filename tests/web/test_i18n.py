from pathlib import Path

import pytest
from babel.messages.pofile import read_po

from app.extensions import db
from tests.conftest import csrf_token, login
from tests.factories import PASSWORD, make_location, make_user

ROOT = Path(__file__).resolve().parents[2]


def translated(language: str, msgid: str) -> str:
    with (ROOT / f"app/translations/{language}/LC_MESSAGES/messages.po").open("rb") as fh:
        message = read_po(fh).get(msgid)
    assert message is not None and message.string, f"{msgid!r} is not translated into {language}"
    return message.string


@pytest.mark.parametrize("language", ["fr", "it"])
def test_every_message_is_translated_with_the_same_placeholders(language):
    from babel.messages.checkers import python_format

    with (ROOT / f"app/translations/{language}/LC_MESSAGES/messages.po").open("rb") as fh:
        catalog = read_po(fh)
    missing = [m.id for m in catalog if m.id and not (all(m.string) if isinstance(m.string, tuple) else m.string)]
    assert missing == []
    for message in catalog:
        if message.id and message.python_format:
            python_format(catalog, message)  # raises TranslationError on a placeholder mismatch
    assert not [m.id for m in catalog if m.fuzzy and m.id]


@pytest.mark.parametrize("language", ["fr", "it"])
def test_the_browser_language_is_used_before_sign_in(client, language):
    page = client.get("/login", headers={"Accept-Language": f"{language},en;q=0.5"}).get_data(as_text=True)
    assert f'<html lang="{language}"' in page
    assert translated(language, "Sign in") in page


def test_the_language_switch_is_remembered_on_the_profile(client):
    store = make_location()
    user = make_user(stores=[store])
    db.session.commit()
    login(client, user.email, PASSWORD)
    token = csrf_token(client, "/")
    response = client.post("/language", data={"language": "it", "csrf_token": token, "next": "/"})
    assert response.status_code == 302
    db.session.refresh(user)
    assert user.language == "it"
    page = client.get(f"/stores/{store.code}/queue", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert translated("it", "To accept") in page


def test_an_unknown_language_changes_nothing(client):
    token = csrf_token(client)
    client.post("/language", data={"language": "xx", "csrf_token": token})
    page = client.get("/login", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert '<html lang="en"' in page
