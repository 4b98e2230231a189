"""Configuration: every setting comes from a ``TAWASUL_*`` environment variable with an embedded default.

The defaults run the whole hub on one machine with no external server (SQLite under ``var/`` and an
embedded Celery broker on SQLite). Production points ``TAWASUL_DATABASE_URL`` at PostgreSQL and
``TAWASUL_BROKER_URL`` at Redis or RabbitMQ. A channel is enabled when its credentials are set.
Invalid settings fail at start with one line that names the variable (see ``load_settings``).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent
PREFIX = "TAWASUL_"


class ConfigError(Exception):
    """A setting is invalid; the message is one line naming the environment variable."""


class Settings(BaseSettings):
    """All runtime settings. Field ``x`` is read from ``TAWASUL_X``."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore", validate_default=True)

    # --- where things live -------------------------------------------------------------------
    var_dir: Path = Path("var")
    data_dir: Path = REPO_ROOT / "data"
    database_url: str = ""  # default: sqlite file under var_dir
    broker_url: str = ""  # default: embedded SQLite broker under var_dir

    # --- web ----------------------------------------------------------------------------------
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    cookie_secure: bool = True  # browsers also send Secure cookies to http://localhost and 127.0.0.1

    # --- queue and durability ------------------------------------------------------------------
    embedded_worker: bool = True  # `tawasul serve` starts a worker (and beat) beside the web app
    worker_concurrency: int = Field(2, ge=1, le=64)
    sweep_interval_s: float = Field(10.0, gt=0)
    sla_sweep_interval_s: float = Field(60.0, gt=0)  # escalation on breach is "correct to the minute"
    handback_idle_minutes: float = Field(120.0, gt=0)  # a coordinator silent this long gives the chat back to the bot
    urgent_alert_url: str | None = None  # optional: POST (signed) each urgent ticket to an e-mail/SMS gateway
    urgent_alert_secret: SecretStr | None = None  # HMAC key for those POSTs
    inbox_stale_after_s: float = Field(30.0, gt=0)  # pending inbox rows older than this are re-enqueued
    outbox_lease_s: float = Field(60.0, gt=0)  # a send that has not finished after this is retried
    outbox_max_attempts: int = Field(8, ge=1, le=100)
    outbox_backoff_base_s: float = Field(2.0, gt=0)
    outbox_backoff_max_s: float = Field(900.0, gt=0)
    intake_max_attempts: int = Field(5, ge=1, le=100)
    enqueue_batch_size: int = Field(20, ge=1, le=1000)
    enqueue_linger_ms: float = Field(10.0, ge=0, le=1000)  # how long a batch waits to fill (hub/web/enqueuer.py)
    queue_prefix: str = Field("tawasul", pattern=r"^[a-z][a-z0-9_-]{0,40}$")  # lets sites share one broker

    # --- service promise -----------------------------------------------------------------------
    timezone: str = "Asia/Riyadh"
    sla_working_days: int = Field(5, ge=1, le=60)

    # --- NLU ------------------------------------------------------------------------------------
    nlu_backend: Literal["builtin", "rasa"] = "builtin"
    rasa_url: str | None = None
    rasa_timeout_s: float = Field(2.0, gt=0)
    nlu_model_path: Path | None = None  # default: var_dir/models/nlu.joblib
    nlu_threshold: float | None = Field(None, ge=0, le=1)
    langid_backend: Literal["lingua", "langdetect"] = "lingua"

    # --- channels (a channel is enabled when its credentials are set) -------------------------
    telegram_secret_token: SecretStr | None = None
    telegram_bot_token: SecretStr | None = None
    telegram_api_base: str = "https://api.telegram.org/bot"
    telegram_rate_per_s: float = Field(25.0, gt=0)

    portal_secret: SecretStr | None = None
    portal_callback_url: str | None = None
    portal_max_clock_skew_s: float = Field(86400.0, gt=0)
    portal_rate_per_s: float = Field(50.0, gt=0)

    # Meta family: Facebook Messenger, Instagram, WhatsApp (one app secret and verify token)
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    meta_api_base: str = "https://graph.facebook.com/v25.0"
    facebook_page_token: SecretStr | None = None
    instagram_token: SecretStr | None = None
    whatsapp_token: SecretStr | None = None
    whatsapp_phone_number_id: str | None = None
    facebook_rate_per_s: float = Field(40.0, gt=0)
    instagram_rate_per_s: float = Field(20.0, gt=0)
    whatsapp_rate_per_s: float = Field(40.0, gt=0)

    # X (Twitter): Account Activity / X Activity webhooks, DMs and mentions
    twitter_consumer_key: SecretStr | None = None
    twitter_consumer_secret: SecretStr | None = None
    twitter_access_token: SecretStr | None = None
    twitter_access_secret: SecretStr | None = None
    twitter_user_id: str | None = None
    twitter_api_base: str = "https://api.twitter.com"
    twitter_rate_per_s: float = Field(1.0, gt=0)

    # Bot Framework (Skype, Microsoft Teams, Web Chat)
    botframework_app_id: str | None = None
    botframework_app_password: SecretStr | None = None
    botframework_openid_url: str = "https://login.botframework.com/v1/.well-known/openidconfiguration"
    botframework_token_url: str = "https://login.microsoftonline.com/botframework.com/oauth2/v2.0/token"
    botframework_rate_per_s: float = Field(10.0, gt=0)

    # Snapchat: assisted channel (coordinators send by hand) plus a signed relay webhook
    snapchat_relay_secret: SecretStr | None = None
    snapchat_enabled: bool = False  # the assisted channel needs no credentials; switch it on here

    @field_validator("database_url", "broker_url", "rasa_url", "portal_callback_url", "telegram_api_base")
    @classmethod
    def _strip(cls, value: str | None) -> str | None:
        return value.strip() if isinstance(value, str) else value

    @field_validator("telegram_secret_token")
    @classmethod
    def _telegram_secret_charset(cls, value: SecretStr | None) -> SecretStr | None:
        # Telegram only accepts 1-256 characters of A-Z a-z 0-9 _ - for setWebhook's secret_token.
        if value is not None:
            raw = value.get_secret_value()
            if not (1 <= len(raw) <= 256) or not all(c.isascii() and (c.isalnum() or c in "_-") for c in raw):
                raise ValueError("must be 1-256 characters of A-Z a-z 0-9 _ - (Telegram's rule)")
        return value

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        # Absolute, so the worker and beat child processes agree with the web process.
        self.var_dir = self.var_dir.expanduser().resolve()
        if not self.database_url:
            self.database_url = f"sqlite:///{self.var_dir / 'tawasul.db'}"
        if not self.broker_url:
            self.broker_url = f"sqla+sqlite:///{self.var_dir / 'broker.sqlite'}"
        if not self.database_url.startswith(("sqlite", "postgresql")):
            raise ValueError(f"TAWASUL_DATABASE_URL: expected sqlite:/// or postgresql://, got {self.database_url!r}")
        if not self.broker_url.startswith(("sqla+", "redis://", "rediss://", "amqp://", "pyamqp://", "memory://")):
            raise ValueError(
                f"TAWASUL_BROKER_URL: expected sqla+sqlite://, redis:// or amqp://, got {self.broker_url!r}"
            )
        if self.nlu_backend == "rasa" and not self.rasa_url:
            raise ValueError("TAWASUL_NLU_BACKEND: 'rasa' needs TAWASUL_RASA_URL")
        if self.nlu_model_path is None:
            self.nlu_model_path = self.var_dir / "models" / "nlu.joblib"
        return self

    # --- derived ---------------------------------------------------------------------------------
    @property
    def database_is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def broker_is_embedded(self) -> bool:
        return self.broker_url.startswith("sqla+")


def _one_line(exc: ValidationError) -> str:
    first = exc.errors()[0]
    loc = [str(p) for p in first.get("loc", ())]
    message = first.get("msg", "invalid").removeprefix("Value error, ")
    more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
    if not loc:  # a cross-field check; its message starts with the variable's name
        return f"invalid setting {message}{more}"
    value = first.get("input")
    secret = any(w in loc[0] for w in ("secret", "token", "password"))
    shown = "" if secret or isinstance(value, dict) else f"={value!r}"  # never echo a secret back
    return f"invalid setting {PREFIX}{loc[0].upper()}{shown}: {message}{more}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise ``ConfigError`` with one clear line if invalid."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(_one_line(exc)) from None


@functools.lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Process-wide settings, read once."""
    return load_settings()


def environment_snapshot() -> dict[str, str]:
    """The ``TAWASUL_*`` variables of this process (for passing to child processes)."""
    return {k: v for k, v in os.environ.items() if k.startswith(PREFIX)}
