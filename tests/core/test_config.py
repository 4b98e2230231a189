"""Settings: embedded defaults, and one clear line for every invalid value."""

from __future__ import annotations

from pathlib import Path

import pytest

from hub.config import ConfigError, load_settings


def test_embedded_defaults_need_no_environment(tmp_path: Path) -> None:
    settings = load_settings(var_dir=tmp_path)
    assert settings.database_url == f"sqlite:///{tmp_path.resolve() / 'tawasul.db'}"
    assert settings.broker_url == f"sqla+sqlite:///{tmp_path.resolve() / 'broker.sqlite'}"
    assert settings.broker_is_embedded and settings.database_is_sqlite
    assert settings.nlu_model_path == tmp_path.resolve() / "models" / "nlu.joblib"


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAWASUL_PORT", "9090")
    monkeypatch.setenv("TAWASUL_BROKER_URL", "redis://127.0.0.1:6379/0")
    settings = load_settings()
    assert settings.port == 9090 and not settings.broker_is_embedded


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("TAWASUL_PORT", "http", "invalid setting TAWASUL_PORT='http': Input should be a valid integer"),
        ("TAWASUL_PORT", "70000", "invalid setting TAWASUL_PORT='70000': Input should be less than or equal to 65535"),
        (
            "TAWASUL_DATABASE_URL",
            "mysql://db/x",
            "invalid setting TAWASUL_DATABASE_URL: expected sqlite:/// or postgresql://",
        ),
        (
            "TAWASUL_BROKER_URL",
            "kafka://x",
            "invalid setting TAWASUL_BROKER_URL: expected sqla+sqlite://, redis:// or amqp://",
        ),
        ("TAWASUL_TIMEZONE", "Mars/Olympus", "invalid setting TAWASUL_TIMEZONE='Mars/Olympus': unknown time zone"),
        ("TAWASUL_NLU_BACKEND", "rasa", "invalid setting TAWASUL_NLU_BACKEND: 'rasa' needs TAWASUL_RASA_URL"),
        ("TAWASUL_LOG_LEVEL", "LOUD", "invalid setting TAWASUL_LOG_LEVEL='LOUD'"),
    ],
)
def test_invalid_settings_fail_with_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as exc:
        load_settings()
    message = str(exc.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_a_bad_secret_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TAWASUL_TELEGRAM_SECRET_TOKEN", "has spaces and secret!")
    with pytest.raises(ConfigError) as exc:
        load_settings()
    assert "TAWASUL_TELEGRAM_SECRET_TOKEN" in str(exc.value) and "secret!" not in str(exc.value)
