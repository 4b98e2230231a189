"""Helpers shared by tests (importable as ``tests.helpers``)."""

from __future__ import annotations

from pathlib import Path

from hub.config import Settings, load_settings


def make_settings(
    tmp_path: Path, database_url: str, secrets_: dict[str, str], nlu_model_path: Path, **extra: object
) -> Settings:
    values: dict[str, object] = {
        "var_dir": tmp_path / "var",
        "database_url": database_url,
        "broker_url": f"sqla+sqlite:///{tmp_path / 'broker.sqlite'}",
        "telegram_secret_token": secrets_["telegram_secret"],
        "telegram_bot_token": secrets_["telegram_token"],
        "portal_secret": secrets_["portal_secret"],
        "nlu_model_path": nlu_model_path,
        "outbox_backoff_base_s": 0.2,
        "outbox_backoff_max_s": 2.0,
    }
    values.update(extra)
    return load_settings(**values)
