"""Every HTTP error is the app's own page in the reader's language (JSON under /api/v1), and the icon is served."""

import pytest
from flask import abort
from flask_babel import force_locale, gettext

from app.web import CLASS_MESSAGES, HTTP_MESSAGES

STATUSES = [400, 403, 404, 405, 409, 413, 414, 415, 422, 429, 431, 500, 501, 503]


@pytest.fixture
def failing(app):
    """A page that fails with any status, and one that raises; exceptions are handled as in production."""
    app.config["PROPAGATE_EXCEPTIONS"] = False
    app.add_url_rule("/_fail/<int:status>", "fail", lambda status: abort(status))
    app.add_url_rule("/api/v1/_fail/<int:status>", "api_fail", lambda status: abort(status))

    def boom():
        raise RuntimeError("a bug")

    app.add_url_rule("/_boom", "boom", boom)
    return app


def _message(status: int, language: str) -> str:
    with force_locale(language):
        return gettext(HTTP_MESSAGES.get(status) or CLASS_MESSAGES[status // 100])


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("language", ["en", "fr", "it"])
def test_every_error_status_is_the_apps_translated_page(client, failing, status, language):
    response = client.get(f"/_fail/{status}", headers={"Accept-Language": language})
    assert response.status_code == status
    assert response.content_type.startswith("text/html")
    assert 'class="card error-card"' in response.text
    assert _message(status, language).replace("'", "&#39;") in response.text
    assert f'<html lang="{language}"' in response.text
    if language != "en" and status in HTTP_MESSAGES:
        assert _message(status, "en") not in response.text


def test_a_crash_is_the_apps_500_page(client, failing):
    response = client.get("/_boom", headers={"Accept-Language": "fr"})
    assert response.status_code == 500
    assert _message(500, "fr").replace("'", "&#39;") in response.text


@pytest.mark.parametrize("status", [404, 405, 414, 431, 501])
def test_the_api_keeps_answering_json(client, failing, status):
    response = client.get(f"/api/v1/_fail/{status}")
    assert response.status_code == status
    assert response.is_json and "error" in response.json


def test_a_wrong_method_on_a_page_is_the_apps_405(client):
    response = client.get("/logout", headers={"Accept-Language": "it"})
    assert response.status_code == 405
    assert _message(405, "it") in response.text


def test_the_favicon_is_served_and_linked(client):
    with client.get("/favicon.ico") as icon:
        assert icon.status_code == 200 and icon.data[:4] == b"\x00\x00\x01\x00"  # an ICO file
    page = client.get("/login").text
    assert 'rel="icon" href="/static/favicon.svg"' in page
    with client.get("/static/favicon.svg") as svg:
        assert svg.status_code == 200


def test_gunicorn_lets_a_long_search_reach_the_app():
    from pathlib import Path

    settings: dict = {}
    exec((Path(__file__).parents[2] / "gunicorn.conf.py").read_text(), settings)  # noqa: S102 - our own file
    assert settings["limit_request_line"] >= len("GET /stores/PAR01/stock?q=" + "a" * 5000 + " HTTP/1.1")
