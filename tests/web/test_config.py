import pytest

from app import create_app
from app.config import ConfigError


def test_production_refuses_to_start_without_a_secret_key_and_says_why(monkeypatch, tmp_path):
    monkeypatch.setenv("COMPTOIR_ENV", "production")
    monkeypatch.delenv("SECRET_KEY", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert "SECRET_KEY" in str(caught.value)
    assert "DATABASE_URL" in str(caught.value)
    assert "PUBLIC_URL must be set" in str(caught.value)


def test_production_starts_with_a_secure_configuration(monkeypatch, database_url):
    monkeypatch.setenv("COMPTOIR_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PUBLIC_URL", "https://comptoir.example.com/")
    monkeypatch.setenv("METRICS_TOKEN", "m" * 40)
    monkeypatch.setenv("GUNICORN_WORKERS", "1")  # one process: SQLite and memory:// rate limits are then safe
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["PUBLIC_URL"] == "https://comptoir.example.com"


def test_public_url_defaults_to_the_local_server_and_must_be_an_http_address(monkeypatch, tmp_path):
    from app.config import load_config

    monkeypatch.delenv("PUBLIC_URL", raising=False)
    assert load_config(str(tmp_path))["PUBLIC_URL"] == "http://127.0.0.1:8000"
    monkeypatch.setenv("PUBLIC_URL", "https://shop.example.com/comptoir/")
    assert load_config(str(tmp_path))["PUBLIC_URL"] == "https://shop.example.com/comptoir"
    for bad in (
        "comptoir.example.com",
        "ftp://comptoir.example.com",
        "https://",
        "https://user:pw@comptoir.example.com",
        "https://comptoir.example.com/?a=1",
        "https://comptoir.example.com/#x",
        "https://comptoir.example.com:port",
        "https://comptoir example.com",
        "javascript:alert(1)",
    ):
        monkeypatch.setenv("PUBLIC_URL", bad)
        with pytest.raises(ConfigError) as caught:
            load_config(str(tmp_path))
        assert "PUBLIC_URL" in str(caught.value)


@pytest.mark.parametrize(
    ("public_url", "refused"),
    [
        (None, "PUBLIC_URL must be set"),
        ("http://comptoir.example.com", "PUBLIC_URL must be the public https address"),
        ("https://127.0.0.1:8000", "PUBLIC_URL must be the public https address"),
        ("https://localhost", "PUBLIC_URL must be the public https address"),
    ],
)
def test_production_requires_a_public_https_public_url(monkeypatch, database_url, public_url, refused):
    monkeypatch.setenv("COMPTOIR_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DATABASE_URL", database_url)
    if public_url is None:
        monkeypatch.delenv("PUBLIC_URL", raising=False)
    else:
        monkeypatch.setenv("PUBLIC_URL", public_url)
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert refused in str(caught.value)


def test_sms_sender_is_checked_and_the_test_double_refused_in_production(monkeypatch, database_url, tmp_path):
    from app.config import load_config

    monkeypatch.setenv("SMS_SENDER", "carrier-pigeon")
    with pytest.raises(ConfigError):
        load_config(str(tmp_path))
    monkeypatch.setenv("SMS_SENDER", "test")
    monkeypatch.setenv("COMPTOIR_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("PUBLIC_URL", "https://comptoir.example.com")
    with pytest.raises(ConfigError) as caught:
        create_app()
    assert "SMS_SENDER" in str(caught.value)


def test_an_unknown_environment_is_refused(monkeypatch):
    monkeypatch.setenv("COMPTOIR_ENV", "staging")
    with pytest.raises(ConfigError):
        create_app()


def test_a_secret_key_is_generated_once_into_the_instance_folder(monkeypatch, tmp_path):
    from app.config import load_config

    monkeypatch.delenv("SECRET_KEY", raising=False)
    first = load_config(str(tmp_path))["SECRET_KEY"]
    second = load_config(str(tmp_path))["SECRET_KEY"]
    assert first == second
    assert len(first) >= 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
