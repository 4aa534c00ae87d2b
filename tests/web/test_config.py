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


def test_production_starts_with_a_secure_configuration(monkeypatch, database_url):
    monkeypatch.setenv("COMPTOIR_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s" * 48)
    monkeypatch.setenv("DATABASE_URL", database_url)
    app = create_app()
    assert app.config["SESSION_COOKIE_SECURE"] is True


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
